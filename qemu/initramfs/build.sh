#!/usr/bin/env bash
# Build a gzip'ed cpio initramfs for the lab's guests: static busybox with a link per applet,
# /init (qemu/initramfs/init), and any extra files.
#
# Usage: qemu/initramfs/build.sh [--busybox PATH] [--overlay DIR]... [--no-base] OUT.cpio.gz [SRC[:DEST]]...
#   SRC[:DEST]  a file or folder to add; DEST is its absolute path in the guest (default
#               /irqlab/<name of SRC>; a DEST ending in / means "into that folder").
#               E.g. agent.sh:/irqlab/init.sh  build/irqlab.ko  (-> /irqlab/irqlab.ko)
#   --overlay   a tree laid over the archive's root as it is (links kept, folders merged),
#               e.g. a root with usr/bin/lspci and its libraries
#   --no-base   only the overlays and extra files: no busybox, no /init. The kernel unpacks
#               archives put one after the other, so such a part can be built once and
#               appended to each boot's archive (cat base.cpio.gz part.cpio.gz)
#   --busybox   the busybox binary (default: $IRQLAB_BUSYBOX, else
#               ${IRQLAB_HOME:-~/.cache/irqlab}/busybox/usr/bin/busybox from setup.sh)
# /init runs /irqlab/init.sh if the archive has one, else a shell on the console.
# Everything is owned by root:root with fixed timestamps, so equal inputs give equal bytes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IRQLAB_HOME="${IRQLAB_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/irqlab}"
busybox="${IRQLAB_BUSYBOX:-$IRQLAB_HOME/busybox/usr/bin/busybox}"

die() { printf '[initramfs] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }

overlays=()
base=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --busybox) [[ $# -ge 2 ]] || usage; busybox="$2"; shift 2 ;;
        --overlay) [[ $# -ge 2 ]] || usage; [[ -d "$2" ]] || die "overlay '$2' is not a folder"; overlays+=("$2"); shift 2 ;;
        --no-base) base=0; shift ;;
        --busybox=*) busybox="${1#*=}"; shift ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || usage
out="$1"; shift
# The archive is packed with busybox's cpio: it is needed either way.
[[ -x "$busybox" ]] || die "no busybox at $busybox (run qemu/setup/setup.sh busybox, or pass --busybox)"

stage="$(mktemp -d "${TMPDIR:-/tmp}/irqlab-initramfs.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

chmod 755 "$stage"
if [[ $base == 1 ]]; then
    mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,irqlab}
    chmod 1777 "$stage/tmp"
    cp "$busybox" "$stage/bin/busybox"
    chmod 755 "$stage/bin/busybox"
    # One link per applet, where busybox itself would install it (bin/sh, sbin/insmod, ...).
    while IFS= read -r applet; do
        [[ "$applet" == */* ]] || continue          # "linuxrc" and the like: not wanted
        [[ -e "$stage/$applet" ]] && continue
        # Relative link up to / ("usr/sbin/x" -> ../../bin/busybox), without forking per applet.
        dir="${applet%/*}" dots=".."
        while [[ "$dir" == */* ]]; do dots+="/.."; dir="${dir#*/}"; done
        ln -s "$dots/bin/busybox" "$stage/$applet"
    done < <("$busybox" --list-full)
    [[ -L "$stage/bin/sh" ]] || die "busybox has no sh applet"
    install -m 755 "$here/init" "$stage/init"
    # The kernel opens /dev/console before /init runs; only root can make the node (without
    # it /init still gets a console from devtmpfs, after a kernel warning).
    if [[ "$(id -u)" == 0 ]]; then
        mknod -m 600 "$stage/dev/console" c 5 1
        mknod -m 666 "$stage/dev/null" c 1 3
    fi
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
    printf 'root:x:0:\n' >"$stage/etc/group"
fi
for o in "${overlays[@]}"; do
    cp -a "$o/." "$stage/"
done

for spec in "$@"; do
    src="${spec%%:*}"
    if [[ "$spec" == *:* ]]; then dest="${spec#*:}"; else dest="/irqlab/"; fi
    [[ -e "$src" ]] || die "extra file '$src' does not exist"
    [[ "$dest" == /* ]] || die "destination '$dest' must be an absolute path"
    [[ "$dest" == */ ]] && dest="$dest$(basename "$src")"
    mkdir -p "$stage$(dirname "$dest")"
    if [[ -d "$src" ]]; then
        rm -rf "${stage:?}$dest"
        cp -a "$src" "$stage$dest"
    else
        cp -L "$src" "$stage$dest"
        # Scripts keep their mode; make init.sh runnable however it was checked out.
        [[ "$dest" == /irqlab/init.sh ]] && chmod 755 "$stage$dest"
    fi
done

# Fixed timestamps and owners, sorted names, renumbered inodes: a reproducible archive
# (not --ignore-devno: busybox then zeroes the device nodes' numbers too).
find "$stage" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth $((1 - base)) | LC_ALL=C sort \
    | "$busybox" cpio -o -H newc -R 0:0 --renumber-inodes 2>/dev/null) \
    | gzip -n -6 >"$out.tmp"
mv -f "$out.tmp" "$out"
