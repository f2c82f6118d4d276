#!/bin/sh
# `make package`, as CI would run it: cpack builds junction_<version>_<arch>.deb
# (into $JUNCTION_BUILD_DIR/packaging/test-deb, for "packaging: package install"),
# and the package holds the expected paths, runtime dependencies from
# dpkg-shlibdeps, maintainer scripts and the config as a conffile.
. "$(dirname "$0")/lib.sh"

out=$JUNCTION_BUILD_DIR/packaging/test-deb
rm -rf "$out"
mkdir -p "$out"
if ! (cd "$T" && cpack -G DEB --config "$JUNCTION_BUILD_DIR/CPackConfig.cmake" -B "$out") \
        >"$T/cpack.log" 2>&1; then
    cat "$T/cpack.log"
    fail "cpack -G DEB"
    finish
fi
deb=$(ls "$out"/junction_*.deb)
pass "built $(basename "$deb")"

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$T/contents"
unitdir=$(pc_dir systemd systemdsystemunitdir /usr/lib/systemd/system)
userunitdir=$(pc_dir systemd systemduserunitdir /usr/lib/systemd/user)
for f in /usr/sbin/junctiond /etc/junction/junctiond.conf \
         "$unitdir/junctiond.service" "$unitdir/junctiond.socket" "$unitdir/junctiond-searpc.socket" \
         "$userunitdir/junctiond.service" "$userunitdir/junctiond.socket" \
         "$(pc_dir systemd sysusersdir /usr/lib/sysusers.d)/junction.conf" \
         "$(pc_dir systemd tmpfilesdir /usr/lib/tmpfiles.d)/junction.conf" \
         "$(pc_dir bash-completion completionsdir /usr/share/bash-completion/completions)/junctionctl" \
         /usr/share/man/man8/junctiond.8.gz /usr/share/man/man5/junctiond.conf.5.gz \
         /usr/share/man/man1/junctionctl.1.gz /usr/share/doc/junction/operations.md \
         /usr/share/doc/junction/examples/junction-example-provider.service; do
    if grep -qx "$f" "$T/contents"; then pass "deb has $f"; else fail "deb lacks $f"; fi
done
if grep -q '^/usr/local\|^/usr/etc' "$T/contents"; then
    fail "paths outside the distribution layout: $(grep '^/usr/local\|^/usr/etc' "$T/contents" | head -3)"
else
    pass "no /usr/local or /usr/etc paths"
fi

depends=$(dpkg-deb -f "$deb" Depends)
case $depends in
    *libc6*) pass "Depends (dpkg-shlibdeps): $depends" ;;
    *) fail "Depends lacks libc6 (dpkg-shlibdeps not run?): '$depends'" ;;
esac
[ "$(dpkg-deb -f "$deb" Package)" = junction ] && pass "Package: junction" || fail "package name"
mkdir "$T/control"
dpkg-deb -e "$deb" "$T/control"
for s in postinst prerm postrm; do
    [ -x "$T/control/$s" ] && sh -n "$T/control/$s" && pass "$s present" || fail "$s missing or broken"
done
grep -qx /etc/junction/junctiond.conf "$T/control/conffiles" && pass "conffile" || fail "conffiles"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ".$unitdir/junctiond.service" >"$T/unit"
grep -qx 'ExecStart=/usr/sbin/junctiond --config /etc/junction/junctiond.conf' "$T/unit" &&
    pass "packaged unit names /usr/sbin/junctiond" || fail "packaged unit: $(grep ExecStart= "$T/unit")"
finish
