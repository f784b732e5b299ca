# shellcheck shell=bash
# _private_apt.sh - fetch Debian packages with a private apt configuration and unpack them
# into a prefix, without root and without touching the host's apt or dpkg state.
#
# Sourced (not run) by scripts/provision_*.sh. The caller defines log() and die() (messages
# go to stderr) and runs under `set -euo pipefail`. Typical use:
#
#   papt_arch                                       # ARCH, TRIPLET, LDSO
#   MIRROR=${X_DEBIAN_MIRROR:-$(papt_detect_mirror || true)}
#   papt_configure "$APTDIR" "$DEBDIR" "$MIRROR" "$SUITE"     # exports APT_CONFIG
#   papt_update "$MIRROR" "$SUITE" X_DEBIAN_MIRROR
#   papt_resolve MAINPKG PKG...                     # PAPT_PACKAGES: the install set
#   papt_download "$DEBDIR" "$APTDIR" "${PAPT_PACKAGES[@]}"
#   papt_unpack "$DEBDIR" "$PREFIX"
#   LDSO_REL=$(papt_ldso "$PREFIX")                 # the prefix's loader, relative to it
#
# The prefix's programs are then run as
#   "$PREFIX/$LDSO_REL" --library-path "$PREFIX/usr/lib/$TRIPLET:..." "$PREFIX/usr/bin/prog"
# so they use the prefix's glibc and libraries whatever the host has.

# Sets ARCH (Debian's name), TRIPLET (multiarch directory) and LDSO (the loader's file name).
papt_arch() {
    ARCH=$(dpkg --print-architecture)
    case "$ARCH" in
        amd64) TRIPLET=x86_64-linux-gnu;  LDSO=ld-linux-x86-64.so.2 ;;
        arm64) TRIPLET=aarch64-linux-gnu; LDSO=ld-linux-aarch64.so.1 ;;
        *) die "unsupported architecture '$ARCH' (supported: amd64, arm64)" ;;
    esac
}

# Dies unless the tools this file (and the caller: extra arguments) need are on PATH.
# shellcheck disable=SC2120
papt_require_tools() {
    local tool
    for tool in apt-get apt-cache apt-config dpkg dpkg-deb flock timeout "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found (this script needs a Debian-based host)"
    done
}

# Prints the Debian mirror the host already uses (first non-security entry whose path ends
# in /debian), so that a local mirror / snapshot proxy is honoured; prints nothing if none.
papt_detect_mirror() {
    local f uri
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            # shellcheck disable=SC2020
            [ -f "$f" ] && sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' "$f" | tr ' \t' '\n\n'
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] && sed -n -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$f"
        done
    } 2>/dev/null | while read -r uri; do
        uri=${uri%/}
        case "$uri" in
            http://*/debian|https://*/debian) printf '%s\n' "$uri"; break ;;
        esac
    done
}

# papt_configure APTDIR DEBDIR MIRROR SUITE: a fresh private apt state in APTDIR (one
# source: MIRROR SUITE main, an empty dpkg status) and an empty DEBDIR; exports APT_CONFIG.
# The host's apt.conf.d is NOT read (its hooks, e.g. PackageKit or docker-clean, are not
# for us), but its proxy settings are carried over.
papt_configure() {
    local aptdir=$1 debdir=$2 mirror=$3 suite=$4 signed_by=""
    rm -rf "$aptdir" "$debdir"
    mkdir -p "$aptdir/parts" "$aptdir/sources.d" "$aptdir/prefs.d" "$aptdir/lists/partial" \
             "$aptdir/cache/archives/partial" "$debdir"
    : > "$aptdir/status"
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
        signed_by="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    printf 'deb %s%s %s main\n' "$signed_by" "$mirror" "$suite" > "$aptdir/sources.list"
    {
        apt-config dump 2>/dev/null | grep -E '^Acquire::[A-Za-z]+::Proxy' || true
        cat <<EOF
Dir::Etc::Parts "$aptdir/parts";
Dir::Etc::SourceList "$aptdir/sources.list";
Dir::Etc::SourceParts "$aptdir/sources.d";
Dir::Etc::Preferences "$aptdir/preferences";
Dir::Etc::PreferencesParts "$aptdir/prefs.d";
Dir::State "$aptdir";
Dir::State::Lists "$aptdir/lists";
Dir::State::status "$aptdir/status";
Dir::Cache "$aptdir/cache";
Dir::Cache::pkgcache "pkgcache.bin";
Dir::Cache::srcpkgcache "srcpkgcache.bin";
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
APT::Sandbox::User "root";
APT::Get::AllowUnauthenticated "false";
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled "false";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::Retries "3";
EOF
    } > "$aptdir/apt.conf"
    PAPT_DIR=$aptdir
    export APT_CONFIG="$aptdir/apt.conf"
}

# papt_update MIRROR SUITE MIRROR_VAR: fetch the package lists; MIRROR_VAR names the
# environment variable that overrides the mirror (for the error messages).
papt_update() {
    local mirror=$1 suite=$2 var=$3 logf="$PAPT_DIR/update.log"
    log "fetching package lists for Debian $suite from $mirror ..."
    if ! apt-get -q -o Acquire::Check-Valid-Until=false update >"$logf" 2>&1; then
        cat "$logf" >&2
        die "apt-get update for Debian $suite failed (mirror $mirror; set $var to override)"
    fi
    if grep -qE '^(W|E):' "$logf"; then
        grep -E '^(W|E):' "$logf" >&2
        if grep -qE '^(W|E): Failed to fetch' "$logf"; then
            die "could not fetch the Debian $suite package lists from $mirror (set $var to override)"
        fi
    fi
}

# papt_resolve MAIN PKG...: sets the array PAPT_PACKAGES to the packages to download for
# PKG... (which must include MAIN). Uses apt's own resolver against the empty dpkg status
# (first alternatives only, no recommends); if that fails, the full recursive dependency
# closure from apt-cache (larger, but always works).
papt_resolve() {
    local main=$1
    shift
    local closure=()
    mapfile -t PAPT_PACKAGES < <(
        apt-get -s -q -o APT::Install-Recommends=false -o APT::Install-Suggests=false \
            install "$@" 2>/dev/null | sed -n -E 's/^Inst ([^ ]+) .*/\1/p' | sort -u
    )
    if [ "${#PAPT_PACKAGES[@]}" -eq 0 ] || ! printf '%s\n' "${PAPT_PACKAGES[@]}" | grep -x -- "$main" >/dev/null; then
        log "apt resolver failed; falling back to the recursive apt-cache closure"
        mapfile -t closure < <(
            apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
                --no-breaks --no-replaces --no-enhances "$@" |
                grep -E '^[a-z0-9]' | sort -u
        )
        [ "${#closure[@]}" -gt 0 ] || die "dependency resolution produced nothing"
        # Keep only real packages (virtual ones have no stanza).
        mapfile -t PAPT_PACKAGES < <(
            apt-cache show --no-all-versions "${closure[@]}" 2>/dev/null | sed -n 's/^Package: //p' | sort -u
        )
    fi
    [ "${#PAPT_PACKAGES[@]}" -gt 0 ] || die "dependency resolution produced nothing"
}

# papt_download DEBDIR APTDIR PKG...: apt-get download PKG... into DEBDIR.
papt_download() {
    local debdir=$1 aptdir=$2
    shift 2
    log "downloading $# packages into $debdir ..."
    ( cd "$debdir" && apt-get -q download "$@" ) >"$aptdir/download.log" 2>&1 || {
        tail -n 30 "$aptdir/download.log" >&2
        die "apt-get download failed"
    }
}

# papt_unpack DEBDIR DEST: dpkg-deb -x every .deb of DEBDIR into DEST (created if needed).
papt_unpack() {
    local debdir=$1 dest=$2 d debs restore
    restore=$(shopt -p nullglob || true)
    shopt -s nullglob
    debs=("$debdir"/*.deb)
    eval "$restore"
    [ "${#debs[@]}" -gt 0 ] || die "no .deb files were downloaded"
    mkdir -p "$dest"
    for d in "${debs[@]}"; do
        dpkg-deb -x "$d" "$dest" || die "dpkg-deb -x failed on $d"
    done
}

# papt_ldso PREFIX: prints the path of the prefix's dynamic loader, relative to PREFIX.
papt_ldso() {
    local c
    for c in "usr/lib/$TRIPLET/$LDSO" "lib/$TRIPLET/$LDSO" "usr/lib64/$LDSO" "lib64/$LDSO"; do
        if [ -e "$1/$c" ]; then printf '%s\n' "$c"; return 0; fi
    done
    die "dynamic loader $LDSO not found in the prefix (libc6 missing from the closure?)"
}
