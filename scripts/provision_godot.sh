#!/usr/bin/env bash
# provision_godot.sh - provide a Godot 4 (>= 4.3) executable for tests and tooling.
#
# Usage:
#   scripts/provision_godot.sh            # provision if needed, print the Godot path
#   scripts/provision_godot.sh --print    # print the path only if already provisioned (exit 1 otherwise)
#   GODOT=/path/to/godot scripts/provision_godot.sh   # validate and use an existing Godot
#
# Contract: on success exactly ONE line goes to stdout: the absolute path of the
# Godot executable to use. Everything else (progress, warnings, errors) goes to
# stderr, so callers can do:  GODOT_BIN=$(scripts/provision_godot.sh)
#
# How it works (when $GODOT is not set): Debian 12/13 only ship Godot 3, so the
# `godot` package and its whole dependency closure (glibc included) are fetched
# from Debian sid with a private apt configuration (no change to the host's apt
# state, no dpkg install), unpacked into <repo>/.cache/godot/prefix, and run
# through the prefix's own dynamic loader by a wrapper script:
#   <repo>/.cache/godot/bin/godot
# The wrapper is relocatable (it finds the prefix relative to itself). It also
# points Mesa (llvmpipe / lavapipe), libglvnd and the Vulkan loader at the prefix,
# so rendering under Xvfb can work too. A stamp file makes later runs instant.
#
# Environment:
#   GODOT                  use this Godot instead of provisioning one (must be >= 4.3)
#   GODOT_DEBIAN_MIRROR    Debian mirror base URL (default: detected from the host's
#                          apt sources, falling back to http://deb.debian.org/debian)
#   GODOT_DEBIAN_SUITE     suite to take Godot from (default: sid)
#   GODOT_KEEP_DEBS=1      keep downloaded .debs and apt lists under .cache/godot/
set -euo pipefail

MIN_MAJOR=4
MIN_MINOR=3

log() { printf 'provision_godot: %s\n' "$*" >&2; }
die() { printf 'provision_godot: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

MODE=provision
case "${1:-}" in
    "") ;;
    --print) MODE=print ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
esac

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/_private_apt.sh
. "$SCRIPT_DIR/_private_apt.sh"
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE="$REPO_ROOT/.cache/godot"
WRAPPER="$CACHE/bin/godot"
STAMP="$CACHE/.provisioned"

# ---------------------------------------------------------------- version check
# Prints the version line of Godot at $1 on stdout; fails if it cannot be run.
godot_version() {
    local out line
    out=$(timeout 60 "$1" --headless --version 2>/dev/null </dev/null) || return 1
    # Godot prints e.g. "4.6.stable.debian" or "4.3.stable.official.77dcf97d8".
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+\.[0-9]+' | tail -n 1) || return 1
    [ -n "$line" ] || return 1
    printf '%s\n' "$line"
}

# True if version string $1 is >= MIN_MAJOR.MIN_MINOR.
version_ok() {
    local major minor
    major=$(printf '%s' "$1" | cut -d. -f1)
    minor=$(printf '%s' "$1" | cut -d. -f2)
    case "$major$minor" in *[!0-9]*|"") return 1 ;; esac
    [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

# ---------------------------------------------------------------- $GODOT given
if [ -n "${GODOT:-}" ]; then
    g="$GODOT"
    case "$g" in
        */*) ;;
        *) g=$(command -v -- "$g" 2>/dev/null) || die "GODOT='$GODOT' is not found in PATH" ;;
    esac
    [ -f "$g" ] && [ -x "$g" ] || die "GODOT='$GODOT' is not an existing executable file"
    g="$(cd "$(dirname "$g")" && pwd)/$(basename "$g")"
    ver=$(godot_version "$g") || die "GODOT='$GODOT': '$g --headless --version' failed or printed no version"
    version_ok "$ver" || die "GODOT='$GODOT' is Godot $ver; Godot >= $MIN_MAJOR.$MIN_MINOR is required"
    log "using \$GODOT ($ver)"
    printf '%s\n' "$g"
    exit 0
fi

# ---------------------------------------------------------------- fast path
# The stamp is written last, only after the wrapper was proven to run. The
# wrapper and prefix are relocatable, so a moved/copied repo stays provisioned.
fast_path_ok() {
    [ -f "$STAMP" ] && [ -x "$WRAPPER" ] || return 1
    local bin
    bin=$(sed -n 's/^binary=//p' "$STAMP")
    [ -n "$bin" ] && [ -x "$CACHE/prefix/$bin" ] || return 1
    # Cheap (~50 ms) proof that the wrapper still runs.
    godot_version "$WRAPPER" >/dev/null
}

if fast_path_ok; then
    printf '%s\n' "$WRAPPER"
    exit 0
fi
if [ "$MODE" = print ]; then
    log "Godot is not provisioned yet (run scripts/provision_godot.sh)"
    exit 1
fi

# ---------------------------------------------------------------- slow path
papt_require_tools

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

MIRROR=${GODOT_DEBIAN_MIRROR:-$(papt_detect_mirror || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${GODOT_DEBIAN_SUITE:-sid}

APTDIR="$CACHE/apt"
DEBDIR="$CACHE/debs"
papt_configure "$APTDIR" "$DEBDIR" "$MIRROR" "$SUITE"
papt_update "$MIRROR" "$SUITE" GODOT_DEBIAN_MIRROR

apt-cache show godot >/dev/null 2>&1 || die "no 'godot' package in Debian $SUITE at $MIRROR"
GODOT_PKG_VERSION=$(apt-cache show --no-all-versions godot | sed -n 's/^Version: //p' | head -n 1)
log "Debian $SUITE has godot $GODOT_PKG_VERSION; resolving dependencies ..."

ROOT_PKGS=(godot mesa-vulkan-drivers libgl1-mesa-dri libegl-mesa0 libgl1 libegl1 libvulkan1 libglx-mesa0)
# Rendering bits are optional: drop any that this suite does not have.
PKGS=()
for p in "${ROOT_PKGS[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then PKGS+=("$p"); else log "note: package $p not available, skipped"; fi
done

papt_resolve godot "${PKGS[@]}"
papt_download "$DEBDIR" "$APTDIR" "${PAPT_PACKAGES[@]}"

log "unpacking into $CACHE/prefix ..."
PREFIX_TMP="$CACHE/prefix.tmp"
rm -rf "$PREFIX_TMP"
papt_unpack "$DEBDIR" "$PREFIX_TMP"
shopt -s nullglob

# Locate the Godot binary shipped by the godot package.
BIN=""
godot_deb=("$DEBDIR"/godot_*.deb)
[ "${#godot_deb[@]}" -gt 0 ] || die "godot .deb missing from $DEBDIR"
while read -r path; do
    path=${path#./}
    case "$path" in
        usr/bin/godot|usr/bin/godot4|usr/games/godot|usr/games/godot4) BIN=$path; break ;;
    esac
done < <(dpkg-deb -c "${godot_deb[0]}" | awk '{print $6}')
if [ -z "$BIN" ]; then
    BIN=$(cd "$PREFIX_TMP" && ls usr/bin/godot* 2>/dev/null | head -n 1 || true)
fi
[ -n "$BIN" ] && [ -e "$PREFIX_TMP/$BIN" ] || die "cannot find the Godot binary in the godot package"
# Resolve a symlink inside the prefix (keep the path relative to the prefix).
if [ -L "$PREFIX_TMP/$BIN" ]; then
    tgt=$(readlink "$PREFIX_TMP/$BIN")
    case "$tgt" in
        /*) BIN=${tgt#/} ;;
        *) BIN="$(dirname "$BIN")/$tgt" ;;
    esac
fi
[ -f "$PREFIX_TMP/$BIN" ] || die "Godot binary $BIN is not a regular file in the prefix"
log "Godot binary: /$BIN"

LDSO_REL=$(papt_ldso "$PREFIX_TMP")

# Vulkan: only lavapipe (software) is offered to the loader, so rendering is the
# same on every machine. Its ICD manifest uses an absolute library path; rewrite
# it to a bare file name (resolved through the wrapper's --library-path) in a
# private icd.d. The hardware Vulkan drivers (~150 MB) are dropped.
mkdir -p "$PREFIX_TMP/.continuum/icd.d"
for j in "$PREFIX_TMP"/usr/share/vulkan/icd.d/lvp_icd*.json; do
    sed -E 's#"library_path"[[:space:]]*:[[:space:]]*"[^"]*/([^"/]+)"#"library_path": "\1"#' "$j" \
        > "$PREFIX_TMP/.continuum/icd.d/$(basename "$j")"
done
for f in "$PREFIX_TMP"/usr/lib/"$TRIPLET"/libvulkan_*.so; do
    case "$(basename "$f")" in libvulkan_lvp.so) ;; *) rm -f "$f" ;; esac
done
rm -rf "$PREFIX_TMP"/usr/share/doc "$PREFIX_TMP"/usr/share/man "$PREFIX_TMP"/usr/share/info
shopt -u nullglob

# Swap the new prefix in.
rm -rf "$CACHE/prefix"
mv "$PREFIX_TMP" "$CACHE/prefix"

mkdir -p "$CACHE/bin"
cat > "$WRAPPER.tmp" <<EOF
#!/bin/sh
# Generated by scripts/provision_godot.sh: runs Godot from Debian $SUITE
# ($GODOT_PKG_VERSION) unpacked in ../prefix, through the prefix's own loader.
here=\$(cd "\$(dirname "\$(readlink -f "\$0")")/.." && pwd)
p="\$here/prefix"
t=$TRIPLET
libs="\$p/usr/lib/\$t:\$p/lib/\$t:\$p/usr/lib:\$p/lib:\$p/usr/lib/\$t/pulseaudio"
# Mesa / libglvnd / Vulkan loader: look inside the prefix, not on the host.
# Software rendering (llvmpipe / lavapipe) by default for reproducible output;
# run with LIBGL_ALWAYS_SOFTWARE=0 to let Mesa pick a hardware GL driver.
export LIBGL_ALWAYS_SOFTWARE="\${LIBGL_ALWAYS_SOFTWARE-1}"
export LIBGL_DRIVERS_PATH="\$p/usr/lib/\$t/dri"
export GBM_BACKENDS_PATH="\$p/usr/lib/\$t/gbm"
export __EGL_VENDOR_LIBRARY_DIRS="\$p/usr/share/glvnd/egl_vendor.d"
export VK_DRIVER_FILES="\$(ls "\$p"/.continuum/icd.d/*.json 2>/dev/null | tr '\n' ':' | sed 's/:\$//')"
export VK_ICD_FILENAMES="\$VK_DRIVER_FILES"
export VK_LAYER_PATH="\$p/usr/share/vulkan/explicit_layer.d"
export VK_IMPLICIT_LAYER_PATH="\$p/usr/share/vulkan/implicit_layer.d"
exec "\$p/$LDSO_REL" --library-path "\$libs" "\$p/$BIN" "\$@"
EOF
chmod +x "$WRAPPER.tmp"
mv "$WRAPPER.tmp" "$WRAPPER"

ver=$(godot_version "$WRAPPER") || {
    timeout 60 "$WRAPPER" --headless --version </dev/null >&2 || true
    die "the provisioned Godot does not run ('$WRAPPER --headless --version' failed)"
}
version_ok "$ver" || die "provisioned Godot is $ver; Godot >= $MIN_MAJOR.$MIN_MINOR is required"

if [ "${GODOT_KEEP_DEBS:-0}" != 1 ]; then
    rm -rf "$DEBDIR" "$APTDIR"
fi

cat > "$STAMP" <<EOF
wrapper=$WRAPPER
binary=$BIN
version=$ver
debian_version=$GODOT_PKG_VERSION
mirror=$MIRROR
suite=$SUITE
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
log "provisioned Godot $ver (Debian $SUITE $GODOT_PKG_VERSION)"
printf '%s\n' "$WRAPPER"
