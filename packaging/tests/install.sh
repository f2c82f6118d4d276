#!/bin/sh
# `cmake --install` puts what packaging/ owns (and sbin/junctiond) where the
# platform expects it, and the units name the installed binary and config:
#   1. DESTDIR staging with prefix /usr: the distribution layout (/etc, pkg-config's unit dirs)
#   2. a private prefix: everything under it, units pointing into it
. "$(dirname "$0")/lib.sh"

# --- 1. DESTDIR=$T/stage, prefix /usr ------------------------------------------
S=$T/stage
DESTDIR=$S install_project --prefix /usr
unitdir=$(pc_dir systemd systemdsystemunitdir /usr/lib/systemd/system)
userunitdir=$(pc_dir systemd systemduserunitdir /usr/lib/systemd/user)
sysusersdir=$(pc_dir systemd sysusersdir /usr/lib/sysusers.d)
tmpfilesdir=$(pc_dir systemd tmpfilesdir /usr/lib/tmpfiles.d)
compdir=$(pc_dir bash-completion completionsdir /usr/share/bash-completion/completions)
for f in /usr/sbin/junctiond \
         "$unitdir/junctiond.service" "$unitdir/junctiond.socket" "$unitdir/junctiond-searpc.socket" \
         "$userunitdir/junctiond.service" "$userunitdir/junctiond.socket" \
         "$sysusersdir/junction.conf" "$tmpfilesdir/junction.conf" \
         /etc/junction/junctiond.conf "$compdir/junctionctl" \
         /usr/share/man/man8/junctiond.8.gz /usr/share/man/man1/junctionctl.1.gz \
         /usr/share/man/man5/junctiond.conf.5.gz \
         /usr/share/doc/junction/operations.md \
         /usr/share/doc/junction/examples/junction-example-provider.service; do
    if [ -f "$S$f" ]; then pass "installed $f"; else fail "not installed: $f"; fi
done
[ -x "$S/usr/sbin/junctiond" ] && "$S/usr/sbin/junctiond" --version | grep -q '^junctiond ' &&
    pass "staged junctiond --version" || fail "staged junctiond does not run"
grep -qx 'ExecStart=/usr/sbin/junctiond --config /etc/junction/junctiond.conf' \
    "$S$unitdir/junctiond.service" && pass "system unit ExecStart" ||
    fail "system unit ExecStart: $(grep ExecStart= "$S$unitdir/junctiond.service")"
grep -qx 'ExecStart=/usr/sbin/junctiond' "$S$userunitdir/junctiond.service" &&
    pass "user unit ExecStart" || fail "user unit ExecStart"
grep -qx 'ExecStart=/usr/bin/example-provider' \
    "$S/usr/share/doc/junction/examples/junction-example-provider.service" &&
    pass "example unit ExecStart" || fail "example unit ExecStart"
cmp -s "$S/etc/junction/junctiond.conf" "$JUNCTION_SOURCE_DIR/packaging/junctiond.conf" &&
    pass "config file as shipped" || fail "config file differs from packaging/junctiond.conf"
gzip -t "$S/usr/share/man/man8/junctiond.8.gz" && pass "man page is gzip" || fail "man page not gzip"
# Nothing escaped the staging directory's layout (no build paths in units).
if grep -rl "$JUNCTION_BUILD_DIR" "$S" >/dev/null 2>&1; then
    fail "build dir named in: $(grep -rl "$JUNCTION_BUILD_DIR" "$S" | head -3)"
else
    pass "no build paths in installed text files"
fi

# --- 2. private prefix ---------------------------------------------------------------
P=$T/prefix
install_project --prefix "$P"
for f in sbin/junctiond lib/systemd/system/junctiond.service lib/systemd/system/junctiond.socket \
         lib/systemd/user/junctiond.service lib/sysusers.d/junction.conf \
         lib/tmpfiles.d/junction.conf etc/junction/junctiond.conf \
         share/bash-completion/completions/junctionctl share/man/man5/junctiond.conf.5.gz; do
    if [ -f "$P/$f" ]; then pass "prefix: $f"; else fail "prefix: not installed: $f"; fi
done
grep -qx "ExecStart=$P/sbin/junctiond --config $P/etc/junction/junctiond.conf" \
    "$P/lib/systemd/system/junctiond.service" && pass "prefix: ExecStart points into the prefix" ||
    fail "prefix: ExecStart: $(grep ExecStart= "$P/lib/systemd/system/junctiond.service")"
finish
