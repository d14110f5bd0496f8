#!/usr/bin/env bash
# Build an out-of-tree kernel module for one of the lab's guest kernels, inside the trixie
# build root made by setup.sh (Debian's 6.12+ kbuild tools need glibc >= 2.38 and gcc-14,
# so they cannot run on a Debian 12 host directly).
#
# Usage: qemu/setup/build-module.sh KREL SRC_DIR OUT_DIR [MAKE_ARGS...]
#   KREL      a kernel release (6.12.117+deb13-amd64) or a lab kernel (6.12, 7.3, 6.12-debug,
#             7.3-debug, 6.12-kasan: the last three build against their kept build tree)
#   SRC_DIR   the module's sources (a Kbuild or Makefile with obj-m); copied, never written
#   OUT_DIR   receives the built .ko files (created if missing); their paths go to stdout
#   MAKE_ARGS extra arguments for make (e.g. W=1, or ccflags-y=-DDEBUG)
# kbuild's output goes to stderr. Runs as root (chroot).
set -euo pipefail

LOG_TAG=build-module
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 3 ]] || { usage >&2; exit 2; }
KREL="$1" SRC="$2" OUT="$3"; shift 3
[[ "$(id -u)" == 0 ]] || die "run as root (the build runs in a chroot)"
[[ -d "$SRC" ]] || die "source folder '$SRC' does not exist"
if ! load_state buildroot 2>/dev/null || ! load_state kernels 2>/dev/null; then
    die "no build root in $IRQLAB_HOME: run qemu/setup/setup.sh buildroot first"
fi
BR="$IRQLAB_HOME/buildroot"
REL="$(kernel_release "$KREL")"
HDR="$(kernel_headers "$KREL")"
HDR_HOST="$BR$HDR"
if [[ "$HDR" == "$LINUX_MNT"/* ]]; then
    # One of our kernels: its build tree lives outside the root.
    CHROOT_BINDS=("$LINUX_BIND")
    HDR_HOST="$LINUX_HOME${HDR#"$LINUX_MNT"}"
fi
if [[ ! -f "$HDR_HOST/Makefile" ]]; then
    have="$(find "$BR/usr/src" -maxdepth 1 -name 'linux-headers-*-amd64' -printf '%f\n' | sed 's/^linux-headers-//' | tr '\n' ' ' | sed 's/ $//')"
    for k in "${OWN_KERNELS[@]}"; do [[ -f "$LINUX_HOME/build/$k/Makefile" ]] && have+=" $k"; done
    die "no headers for '$REL' in the build root (have: ${have:-none})"
fi

# A private copy inside the root: kbuild writes objects next to the sources, and the
# chroot cannot see the caller's folder anyway.
WORK="$(mktemp -d "$BR/tmp/irqlab-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cp -a "$SRC/." "$WORK/"
# Stale objects from a build for another kernel would be linked in as they are.
find "$WORK" \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' \
    -o -name 'modules.order' -o -name 'Module.symvers' \) -delete

INNER="/tmp/$(basename "$WORK")"
if ! chroot_run "$BR" make -C "$HDR" M="$INNER" -j"$(nproc)" "$@" modules >&2; then
    die "make failed for $REL (kbuild output above)"
fi

mkdir -p "$OUT"
n=0
while IFS= read -r -d '' ko; do
    rel_path="${ko#"$WORK"/}"
    mkdir -p "$OUT/$(dirname "$rel_path")"
    cp -f "$ko" "$OUT/$rel_path"
    printf '%s\n' "$(cd "$OUT/$(dirname "$rel_path")" && pwd)/$(basename "$rel_path")"
    n=$((n + 1))
done < <(find "$WORK" -name '*.ko' -print0 | sort -z)
[[ $n -gt 0 ]] || die "the build for $REL produced no .ko (does $SRC have obj-m?)"
