# Shared by packaging/tests/*.sh (sourced). ctest sets JUNCTION_BUILD_DIR,
# JUNCTION_SOURCE_DIR and JUNCTIOND (see packaging/CMakeLists.txt).
set -eu
: "${JUNCTION_BUILD_DIR:?}" "${JUNCTION_SOURCE_DIR:?}"
T=$(mktemp -d /tmp/junction-pkgtest-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
finish() {
    if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
    echo "all checks passed"
}
# Where install-files.cmake puts things for prefix /usr: pkg-config's values, else under /usr.
pc_dir() { # module variable fallback
    v=$(pkg-config --variable="$2" "$1" 2>/dev/null || true)
    echo "${v:-$3}"
}
# Installs the whole project (as `make install` would); logs go to $T/install.log.
install_project() { # extra cmake --install args...
    if ! cmake --install "$JUNCTION_BUILD_DIR" "$@" >"$T/install.log" 2>&1; then
        cat "$T/install.log"
        echo "FAIL: cmake --install $*"
        exit 1
    fi
}
