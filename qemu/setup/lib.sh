# shellcheck shell=bash
# Common helpers for irqlab's lab set-up scripts (sourced, not run).
#
# Everything here works on a private apt configuration under $IRQLAB_HOME/apt: its own
# sources list, lists, caches and an (almost) empty dpkg status file. That keeps the host's
# apt/dpkg state untouched and makes apt resolve the *whole* dependency closure (glibc
# included), which is what we want because the result is unpacked with `dpkg -x` and run
# independently of the host's libraries.

# shellcheck disable=SC2034  # globals for the scripts that source this file
IRQLAB_SETUP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IRQLAB_REPO="$(cd "$IRQLAB_SETUP_DIR/../.." && pwd)"
IRQLAB_HOME="${IRQLAB_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/irqlab}"
export IRQLAB_HOME

APT_DIR="$IRQLAB_HOME/apt"
APT_CONF="$APT_DIR/etc/apt.conf"
LOG_DIR="$IRQLAB_HOME/logs"
STATE_DIR="$IRQLAB_HOME/state"
DEB_DIR="$APT_DIR/debs"           # per-step download folders, emptied after a good unpack
LISTS_MAX_AGE=86400               # refresh the private package lists once a day

# The suites we take things from. trixie-backports is where QEMU 11.1 (vfio-user client)
# and the 7.x kernels live; trixie has the 6.12 kernel and the toolchain.
MIRROR="${IRQLAB_MIRROR:-http://deb.debian.org/debian}"
SUITES=(trixie trixie-backports)

# Which kernel series to provide, and the suite whose linux-image-amd64 metapackage names it.
KERNEL_SERIES=(6.12 7.3)
# shellcheck disable=SC2034
declare -A KERNEL_SUITE=([6.12]=trixie [7.3]=trixie-backports)
# The lab's own kernels, built from those series' Debian sources with qemu/kconfig/
# lab-debug.config (setup.sh debug): NAME is SERIES-debug.
DEBUG_KERNELS=(6.12-debug 7.3-debug)
# Built only on demand (setup.sh kasan): 6.12-debug plus qemu/kconfig/kasan.config.
KASAN_KERNELS=(6.12-kasan)
# Every kernel built here (vs. unpacked from Debian).
OWN_KERNELS=("${DEBUG_KERNELS[@]}" "${KASAN_KERNELS[@]}")

# Kernel sources (Debian's linux-source-<series>) and the debug kernels' build trees. They
# live outside the build root (a rebuilt root keeps them) and are bind-mounted into it.
LINUX_HOME="$IRQLAB_HOME/linux"
LINUX_MNT=/irqlab/linux
LINUX_BIND="$LINUX_HOME:$LINUX_MNT"

LOG_TAG="${LOG_TAG:-setup}"

# The comment block at the top of the running script, as its help text.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

say() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }

# die MESSAGE [LOGFILE]: say what failed, point at the log and show its tail, exit 1.
die() {
    local msg="$1" log="${2:-}"
    printf '[%s] ERROR: %s\n' "$LOG_TAG" "$msg" >&2
    if [[ -n "$log" && -s "$log" ]]; then
        printf '[%s] last lines of %s:\n' "$LOG_TAG" "$log" >&2
        tail -n 15 "$log" | sed 's/^/    /' >&2
        printf '[%s] full log: %s\n' "$LOG_TAG" "$log" >&2
    fi
    exit 1
}

now_ms() { date +%s%3N; }
# elapsed START_MS -> seconds with one decimal (for progress lines)
elapsed() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }

# logrun LOG CMD...: run CMD with all output appended to LOG (never on the terminal).
logrun() {
    local log="$1"; shift
    printf '\n=== %s: %s\n' "$(date '+%F %T')" "$*" >>"$log"
    "$@" >>"$log" 2>&1
}

# retry_once LOG CMD...: network operations get one more chance (mirror hiccups happen).
retry_once() {
    local log="$1"; shift
    logrun "$log" "$@" && return 0
    printf '=== first attempt failed, retrying in 3 s\n' >>"$log"
    sleep 3
    logrun "$log" "$@"
}

# shell-quote a value into a KEY=VALUE line for the state files (sourced later).
state_line() { printf '%s=%q\n' "$1" "$2"; }

# write_state STEP <<< lines ; written atomically so a crash never leaves half a state.
write_state() {
    local step="$1"
    mkdir -p "$STATE_DIR"
    cat >"$STATE_DIR/$step.env.tmp"
    mv -f "$STATE_DIR/$step.env.tmp" "$STATE_DIR/$step.env"
}

load_state() {
    local f="$STATE_DIR/$1.env"
    [[ -f "$f" ]] || return 1
    # shellcheck disable=SC1090
    source "$f"
}

host_checks() {
    [[ "$(id -u)" == 0 ]] || die "run as root (chroot, mknod and unshare need it)"
    [[ -r /etc/debian_version ]] || die "this is not a Debian host (/etc/debian_version missing)"
    HOST_DEBIAN="$(cat /etc/debian_version)"
    case "$HOST_DEBIAN" in
        12*|bookworm*) HOST_CODENAME=bookworm ;;
        13*|trixie*) HOST_CODENAME=trixie ;;
        *) HOST_CODENAME=unknown
           say "warning: Debian '$HOST_DEBIAN' is neither 12 nor 13; trying anyway" ;;
    esac
    local c
    for c in apt-get apt-cache dpkg-deb unshare chroot mknod flock gzip; do
        command -v "$c" >/dev/null || die "required command '$c' not found on this host"
    done
}

# The archive signing keys: Debian 12 ships .gpg keyrings, Debian 13 .pgp (with .gpg links).
find_keyring() {
    local k
    for k in /usr/share/keyrings/debian-archive-keyring.pgp /usr/share/keyrings/debian-archive-keyring.gpg; do
        [[ -s "$k" ]] && { printf '%s\n' "$k"; return 0; }
    done
    die "no Debian archive keyring in /usr/share/keyrings (package debian-archive-keyring)"
}

# Write the private apt configuration. Cheap, so done on every run that needs apt.
apt_setup() {
    mkdir -p "$APT_DIR"/{etc/parts,etc/sources.d,etc/prefs.d,lists/partial,state,cache,log} \
        "$DEB_DIR" "$LOG_DIR"
    local keyring s
    keyring="$(find_keyring)"
    : >"$APT_DIR/state/status.tmp"
    [[ -f "$APT_DIR/state/status" ]] || mv "$APT_DIR/state/status.tmp" "$APT_DIR/state/status"
    rm -f "$APT_DIR/state/status.tmp"
    {
        for s in "${SUITES[@]}"; do
            printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$MIRROR" "$s"
        done
    } >"$APT_DIR/etc/sources.list"
    # APT_CONFIG is read before apt.conf.d, so pointing Dir::Etc::parts at an empty folder
    # keeps every host setting (proxies aside, see below) out of our runs.
    cat >"$APT_CONF" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$APT_DIR/etc/parts";
Dir::Etc::sourcelist "$APT_DIR/etc/sources.list";
Dir::Etc::sourceparts "$APT_DIR/etc/sources.d";
Dir::Etc::preferences "$APT_DIR/etc/preferences";
Dir::Etc::preferencesparts "$APT_DIR/etc/prefs.d";
Dir::State "$APT_DIR/state";
Dir::State::lists "$APT_DIR/lists";
Dir::State::status "$APT_DIR/state/status";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::archives "$DEB_DIR/misc";
Dir::Log "$APT_DIR/log";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "2";
Quiet "1";
EOF
    # Keep a host proxy setting if there is one (it is network config, not package state).
    local proxy
    proxy="$(APT_CONFIG=/dev/null apt-config dump Acquire::http::Proxy 2>/dev/null | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -n1)"
    [[ -n "$proxy" ]] && printf 'Acquire::http::Proxy "%s";\n' "$proxy" >>"$APT_CONF"
    mkdir -p "$DEB_DIR/misc/partial"
    export APT_CONFIG="$APT_CONF"
}

# papt CMD ARGS...: apt-get/apt-cache with the private configuration.
papt() { APT_CONFIG="$APT_CONF" "$@"; }

# Refresh the private lists if missing or older than a day; once per run at most.
APT_LISTS_READY=0
apt_lists() {
    [[ $APT_LISTS_READY == 1 ]] && return 0
    apt_setup
    local stamp="$APT_DIR/lists/.irqlab-updated" log="$LOG_DIR/apt-update.log" t0
    if [[ -f "$stamp" && $(( $(date +%s) - $(stat -c %Y "$stamp") )) -lt $LISTS_MAX_AGE ]]; then
        APT_LISTS_READY=1
        return 0
    fi
    t0=$(now_ms)
    say "apt: updating private package lists (${SUITES[*]})..."
    printf 'host: Debian %s (%s)\n' "$HOST_DEBIAN" "$HOST_CODENAME" >"$log"
    # apt-get update exits 0 when an index cannot be fetched ("W: Failed to fetch"), so
    # treat any such warning as a failure and retry.
    update_ok_logged() { local n; n=$(wc -l <"$log"); logrun "$log" papt apt-get update \
        && ! tail -n +"$((n + 1))" "$log" | grep -qE '^(W: Failed to fetch|W: Some index files|E: )'; }
    have_lists() {
        local s
        for s in "${SUITES[@]}"; do
            compgen -G "$APT_DIR/lists/*_dists_${s}_main_binary-amd64_Packages*" >/dev/null || return 1
        done
    }
    if ! { update_ok_logged || { printf '=== retrying in 3 s\n' >>"$log"; sleep 3; update_ok_logged; }; }; then
        # Older lists still name what we need unless Debian removed it since: go on with
        # them (a download failure will tell), but do not mark them fresh.
        have_lists || die "apt-get update of the private lists failed (network? mirror $MIRROR)" "$log"
        say "apt: warning: could not refresh the lists (see $log); using those from $(date -r "$stamp" '+%F %T' 2>/dev/null || echo before)"
        APT_LISTS_READY=1
        return 0
    fi
    have_lists || die "apt: package lists missing after apt-get update" "$log"
    touch "$stamp"
    APT_LISTS_READY=1
    say "apt: lists ready in $(elapsed "$t0") s"
}

# Candidate version of PKG in SUITE (empty if absent there).
suite_version() {
    { papt apt-cache show --no-all-versions "$1/$2" 2>/dev/null || true; } | sed -n 's/^Version: //p' | head -n1
}

# Depends of PKG in SUITE, one package name per line (alternatives flattened).
suite_depends() {
    { papt apt-cache show --no-all-versions "$1/$2" 2>/dev/null || true; } | sed -n 's/^Depends: //p' | head -n1 \
        | tr ',|' '\n' | sed -e 's/([^)]*)//g' -e 's/:any//' -e 's/[[:space:]]//g' | sed '/^$/d'
}

# human MB from bytes
mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

# apt_fetch STEP LOG MODE ARGS...: download .debs into $DEB_DIR/STEP (emptied first, so it
# holds exactly this resolution's packages). MODE is "install" (resolve the closure against
# the status file given by $FETCH_STATUS, default the empty one) or "download" (exactly the
# named packages). Prints the progress line with count and size.
apt_fetch() {
    local step="$1" log="$2" mode="$3"; shift 3
    local dir="$DEB_DIR/$step" uris n bytes
    local -a opts=(-o "Dir::Cache::archives=$dir/")
    [[ -n "${FETCH_STATUS:-}" ]] && opts+=(-o "Dir::State::status=$FETCH_STATUS")
    rm -rf "$dir"
    mkdir -p "$dir/partial"
    if [[ $mode == install ]]; then
        uris="$(cd "$dir" && papt apt-get "${opts[@]}" -y -d --print-uris install "$@" 2>>"$log")" \
            || die "$step: apt cannot resolve: $*" "$log"
    else
        uris="$(cd "$dir" && papt apt-get "${opts[@]}" --print-uris download "$@" 2>>"$log")" \
            || die "$step: apt cannot find: $*" "$log"
    fi
    n=$(grep -c "^'" <<<"$uris" || true)
    bytes=$(awk "/^'/ { s += \$3 } END { print s + 0 }" <<<"$uris")
    say "$step: downloading $n packages ($(mb "$bytes") MB)..."
    if [[ $mode == install ]]; then
        retry_once "$log" papt apt-get "${opts[@]}" -y -d install "$@" \
            || die "$step: download failed" "$log"
    else
        (cd "$dir" && retry_once "$log" papt apt-get "${opts[@]}" download "$@") \
            || die "$step: download failed" "$log"
    fi
    local got
    got=$(find "$dir" -maxdepth 1 -name '*.deb' | wc -l)
    [[ $got -ge $n ]] || die "$step: expected $n .debs, found $got in $dir" "$log"
}

# unpack_debs LOG DEST DEB...: dpkg -x each (no dpkg database involved), two at a time.
unpack_debs() {
    local log="$1" dest="$2"; shift 2
    mkdir -p "$dest"
    printf '%s\0' "$@" | xargs -0 -P2 -n8 sh -c 'd="$0"; for f; do dpkg-deb -x "$f" "$d" || { echo "dpkg-deb -x failed: $f"; exit 1; }; done' "$dest" >>"$log" 2>&1
}

# Run a command inside a chroot with /proc mounted. A private mount namespace makes the
# /proc mount disappear with the command, so nothing is ever left mounted on the host.
# objtool and pahole need /proc. CHROOT_BINDS lists "HOST_DIR:DIR_IN_ROOT" pairs that are
# bind-mounted for the command too (the kernel sources and build trees live outside the
# root, so that a rebuilt root keeps them).
CHROOT_ENV=(/usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/usr/sbin HOME=/root LANG=C.UTF-8 TERM=dumb)
CHROOT_BINDS=()
chroot_run() {
    local root="$1" b
    shift
    local -a pairs=()
    for b in "${CHROOT_BINDS[@]}"; do
        mkdir -p "$root${b#*:}"
        pairs+=("${b%%:*}" "$root${b#*:}")
    done
    if unshare --mount --propagation private true 2>/dev/null; then
        unshare --mount --propagation private /bin/sh -c '
            r="$1"; n="$2"; shift 2
            mount -t proc proc "$r/proc" || exit 125
            while [ "$n" -gt 0 ]; do mount --bind "$1" "$2" || exit 125; shift 2; n=$((n - 1)); done
            exec chroot "$r" "$@"' irqlab-chroot "$root" "${#CHROOT_BINDS[@]}" "${pairs[@]}" \
            "${CHROOT_ENV[@]}" "$@"
        return
    fi
    # No private mount namespace here (e.g. / is not a mount point, as inside a chroot):
    # mount for the duration of the command only.
    local rc=0 i
    local -a mounted=()
    if ! mountpoint -q "$root/proc"; then
        mount -t proc proc "$root/proc" || return 125
        mounted+=("$root/proc")
    fi
    for ((i = 0; i < ${#pairs[@]}; i += 2)); do
        mount --bind "${pairs[i]}" "${pairs[i + 1]}" || { rc=125; break; }
        mounted+=("${pairs[i + 1]}")
    done
    [[ $rc != 0 ]] || chroot "$root" "${CHROOT_ENV[@]}" "$@" || rc=$?
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" || umount -l "${mounted[i]}" || true
    done
    return "$rc"
}

# Kernel release for a lab kernel ("6.12" -> "6.12.117+deb13-amd64", "6.12-debug" ->
# "6.12.117-irqlab-debug") from the set-up's state; a full release is passed through.
kernel_release() {
    local want="$1" var
    if [[ "$want" =~ ^[0-9]+\.[0-9]+(-[a-z0-9]+)?$ ]]; then
        var="K_REL_${want//[.-]/_}"
        # Built kernels keep their release in their own state file.
        [[ -n "${!var:-}" || "$want" != *-* ]] || load_state "kernel-$want" 2>/dev/null || true
        if [[ -n "${!var:-}" ]]; then printf '%s\n' "${!var}"; return 0; fi
    fi
    printf '%s\n' "$want"
}

# The folder a module for this lab kernel (name or release) builds against, as the build
# root sees it: Debian's headers package for a stock kernel, the kept build tree for one
# of ours (reachable through $LINUX_BIND).
kernel_headers() {
    local rel name
    rel="$(kernel_release "$1")"
    for name in "${OWN_KERNELS[@]}"; do
        if [[ "$1" == "$name" || "$rel" == "$(kernel_release "$name")" ]]; then
            printf '%s\n' "$LINUX_MNT/build/$name"
            return 0
        fi
    done
    printf '%s\n' "/usr/src/linux-headers-$rel"
}
