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
# The package is installed machine-wide, so this test must not overlap with itself
# run from another build tree (ctest's RESOURCE_LOCK only orders tests within one
# run): it waits for the other run to finish instead of failing on dpkg's lock or
# seeing the other run's package come and go under it.
lock=/var/lock/junction-package-install-test.lock
exec 9>"$lock"
flock -w 240 9 || { echo "FAIL: $lock still held after 240 s"; exit 1; }
# dpkg refuses at once when another dpkg or apt holds its lock (unattended-upgrades,
# apt-daily on a CI machine): wait for it to be released, up to a deadline. dpkg has
# no option to wait and its lock is an fcntl lock, so this polls.
dpkg_waiting() { # log args...
    log=$1
    shift
    deadline=$(($(date +%s) + 90))
    while :; do
        if dpkg "$@" >"$log" 2>&1 9>&-; then return 0; fi
        grep -qiE 'lock.*(held|locked) by another process|status database is locked' "$log" ||
            return 1
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 1
    done
}
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

if dpkg_waiting "$T/dpkg.log" -i "$deb"; then pass "dpkg -i"; else cat "$T/dpkg.log"; fail "dpkg -i"; finish; fi
version=$(/usr/sbin/junctiond --version 2>&1) && pass "installed: $version" || fail "junctiond --version: $version"
getent passwd junction >/dev/null && pass "user junction exists" || fail "postinst did not create user junction"
[ -f /etc/junction/junctiond.conf ] && pass "/etc/junction/junctiond.conf" || fail "no config file"
man -w junctiond >/dev/null 2>&1 || [ -f /usr/share/man/man8/junctiond.8.gz ] && pass "man page" || fail "man page"

if dpkg_waiting "$T/dpkg-r.log" -r junction; then pass "dpkg -r"; else cat "$T/dpkg-r.log"; fail "dpkg -r"; fi
[ ! -e /usr/sbin/junctiond ] && pass "binary removed" || fail "/usr/sbin/junctiond still there"
installed && fail "still installed" || pass "package removed"
[ -f /etc/junction/junctiond.conf ] && pass "config kept after remove (conffile)" || fail "config gone after dpkg -r"
if dpkg_waiting "$T/dpkg-P.log" -P junction; then pass "dpkg -P"; else cat "$T/dpkg-P.log"; fail "dpkg -P"; fi
[ ! -e /etc/junction/junctiond.conf ] && pass "purge removed the config" || fail "config left after purge"
finish
