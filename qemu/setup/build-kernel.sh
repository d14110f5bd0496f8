#!/usr/bin/env bash
# Build a guest kernel from Debian's kernel source (setup.sh linux-source) inside the trixie
# build root, out of tree, and install it laid out like the lab's stock kernels.
#
# Usage: qemu/setup/build-kernel.sh [--force|--check] NAME SERIES FRAGMENT...
#   NAME      the lab's name for it (e.g. 6.12-debug): installed to $IRQLAB_HOME/kernels/NAME;
#             the build tree stays in $IRQLAB_HOME/linux/build/NAME (modules build against it)
#   SERIES    the source tree: 6.12 or 7.3
#   FRAGMENT  config fragments (qemu/kconfig/*.config), merged in order over x86_64_defconfig
#             and kvm_guest.config, then olddefconfig; every option they set is checked in
#             the final .config
#   --force   build from scratch even if the installed kernel is up to date
#   --check   build nothing: exit 0 if the installed kernel is up to date, 1 if not
# Nothing is done when the installed kernel was built from these fragments, this source
# version and this recipe. Progress goes to stderr every ~20 s; kbuild's output to
# $IRQLAB_HOME/logs/kernel-NAME.log. Runs as root (chroot).
set -euo pipefail

LOG_TAG=kernel
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Bumped when this recipe changes in a way that needs a rebuild.
RECIPE=1
# Compiled objects (kbuild's "CC" lines) of a whole build, for the progress line until a
# build here has counted its own.
declare -A OBJECTS_HINT=([6.12-debug]=1870 [7.3-debug]=1900 [6.12-kasan]=1870)
# Options reported in lab.json as the checkers a kernel has on.
CHECKERS=(PROVE_LOCKING DEBUG_ATOMIC_SLEEP DEBUG_SHIRQ GENERIC_IRQ_DEBUGFS DEBUG_IRQFLAGS
    DEBUG_LIST SOFTLOCKUP_DETECTOR DETECT_HUNG_TASK WQ_WATCHDOG KASAN DEBUG_OBJECTS DEBUG_PAGEALLOC)

FORCE=0 CHECK=0
case "${1:-}" in
    --force) FORCE=1; shift ;;
    --check) CHECK=1; shift ;;
esac
[[ $# -ge 3 ]] || { usage >&2; exit 2; }
NAME="$1" SERIES="$2"; shift 2
FRAGMENTS=()
for f in "$@"; do
    [[ -f "$f" ]] || die "config fragment '$f' does not exist"
    FRAGMENTS+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
done
[[ "$NAME" =~ ^[0-9]+\.[0-9]+-[a-z0-9]+$ ]] || die "kernel name '$NAME' should look like SERIES-VARIANT (6.12-debug)"
[[ "$(id -u)" == 0 ]] || die "run as root (the build runs in a chroot)"
load_state buildroot 2>/dev/null || die "no build root in $IRQLAB_HOME: run qemu/setup/setup.sh buildroot first"
load_state linux-source 2>/dev/null || die "no kernel sources in $IRQLAB_HOME: run qemu/setup/setup.sh linux-source first"
BR="$IRQLAB_HOME/buildroot"
SRC_VER_VAR="SRC_VER_${SERIES//./_}"
SRC_VER="${!SRC_VER_VAR:-}"
[[ -n "$SRC_VER" && -f "$LINUX_HOME/src/$SERIES/Makefile" ]] || die "no $SERIES source tree (have: ${KERNEL_SERIES[*]})"

STATE="kernel-$NAME"
SVAR="${NAME//[.-]/_}"
OUT="$IRQLAB_HOME/kernels/$NAME"
B="$LINUX_HOME/build/$NAME"                 # the build tree, on the host
IB="$LINUX_MNT/build/$NAME"                 # ... and as the build root sees it
IS="$LINUX_MNT/src/$SERIES"
LOG="$LOG_DIR/kernel-$NAME.log"
mkdir -p "$LOG_DIR" "$LINUX_HOME/build"
# What the build depends on: a change rebuilds. Of the fragments, only their options count
# (a reworded comment rebuilds nothing).
KEY="recipe=$RECIPE source=$SRC_VER fragments=$(grep -hE '^(CONFIG_|# CONFIG_[A-Za-z0-9_]+ is not set)' "${FRAGMENTS[@]}" | sha256sum | cut -c1-16)"

if [[ $FORCE == 0 ]] && load_state "$STATE" 2>/dev/null && [[ "${KB_KEY:-}" == "$KEY" ]]; then
    rel_var="K_REL_$SVAR"
    if [[ -f "$OUT/vmlinuz" && -d "$OUT/lib/modules/${!rel_var:-none}" && -f "$B/Module.symvers" ]]; then
        [[ $CHECK == 1 ]] || say "$NAME: up to date (${!rel_var})"
        exit 0
    fi
fi
[[ $CHECK == 0 ]] || exit 1

T0=$(now_ms)
: >"$LOG"
# A new source version (or --force) starts from an empty tree: kbuild decides what to
# rebuild from timestamps, and an unpacked tarball's files are older than our objects.
# Changed fragments alone rebuild incrementally (kbuild tracks each object's options).
if [[ $FORCE == 1 || "$(cat "$B/.irqlab-source" 2>/dev/null)" != "$SRC_VER" ]]; then
    rm -rf "$B"
fi
SCRATCH=1
[[ -f "$B/vmlinux" ]] && SCRATCH=0
mkdir -p "$B/irqlab-fragments"
printf '%s\n' "$SRC_VER" >"$B/.irqlab-source"
FRAGS_IN=()
i=0
for f in "${FRAGMENTS[@]}"; do
    cp "$f" "$B/irqlab-fragments/$i-$(basename "$f")"
    FRAGS_IN+=("$IB/irqlab-fragments/$i-$(basename "$f")")
    i=$((i + 1))
done

CHROOT_BINDS=("$LINUX_BIND")
kmake() { logrun "$LOG" chroot_run "$BR" make -C "$IS" O="$IB" "$@"; }

# ---- configuration -------------------------------------------------------------------
say "$NAME: configuring from linux-source-$SERIES $SRC_VER (x86_64_defconfig + kvm_guest.config + ${FRAGMENTS[*]##*/})..."
kmake x86_64_defconfig || die "$NAME: make x86_64_defconfig failed" "$LOG"
logrun "$LOG" chroot_run "$BR" /bin/sh "$IS/scripts/kconfig/merge_config.sh" -m -O "$IB" \
    "$IB/.config" "$IS/kernel/configs/kvm_guest.config" "${FRAGS_IN[@]}" \
    || die "$NAME: merging the config fragments failed" "$LOG"
kmake olddefconfig || die "$NAME: make olddefconfig failed" "$LOG"

# Every option the fragments set (the last fragment wins) must be so in .config: Kconfig
# drops an option whose dependencies are not met without a word.
# shellcheck disable=SC2016
missing="$(awk -v cfg="$B/.config" '
    function opt(line, kv) {
        if (match(line, /^# CONFIG_[A-Za-z0-9_]+ is not set$/)) { kv[1] = $2; kv[2] = "n"; return 1 }
        if (match(line, /^CONFIG_[A-Za-z0-9_]+=/)) {
            kv[1] = substr(line, 1, index(line, "=") - 1); kv[2] = substr(line, index(line, "=") + 1)
            return 1
        }
        return 0
    }
    { if (!opt($0, kv)) next
      if (FILENAME == cfg) got[kv[1]] = kv[2]; else { want[kv[1]] = kv[2]; src[kv[1]] = FILENAME } }
    END {
        for (o in want) {
            g = (o in got) ? got[o] : "n"
            if (g != want[o]) printf "  %s: wanted %s, got %s (%s)\n", o, want[o], (g == "n" ? "not set" : g), src[o]
        }
    }' "${FRAGMENTS[@]}" "$B/.config" | sort)"
if [[ -n "$missing" ]]; then
    printf '%s\n' "$missing" >>"$LOG"
    die "$NAME: the final .config differs from the fragments (a dependency is missing or the option is gone in $SERIES):
$missing"
fi

# ---- build ---------------------------------------------------------------------------
objects_var="KB_OBJECTS_$SVAR"
load_state "$STATE" 2>/dev/null || true
expect="${!objects_var:-${OBJECTS_HINT[$NAME]:-3000}}"
# The progress line: objects compiled so far against the count of the last full build.
progress() {
    local n phase
    while sleep 20; do
        n=$(grep -c '^  CC' "$LOG" || true)
        # make -j2 works on the image and the modules side by side: name the latest milestone.
        if grep -q 'bzImage is ready' "$LOG"; then phase="bzImage done, finishing the modules"
        elif grep -q '^  LD      vmlinux' "$LOG"; then phase="linking vmlinux"
        else phase="compiling"
        fi
        if [[ $n -le $expect ]]; then
            say "$NAME: $phase: $n/$expect objects ($((n * 100 / expect))%), $(elapsed "$T0") s"
        else
            say "$NAME: $phase: $n objects (about $expect expected), $(elapsed "$T0") s"
        fi
    done
}
jobs=$(nproc); [[ $jobs -le 2 ]] || jobs=2
if [[ $SCRATCH == 1 ]]; then
    say "$NAME: building bzImage and modules (make -j$jobs; about $expect objects; log: $LOG)..."
else
    say "$NAME: rebuilding what the new options touch in the kept tree (make -j$jobs; at most $expect objects; log: $LOG)..."
fi
progress &
PROGRESS_PID=$!
trap 'kill "$PROGRESS_PID" 2>/dev/null || true' EXIT
if ! kmake -j"$jobs" bzImage modules; then
    die "$NAME: the kernel build failed" "$LOG"
fi
kill "$PROGRESS_PID" 2>/dev/null || true
wait "$PROGRESS_PID" 2>/dev/null || true
compiled=$(grep -c '^  CC' "$LOG" || true)
# The count of a whole build is what later progress lines measure against.
objects="$compiled"
[[ $SCRATCH == 1 ]] || objects="$expect"

# ---- install -------------------------------------------------------------------------
REL="$(cat "$B/include/config/kernel.release")"
NEW="$OUT.new"
rm -rf "$NEW"
mkdir -p "$NEW"
say "$NAME: installing $REL (modules_install, depmod)..."
CHROOT_BINDS=("$LINUX_BIND" "$NEW:/irqlab/install")
kmake INSTALL_MOD_PATH=/irqlab/install INSTALL_MOD_STRIP=1 modules_install \
    || die "$NAME: modules_install failed" "$LOG"
# modules_install links build/ to the build tree as the build root sees it: dangling here.
rm -f "$NEW/lib/modules/$REL/build" "$NEW/lib/modules/$REL/source"
[[ -f "$NEW/lib/modules/$REL/modules.dep" ]] || die "$NAME: no modules.dep after modules_install" "$LOG"
cp "$B/arch/x86/boot/bzImage" "$NEW/vmlinuz"
cp "$B/.config" "$NEW/config"
cp "$B/System.map" "$NEW/System.map"
printf '%s\n' "$REL" >"$NEW/release"
rm -rf "$OUT"
mv "$NEW" "$OUT"

checkers=()
for c in "${CHECKERS[@]}"; do grep -qx "CONFIG_$c=y" "$OUT/config" && checkers+=("$c"); done
{
    state_line KB_KEY "$KEY"
    state_line "K_REL_$SVAR" "$REL"
    state_line "KB_OBJECTS_$SVAR" "$objects"
    state_line "KB_SECONDS_$SVAR" "$(elapsed "$T0")"
    state_line "KB_CHECKERS_$SVAR" "${checkers[*]}"
} | write_state "$STATE"
say "$NAME: ready: $REL in $(elapsed "$T0") s ($compiled objects compiled; checkers: ${checkers[*]})"
