# bash completion for junctionctl(1)                       -*- shell-script -*-
#
# Completes global options, subcommands, --socket paths, and service names
# (from `junctionctl list --json`, asked of the socket on the command line, so
# completing never hangs longer than a short --timeout). Self-contained: needs
# no helper from the bash-completion package.

_junctionctl_services()
{
    local socket_args=()
    [[ -n $1 ]] && socket_args=(--socket "$1")
    junctionctl "${socket_args[@]}" --json --timeout 300 list 2>/dev/null |
        grep -o '"name":"[^"]*"' | cut -d'"' -f4
}

_junctionctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local global_opts="--socket --json --timeout --help --version"
    local commands="list status call rpc"

    case $prev in
        --socket)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return
            ;;
        --timeout)
            COMPREPLY=($(compgen -W "1000 5000 30000" -- "$cur"))
            return
            ;;
        --update)
            COMPREPLY=($(compgen -W "200: 301: 103:" -- "$cur"))
            compopt -o nospace 2>/dev/null
            return
            ;;
    esac

    # Find the subcommand, its position, and a --socket given before the cursor.
    local i word command="" command_at=0 socket=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            --socket) socket=${COMP_WORDS[i+1]}; ((i++)) ;;
            --socket=*) socket=${word#--socket=} ;;
            --timeout) ((i++)) ;;
            -*) ;;
            *) if [[ -z $command ]]; then command=$word; command_at=$i; fi ;;
        esac
    done

    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    if [[ $cur == -* ]]; then
        local opts="$global_opts"
        [[ $command == call ]] && opts="$opts --update"
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    # The word right after `call` or `rpc` is a service name.
    case $command in
        call | rpc)
            local args=0
            for ((i = command_at + 1; i < COMP_CWORD; i++)); do
                case ${COMP_WORDS[i]} in
                    --update | --socket | --timeout) ((i++)) ;;
                    -*) ;;
                    *) ((args++)) ;;
                esac
            done
            if ((args == 0)); then
                COMPREPLY=($(compgen -W "$(_junctionctl_services "$socket")" -- "$cur"))
            fi
            ;;
    esac
} &&
    complete -F _junctionctl junctionctl

# ex: filetype=sh
