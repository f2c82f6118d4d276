#!/bin/sh
# Installs the .deb that "packaging: package" built (dpkg -i), runs the
# installed junctiond, then removes the package (dpkg -r). Needs root; skipped
# (exit 77) otherwise, and when a `junction` package is already installed (it
# is not ours to replace). The maintainer scripts must succeed with or without
# systemd running (containers, CI).
. "$(dirname "$0")/lib.sh"

deb=$(ls "$JUNCTION_BUILD_DIR"/packaging/test-deb/junction_*.deb 2>/dev/null || true)
[ -n "$deb" ] || { echo "FAIL: no .deb (run the 'packaging: package' test first)"; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: dpkg -i needs root (the package itself was checked by 'packaging: package')"
    exit 77
fi
installed() { [ "$(dpkg-query -W -f='${Status}' junction 2>/dev/null)" = "install ok installed" ]; }
if installed; then
    echo "SKIP: a junction package is already installed here; not replacing it"
    exit 77
fi

cleanup() {
    dpkg -P junction >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

if dpkg -i "$deb" >"$T/dpkg.log" 2>&1; then pass "dpkg -i"; else cat "$T/dpkg.log"; fail "dpkg -i"; finish; fi
version=$(/usr/sbin/junctiond --version 2>&1) && pass "installed: $version" || fail "junctiond --version: $version"
getent passwd junction >/dev/null && pass "user junction exists" || fail "postinst did not create user junction"
[ -f /etc/junction/junctiond.conf ] && pass "/etc/junction/junctiond.conf" || fail "no config file"
man -w junctiond >/dev/null 2>&1 || [ -f /usr/share/man/man8/junctiond.8.gz ] && pass "man page" || fail "man page"

if dpkg -r junction >"$T/dpkg-r.log" 2>&1; then pass "dpkg -r"; else cat "$T/dpkg-r.log"; fail "dpkg -r"; fi
[ ! -e /usr/sbin/junctiond ] && pass "binary removed" || fail "/usr/sbin/junctiond still there"
installed && fail "still installed" || pass "package removed"
[ -f /etc/junction/junctiond.conf ] && pass "config kept after remove (conffile)" || fail "config gone after dpkg -r"
if dpkg -P junction >"$T/dpkg-P.log" 2>&1; then pass "dpkg -P"; else cat "$T/dpkg-P.log"; fail "dpkg -P"; fi
[ ! -e /etc/junction/junctiond.conf ] && pass "purge removed the config" || fail "config left after purge"
finish
