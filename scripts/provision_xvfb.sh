#!/usr/bin/env bash
# provision_xvfb.sh - provide an Xvfb (virtual X server) for the windowed rendering tests.
#
# Usage:
#   scripts/provision_xvfb.sh             # print the Xvfb to use, provisioning one if needed
#   scripts/provision_xvfb.sh --print     # print it only if there is one already (exit 1 otherwise)
#   scripts/provision_xvfb.sh --private   # ignore an Xvfb on PATH: use (or make) the private copy
#   XVFB=/path/to/Xvfb scripts/provision_xvfb.sh   # validate and use that Xvfb
#
# Contract: on success exactly ONE line goes to stdout: the absolute path of the Xvfb
# executable to use. Everything else goes to stderr, so callers can do:
#   XVFB=$(scripts/provision_xvfb.sh)
#
# Order: $XVFB if set, then `Xvfb` on PATH (the system's, e.g. from `apt-get install xvfb`),
# then the private copy. The private copy is the `xvfb` package of the machine's own Debian
# release (VERSION_CODENAME of /etc/os-release: bookworm on 12, trixie on 13) with xauth,
# xkbcomp (x11-xkb-utils), xkb-data, Mesa's software GL driver (for GLX) and their whole
# dependency closure, fetched with a private apt configuration (scripts/_private_apt.sh:
# no root, no change to the host's apt or dpkg state), unpacked into
# <repo>/.cache/xvfb/prefix and run through the prefix's own dynamic loader by wrappers:
#   <repo>/.cache/xvfb/bin/Xvfb     (also bin/xkbcomp, bin/xauth)
# Xvfb runs `/usr/bin/xkbcomp` (a compiled-in path) to build its keymap, and fails to start
# without it. The private Xvfb's copy of that directory string is blanked, so it runs
# `xkbcomp` through PATH instead, and its wrapper puts bin/ (with the xkbcomp wrapper) first
# on PATH and passes `-xkbdir <prefix>/usr/share/X11/xkb`. Provisioning ends by starting the
# new Xvfb once; a stamp file makes later runs instant.
#
# Environment:
#   XVFB                   use this Xvfb instead of looking for or provisioning one
#   XVFB_DEBIAN_MIRROR     Debian mirror base URL (default: detected from the host's apt
#                          sources, falling back to http://deb.debian.org/debian)
#   XVFB_DEBIAN_SUITE      suite to take Xvfb from (default: the host's VERSION_CODENAME)
#   XVFB_KEEP_DEBS=1       keep downloaded .debs and apt lists under .cache/xvfb/
set -euo pipefail

log() { printf 'provision_xvfb: %s\n' "$*" >&2; }
die() { printf 'provision_xvfb: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

MODE=provision
PRIVATE=0
for arg in "$@"; do
    case "$arg" in
        --print) MODE=print ;;
        --private) PRIVATE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $arg" ;;
    esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/_private_apt.sh
. "$SCRIPT_DIR/_private_apt.sh"
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE="$REPO_ROOT/.cache/xvfb"
WRAPPER="$CACHE/bin/Xvfb"
STAMP="$CACHE/.provisioned"

# ---------------------------------------------------------------- $XVFB given, or on PATH
if [ -n "${XVFB:-}" ]; then
    x="$XVFB"
    case "$x" in
        */*) ;;
        *) x=$(command -v -- "$x" 2>/dev/null) || die "XVFB='$XVFB' is not found in PATH" ;;
    esac
    if [ ! -f "$x" ] || [ ! -x "$x" ]; then
        die "XVFB='$XVFB' is not an existing executable file"
    fi
    printf '%s\n' "$(cd "$(dirname "$x")" && pwd)/$(basename "$x")"
    exit 0
fi
if [ "$PRIVATE" = 0 ] && x=$(command -v Xvfb 2>/dev/null) && [ -x "$x" ]; then
    log "using Xvfb on PATH"
    printf '%s\n' "$x"
    exit 0
fi

# ---------------------------------------------------------------- fast path
# The stamp is written last, only after the wrapper was proven to start a server. The
# wrappers and the prefix are relocatable, so a moved/copied repo stays provisioned.
fast_path_ok() {
    [ -f "$STAMP" ] && [ -x "$WRAPPER" ] && [ -x "$CACHE/prefix/usr/bin/Xvfb" ] || return 1
    # Cheap proof that the loader and the libraries still work (-help prints and exits 0).
    timeout 20 "$WRAPPER" -help </dev/null >/dev/null 2>&1
}

if fast_path_ok; then
    printf '%s\n' "$WRAPPER"
    exit 0
fi
if [ "$MODE" = print ]; then
    log "no Xvfb on PATH and none provisioned yet (run scripts/provision_xvfb.sh)"
    exit 1
fi

# ---------------------------------------------------------------- slow path
papt_require_tools perl

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE/.lock"
# Another process may have finished provisioning while we waited for the lock.
if fast_path_ok; then
    printf '%s\n' "$WRAPPER"
    exit 0
fi
rm -f "$STAMP"

papt_arch

if [ -n "${XVFB_DEBIAN_SUITE:-}" ]; then
    SUITE=$XVFB_DEBIAN_SUITE
else
    # shellcheck disable=SC1091
    SUITE=$( . /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ] && printf '%s' "${VERSION_CODENAME:-}" ) || true
    [ -n "$SUITE" ] || die "this is not a Debian release with a VERSION_CODENAME in /etc/os-release; \
install Xvfb (apt-get install xvfb), set XVFB=/path/to/Xvfb, or set XVFB_DEBIAN_SUITE"
fi
MIRROR=${XVFB_DEBIAN_MIRROR:-$(papt_detect_mirror || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

APTDIR="$CACHE/apt"
DEBDIR="$CACHE/debs"
papt_configure "$APTDIR" "$DEBDIR" "$MIRROR" "$SUITE"
papt_update "$MIRROR" "$SUITE" XVFB_DEBIAN_MIRROR

apt-cache show xvfb >/dev/null 2>&1 || die "no 'xvfb' package in Debian $SUITE at $MIRROR"
XVFB_PKG_VERSION=$(apt-cache show --no-all-versions xvfb | sed -n 's/^Version: //p' | head -n 1)
log "Debian $SUITE has xvfb $XVFB_PKG_VERSION; resolving dependencies ..."

# libgl1-mesa-dri: Mesa's swrast DRI driver, without which Xvfb starts with no GLX and
# OpenGL clients (Godot's opengl3 renderer) cannot create a context.
papt_resolve xvfb xvfb xauth x11-xkb-utils xkb-data libgl1-mesa-dri
papt_download "$DEBDIR" "$APTDIR" "${PAPT_PACKAGES[@]}"

log "unpacking into $CACHE/prefix ..."
PREFIX_TMP="$CACHE/prefix.tmp"
rm -rf "$PREFIX_TMP"
papt_unpack "$DEBDIR" "$PREFIX_TMP"
for f in usr/bin/Xvfb usr/bin/xkbcomp usr/bin/xauth usr/share/X11/xkb/rules/evdev; do
    [ -e "$PREFIX_TMP/$f" ] || die "/$f is missing from the unpacked packages"
done
LDSO_REL=$(papt_ldso "$PREFIX_TMP")
# Only the software DRI driver is needed; the hardware Vulkan drivers are dropped.
rm -f "$PREFIX_TMP"/usr/lib/"$TRIPLET"/libvulkan_*.so
rm -rf "$PREFIX_TMP"/usr/share/doc "$PREFIX_TMP"/usr/share/man "$PREFIX_TMP"/usr/share/info \
       "$PREFIX_TMP"/usr/share/locale "$PREFIX_TMP"/usr/share/lintian

# Xvfb builds its keymap by running, through /bin/sh, "<XkbBinDirectory>/xkbcomp", where
# XkbBinDirectory is the compiled-in "/usr/bin" (no option or variable changes it; -xkbdir
# only sets the data directory). Blank that one string: with an empty directory the command
# becomes "xkbcomp", which the shell looks up on the PATH the wrapper sets. The string must
# occur exactly once as a whole string (it does: it is only used for this), or the binary
# is left alone and Xvfb needs the host's /usr/bin/xkbcomp.
XKB_PATCH=$(perl -e '
    my $f = shift;
    open(my $fh, "<:raw", $f) or die "$f: $!\n";
    my $d = do { local $/; <$fh> };
    close $fh;
    my @at;
    while ($d =~ m{(?<![\x20-\x7e])/usr/bin\0}g) { push @at, $-[0]; }
    if (@at != 1 || index($d, "\"%s%sxkbcomp\"") < 0) { print "no\n"; exit 0; }
    substr($d, $at[0], 8) = "\0" x 8;
    open($fh, ">:raw", "$f.tmp") or die "$f.tmp: $!\n";
    print $fh $d;
    close $fh or die "$f.tmp: $!\n";
    chmod 0755, "$f.tmp";
    rename("$f.tmp", $f) or die "$f: $!\n";
    print "yes\n";
' "$PREFIX_TMP/usr/bin/Xvfb") || die "could not patch $PREFIX_TMP/usr/bin/Xvfb"
if [ "$XKB_PATCH" = yes ]; then
    log "Xvfb patched to run xkbcomp through PATH"
else
    log "warning: Xvfb's xkbcomp directory string not found; it will run /usr/bin/xkbcomp"
fi

# Swap the new prefix in.
rm -rf "$CACHE/prefix"
mv "$PREFIX_TMP" "$CACHE/prefix"

# write_wrapper NAME: bin/NAME runs the prefix's usr/bin/NAME through its loader.
write_wrapper() {
    local name=$1 extra_env=${2:-} extra_args=${3:-}
    cat > "$CACHE/bin/$name.tmp" <<EOF
#!/bin/sh
# Generated by scripts/provision_xvfb.sh: runs $name from Debian $SUITE (xvfb
# $XVFB_PKG_VERSION) unpacked in ../prefix, through the prefix's own loader.
here=\$(cd "\$(dirname "\$(readlink -f "\$0")")/.." && pwd)
p="\$here/prefix"
t=$TRIPLET
libs="\$p/usr/lib/\$t:\$p/lib/\$t:\$p/usr/lib:\$p/lib"
${extra_env}exec "\$p/$LDSO_REL" --library-path "\$libs" "\$p/usr/bin/$name" $extra_args"\$@"
EOF
    chmod +x "$CACHE/bin/$name.tmp"
    mv "$CACHE/bin/$name.tmp" "$CACHE/bin/$name"
}

mkdir -p "$CACHE/bin"
write_wrapper xkbcomp
write_wrapper xauth
# The wrapper expands $p, $t, $here and $PATH when it runs, not now.
# shellcheck disable=SC2016
write_wrapper Xvfb '# GLX: the server loads Mesa'"'"'s software DRI driver from the prefix.
export LIBGL_DRIVERS_PATH="$p/usr/lib/$t/dri"
# The keymap compiler: this Xvfb runs "xkbcomp" through PATH (see provision_xvfb.sh).
PATH="$here/bin:$PATH"
export PATH
' '-xkbdir "$p/usr/share/X11/xkb" '

# Prove it: start a server on a free display, wait for it to report its display number
# (written only once the keymap is built and the server accepts clients), stop it.
log "starting the new Xvfb once ..."
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
"$WRAPPER" -displayfd 3 -screen 0 64x64x24 -nolisten tcp 3>"$probe_dir/display" \
    </dev/null >"$probe_dir/log" 2>&1 &
xpid=$!
display=""
for _ in $(seq 300); do
    display=$(tr -dc '0-9' <"$probe_dir/display")
    [ -n "$display" ] && break
    kill -0 "$xpid" 2>/dev/null || break
    sleep 0.1
done
kill "$xpid" 2>/dev/null || true
wait "$xpid" 2>/dev/null || true
if [ -z "$display" ]; then
    cat "$probe_dir/log" >&2
    die "the provisioned Xvfb did not start ('$WRAPPER -displayfd 3' reported no display)"
fi

if [ "${XVFB_KEEP_DEBS:-0}" != 1 ]; then
    rm -rf "$DEBDIR" "$APTDIR"
fi

cat > "$STAMP" <<EOF
wrapper=$WRAPPER
debian_version=$XVFB_PKG_VERSION
xkbcomp_via_path=$XKB_PATCH
mirror=$MIRROR
suite=$SUITE
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
log "provisioned Xvfb (Debian $SUITE xvfb $XVFB_PKG_VERSION; it started on :$display and stopped)"
printf '%s\n' "$WRAPPER"
