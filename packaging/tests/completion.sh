#!/bin/sh
# The bash completion of junctionctl, driven the way bash drives it (COMP_WORDS,
# COMP_CWORD), with a stand-in junctionctl that answers `list --json`.
. "$(dirname "$0")/lib.sh"
command -v bash >/dev/null || { echo "SKIP: no bash"; exit 77; }

cat >"$T/run.bash" <<'BASH'
junctionctl() { # stand-in: records its arguments, prints list-services JSON
    echo "$*" >"$T_ARGS"
    echo '{"services":[{"name":"hello","provider":{"pid":1,"uid":0,"gid":0},"sessions":0},{"name":"help.me","provider":{"pid":2,"uid":0,"gid":0},"sessions":1}]}'
}
source "$COMPLETION"
complete -p junctionctl >/dev/null || { echo "not registered"; exit 1; }
# complete <expected> <words...>: the last word is the one being completed
check() {
    local expected=$1; shift
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    _junctionctl
    local got=""
    ((${#COMPREPLY[@]})) && got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
    if [[ "$got" == "$expected" ]]; then echo "ok: ${*@Q} -> $got"; else echo "FAIL: ${*@Q} -> '$got', want '$expected'"; return 1; fi
}
rc=0
check "call list rpc status " junctionctl "" || rc=1
check "list " junctionctl "--json" "l" || rc=1
check "--help --json --socket --timeout --version " junctionctl "--" || rc=1
check "--help --json --socket --timeout --update --version " junctionctl call hello "--" || rc=1
check "--json " junctionctl list "--j" || rc=1
check "hello help.me " junctionctl call "he" || rc=1
check "hello " junctionctl --socket /tmp/x.sock rpc "hell" || rc=1
grep -q -- "--socket /tmp/x.sock" "$T_ARGS" || { echo "FAIL: --socket not passed to list"; rc=1; }
check "" junctionctl call hello "" || rc=1
check "" junctionctl status "" || rc=1
exit $rc
BASH
T_ARGS=$T/args COMPLETION="$JUNCTION_SOURCE_DIR/packaging/completion/junctionctl.bash" \
    bash "$T/run.bash" && pass "completion" || fail "completion"
finish
