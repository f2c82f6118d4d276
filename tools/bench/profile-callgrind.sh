#!/bin/sh
# Instructions per routed call in the hub (junctiond and the minimal relay),
# counted by valgrind's callgrind while junction-bench drives it.
#
#   tools/bench/profile-callgrind.sh [-b BENCH] [-j JUNCTIOND] [-w "seq64 xk bandwidth"]
#                                    [-H "relay junctiond"] OUTDIR
#
# -H junctiond skips the relay (its figures do not change with junctiond's code).
# For every hub and workload it writes OUTDIR/<hub>.<workload>.cg and prints:
#   - Ir in the hub's event loop (junctiond: server::impl::run_loop; relay: run_relay)
#   - calls routed (junctiond: router::on_update calls; relay: relay::route calls / 2)
#   - Ir per call, and the top functions by exclusive Ir.
# Instruction counts do not depend on the machine's load, unlike every timing.
# Only user-space instructions are counted: system calls are one instruction each.
set -eu

bench=$(dirname "$0")/../../build/tools/junction-bench
junctiond=
workloads="seq64 xk bandwidth"
hubs="relay junctiond"
while getopts b:j:w:H: opt; do
    case $opt in
        b) bench=$OPTARG ;;
        j) junctiond=$OPTARG ;;
        w) workloads=$OPTARG ;;
        H) hubs=$OPTARG ;;
        *) echo "usage: $0 [-b BENCH] [-j JUNCTIOND] [-w WORKLOADS] [-H HUBS] OUTDIR" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: $0 [-b BENCH] [-j JUNCTIOND] [-w WORKLOADS] [-H HUBS] OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "$0: valgrind not found" >&2; exit 2; }

# Inclusive Ir of the first function matching $2 in callgrind file $1.
inclusive() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk -v pat="$2" 'index($0, pat) { gsub(",", "", $1); print $1; exit }'
}
# Total calls of the function matching $2: the "(Nx)" of its caller lines, which
# come just before its "*  function" line in callgrind_annotate --tree=caller.
calls() {
    callgrind_annotate --tree=caller "$1" 2>/dev/null |
        awk -v pat="$2" '
            /^ *[0-9,]+ .*  < / {
                if (match($0, /\([0-9,]+x\)/)) {
                    n = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", n); pending += n
                }
                next
            }
            /  \*  / { if (index($0, pat)) total += pending; pending = 0; next }
            { pending = 0 }
            END { print total + 0 }'
}

printf '%-10s %-10s %14s %10s %10s\n' hub workload loop_Ir calls Ir/call
for hub in $hubs; do
    for wl in $workloads; do
        cg=$out/$hub.$wl.cg
        set -- --only "$hub" --workloads "$wl" --iterations 20000 --duration-ms 3000 \
            --reply-timeout-ms 60000 --pin none --scaling none \
            --hub-prefix "valgrind --tool=callgrind --callgrind-out-file=$cg"
        [ -n "$junctiond" ] && set -- "$@" --junctiond "$junctiond"
        "$bench" "$@" >"$out/$hub.$wl.log" 2>&1 || { echo "$0: bench failed, see $out/$hub.$wl.log" >&2; exit 1; }
        if [ "$hub" = junctiond ]; then
            ir=$(inclusive "$cg" 'impl::run_loop(')
            n=$(calls "$cg" 'router::on_update(')
        else
            ir=$(inclusive "$cg" 'run_relay(')
            n=$(( $(calls "$cg" 'relay::route(') / 2 ))
        fi
        printf '%-10s %-10s %14s %10s %10s\n' "$hub" "$wl" "$ir" "$n" "$(( n > 0 ? ir / n : 0 ))"
    done
done
echo
for hub in $hubs; do for wl in $workloads; do
    cg=$out/$hub.$wl.cg
    echo "== $cg: top functions, exclusive Ir"
    callgrind_annotate "$cg" 2>/dev/null | sed -n '/PROGRAM TOTALS/,$p' | sed -n '5,20p' |
        sed -e 's/boost::asio::/asio::/g' -e 's/junction::daemon::/jd::/g' | cut -c1-160
done; done
