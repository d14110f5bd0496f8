#!/usr/bin/env bash
# Prove the lab works end to end: for each guest kernel, build a trivial module in the build
# root, pack it with an init.sh into an initramfs (qemu/initramfs/build.sh), boot it under
# TCG with the unpacked QEMU, with and without a vIOMMU doing interrupt remapping, and check
# what the guest reports. Prints a table; exits non-zero if any boot is not ok.
#
# Usage: qemu/setup/selftest.sh [--timeout SECONDS] [KERNEL...]   (after qemu/setup/setup.sh all)
#   KERNEL  lab kernels to boot (default: all of them: 6.12 7.3 6.12-debug 7.3-debug)
set -euo pipefail

LOG_TAG=selftest
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT=120
KERNELS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --timeout) TIMEOUT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown argument $1" ;;
        *) KERNELS+=("$1"); shift ;;
    esac
done
[[ ${#KERNELS[@]} -gt 0 ]] || KERNELS=("${KERNEL_SERIES[@]}" "${DEBUG_KERNELS[@]}")

LAB="$IRQLAB_HOME/lab.json"
[[ -f "$LAB" ]] || die "no $LAB: run qemu/setup/setup.sh all first"
for s in qemu kernels buildroot busybox; do
    load_state "$s" || die "setup step '$s' not done: run qemu/setup/setup.sh all"
done
QEMU="$IRQLAB_HOME/bin/qemu-system-x86_64"
BUILDER="$IRQLAB_REPO/qemu/initramfs/build.sh"

# The manifest is what the TypeScript side reads: check its shape and that it points at
# real files (with node, which the project has; skipped without it).
if command -v node >/dev/null; then
    node -e '
        const lab = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const fs = require("fs"), bad = [];
        const need = (p, what) => { if (typeof p !== "string" || !fs.existsSync(p)) bad.push(what + ": " + p); };
        if (lab.version !== 1) bad.push("version");
        need(lab.qemu.bin, "qemu.bin"); need(lab.busybox, "busybox"); need(lab.initramfs.builder, "initramfs.builder");
        need(lab.buildroot.path, "buildroot.path");
        for (const [s, k] of Object.entries(lab.kernels)) {
            for (const f of ["vmlinuz", "config", "systemMap", "modules"]) need(k[f], s + "." + f);
            // Debian kernels build modules against headers in the build root, ours
            // against their kept build tree.
            if (k.build) need(k.build + "/Module.symvers", s + ".build");
            else need(lab.buildroot.path + lab.buildroot.headers[s], "buildroot.headers." + s);
            need(lab.endpoint.modules[s], "endpoint.modules." + s);
        }
        if (bad.length) { console.error("lab.json: " + bad.join(", ")); process.exit(1); }
    ' "$LAB" || die "lab.json is inconsistent"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/irqlab-selftest.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/hello" "$LOG_DIR"
cat >"$TMP/hello/hello.c" <<'EOF'
#include <linux/module.h>
#include <linux/init.h>
static int __init hello_init(void) { pr_info("irqlab selftest: hello\n"); return 0; }
static void __exit hello_exit(void) { }
module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
EOF
echo 'obj-m := hello.o' >"$TMP/hello/Kbuild"
# The guest side: report kernel, module load and interrupt remapping, then power off.
cat >"$TMP/init.sh" <<'EOF'
#!/bin/sh
echo "IRQLAB-SELFTEST kernel=$(uname -r)"
if insmod /irqlab/hello.ko 2>/dev/null && grep -q '^hello ' /proc/modules; then
    echo "IRQLAB-SELFTEST module=ok"
else
    echo "IRQLAB-SELFTEST module=fail"
fi
if dmesg | grep -q 'Enabled IRQ remapping'; then echo "IRQLAB-SELFTEST ir=on"; else echo "IRQLAB-SELFTEST ir=off"; fi
[ -d /sys/kernel/debug/x86 ] && echo "IRQLAB-SELFTEST debugfs=ok"
echo "IRQLAB-SELFTEST end"
poweroff -f
EOF

say "QEMU $QEMU_VERSION ($QEMU); timeout ${TIMEOUT} s a boot"
rows=() failed=0
for s in "${KERNELS[@]}"; do
    rel="$(kernel_release "$s")"
    [[ "$rel" != "$s" ]] || die "'$s' is not a kernel of this lab (${KERNEL_SERIES[*]} ${DEBUG_KERNELS[*]})"
    t0=$(now_ms)
    "$IRQLAB_SETUP_DIR/build-module.sh" "$rel" "$TMP/hello" "$TMP/ko-$s" \
        >/dev/null 2>"$LOG_DIR/selftest-build-$s.log" \
        || die "building the test module for $rel failed" "$LOG_DIR/selftest-build-$s.log"
    build_s="$(elapsed "$t0")"
    "$BUILDER" "$TMP/initrd-$s.cpio.gz" "$TMP/init.sh:/irqlab/init.sh" "$TMP/ko-$s/hello.ko" \
        || die "building the initramfs for $rel failed"
    for iommu in off on; do
        log="$LOG_DIR/selftest-$s-iommu-$iommu.log"
        dev=()
        # shellcheck disable=SC2054  # the comma belongs to QEMU's option syntax
        [[ $iommu == on ]] && dev=(-device intel-iommu,intremap=on)
        t0=$(now_ms)
        rc=0
        timeout "$TIMEOUT" "$QEMU" -accel tcg -machine q35 -cpu max -m 512 -nographic -nic none \
            -no-reboot "${dev[@]}" -kernel "$IRQLAB_HOME/kernels/$s/vmlinuz" \
            -initrd "$TMP/initrd-$s.cpio.gz" -append "console=ttyS0 quiet panic=-1" \
            </dev/null >"$log" 2>&1 || rc=$?
        boot_s="$(elapsed "$t0")"
        out="$(tr -d '\r' <"$log")"
        # Not anchored: the first marker can follow SeaBIOS's escape codes on its line.
        got() { grep -qF -- "IRQLAB-SELFTEST $1" <<<"$out"; }
        ok=ok why=()
        [[ $rc == 0 ]] || why+=("qemu rc=$rc")
        got "kernel=$rel" || why+=("kernel")
        got "module=ok" || why+=("module")
        got "ir=$iommu" || why+=("ir")
        got "debugfs=ok" || why+=("debugfs")
        got "end" || why+=("no end marker")
        if [[ ${#why[@]} -gt 0 ]]; then ok="FAIL(${why[*]}; $log)"; failed=1; fi
        mod=fail; got "module=ok" && mod=ok
        ir=off; got "ir=on" && ir=on
        rows+=("$(printf '%-11s %-24s %-6s %-7s %-7s %-9s %s' "$s" "$rel" "$iommu" "$boot_s" "$mod" "$ir" "$ok")")
    done
    say "$s: test module built in $build_s s"
done
printf '%-11s %-24s %-6s %-7s %-7s %-9s %s\n' kernel release iommu boot_s module irremap ok
printf '%s\n' "${rows[@]}"
[[ $failed == 0 ]] || die "some boots failed (serial logs in $LOG_DIR/selftest-*.log)"
