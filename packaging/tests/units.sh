#!/bin/sh
# `systemd-analyze verify` on every unit we ship; any complaint about them fails.
#
# verify checks that ExecStart= binaries exist and runs `man` for each
# Documentation=man:... page, so it runs on a real install, not on the
# templates: the project is installed into a private prefix, whose units name
# that prefix's sbin/junctiond, and MANPATH points at its man pages (which also
# checks that the pages the units cite are installed). The example provider's
# program (examples/, not installed) is replaced by the installed junctiond in
# a copy of its unit: verify checks the unit, not the example.
# Also: the system service's hardening must keep systemd-analyze security's
# exposure at 2.0 or below (it is 1.4).
. "$(dirname "$0")/lib.sh"

P=$T/prefix
install_project --prefix "$P"
export MANPATH="$P/share/man"
mkdir -m 700 "$T/xdg"
export XDG_RUNTIME_DIR="$T/xdg"   # --user verify needs one

verify() { # name dir args...
    name=$1 dir=$2
    shift 2
    out=$(cd "$dir" && systemd-analyze "$@" 2>&1) && rc=0 || rc=$?
    # Only complaints about our units count (others may come from the host's units).
    ours=$(printf '%s\n' "$out" | grep -E "junction|$P" || true)
    if [ "$rc" -ne 0 ] || [ -n "$ours" ]; then
        fail "$name: systemd-analyze $* (exit $rc)"
        printf '%s\n' "$out"
    else
        pass "$name"
    fi
}

verify "system units" "$P/lib/systemd/system" \
    verify junctiond.service junctiond.socket junctiond-searpc.socket
verify "user units" "$P/lib/systemd/user" --user verify junctiond.service junctiond.socket

mkdir "$T/example"
cp "$P/lib/systemd/system/junctiond.service" "$P/lib/systemd/system/junctiond.socket" "$T/example/"
sed "s|^ExecStart=.*|ExecStart=$P/sbin/junctiond|" \
    "$P/share/doc/junction/examples/junction-example-provider.service" \
    >"$T/example/junction-example-provider.service"
verify "example provider unit" "$T/example" verify junction-example-provider.service

if systemd-analyze security --offline=yes --threshold=20 \
        "$P/lib/systemd/system/junctiond.service" >"$T/security.log" 2>&1; then
    pass "hardening: $(grep -o 'Overall exposure level.*' "$T/security.log")"
else
    fail "hardening regressed"
    grep -v '✓' "$T/security.log"
fi
finish
