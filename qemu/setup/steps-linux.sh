# shellcheck shell=bash
# setup.sh steps that use Debian's kernel sources (sourced by setup.sh, not run):
#   linux-source  linux-source-<series> of the exact Debian version of each stock kernel,
#                 unpacked to $LINUX_HOME/src/<series> (read, never built in)
#   endpoint      the kernel's PCI endpoint test tools for the lab's guests:
#                 pci_endpoint_test.ko for each stock kernel (Debian does not build it),
#                 pcitest (6.12's tools/pci) and the pci_endpoint kselftest (7.3), static

LINUX_SRC="$LINUX_HOME/src"
ENDPOINT_HOME="$IRQLAB_HOME/endpoint"
# The series whose tools are built: tools/pci left the tree after 6.12 (replaced by the
# kselftest, which 6.12 does not have yet).
PCITEST_SERIES=6.12
KSELFTEST_SERIES=7.3
# Bumped when the endpoint recipe changes, so that a cached build is redone.
ENDPOINT_RECIPE=1

svar() { printf '%s_%s' "$1" "${2//[.-]/_}"; }   # svar SRC_VER 6.12 -> SRC_VER_6_12

linux_source_cached() {
    load_state linux-source 2>/dev/null || return 1
    local s v f
    for s in "${KERNEL_SERIES[@]}"; do
        v="$(svar SRC_VER "$s")"; f="$(svar SRC_FOR "$s")"
        # Made for the stock kernel we have now (a refreshed kernel wants its own source).
        [[ -n "${!v:-}" && "${!f:-}" == "$(kernel_release "$s")" ]] || return 1
        [[ "$(cat "$LINUX_SRC/$s/.irqlab-source" 2>/dev/null)" == "${!v}" ]] || return 1
    done
}

# The Debian version of the stock kernel of SERIES (e.g. 6.12.117-1): its source package
# must be exactly that one, so that what is built from it matches the kernel it runs on.
stock_kernel_version() {
    local s="$1" v
    v="$(suite_version "linux-image-$(kernel_release "$s")" "${KERNEL_SUITE[$s]}")"
    [[ -n "$v" ]] || return 1
    printf '%s\n' "$v"
}

# xz for the source tarballs: the host's if it has one, else the build root's.
xz_decompress() {
    if command -v xz >/dev/null; then xz -dc -T2; else chroot_run "$BUILDROOT" xz -dc; fi
}

step_linux_source() {
    if ! wants_refresh linux-source && linux_source_cached; then
        local s v list=""
        for s in "${KERNEL_SERIES[@]}"; do v="$(svar SRC_VER "$s")"; list+=" ${!v}"; done
        CACHED+=("linux-source$list"); return 0
    fi
    load_state kernels 2>/dev/null || die "linux-source: needs the kernels step first"
    local t0 log="$LOG_DIR/linux-source.log" s v i=0 failed=""
    local -a pkgs=() pids=() lines=()
    declare -A vers=()
    t0=$(now_ms); : >"$log"
    apt_lists
    for s in "${KERNEL_SERIES[@]}"; do
        v="$(stock_kernel_version "$s")" \
            || die "linux-source: linux-image-$(kernel_release "$s") is no longer in ${KERNEL_SUITE[$s]}; run: $0 --refresh kernels buildroot linux-source"
        [[ -n "$(papt apt-cache show "linux-source-$s=$v" 2>/dev/null)" ]] \
            || die "linux-source: linux-source-$s $v (the version of the $s kernel) is not in the archive; run: $0 --refresh kernels buildroot linux-source"
        vers[$s]="$v"
        pkgs+=("linux-source-$s=$v")
    done
    apt_fetch linux-source "$log" download "${pkgs[@]}"
    say "linux-source: unpacking $(for s in "${KERNEL_SERIES[@]}"; do printf '%s ' "${vers[$s]}"; done)..."
    mkdir -p "$LINUX_SRC"
    for s in "${KERNEL_SERIES[@]}"; do
        # The .deb holds usr/src/linux-source-SERIES.tar.xz: streamed out of it, never
        # written to disk as such. Both trees unpack at once (2 cores).
        (
            set -eo pipefail
            deb="$(compgen -G "$DEB_DIR/linux-source/linux-source-${s}_*.deb")"
            rm -rf "$LINUX_SRC/$s.new"; mkdir -p "$LINUX_SRC/$s.new"
            dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/linux-source-$s.tar.xz" | xz_decompress \
                | tar -x --no-same-owner --strip-components=1 -C "$LINUX_SRC/$s.new"
            [[ -f "$LINUX_SRC/$s.new/Makefile" ]] || { echo "no Makefile in linux-source-$s"; exit 1; }
        ) >"$log.$s" 2>&1 &
        pids+=($!)
    done
    for s in "${KERNEL_SERIES[@]}"; do
        wait "${pids[$i]}" || failed+=" $s"
        cat "$log.$s" >>"$log"; rm -f "$log.$s"
        i=$((i + 1))
    done
    [[ -z "$failed" ]] || die "linux-source: unpacking failed for$failed" "$log"
    for s in "${KERNEL_SERIES[@]}"; do
        printf '%s\n' "${vers[$s]}" >"$LINUX_SRC/$s.new/.irqlab-source"
        rm -rf "${LINUX_SRC:?}/$s"
        mv "$LINUX_SRC/$s.new" "$LINUX_SRC/$s"
        lines+=("$(state_line "$(svar SRC_VER "$s")" "${vers[$s]}")" \
                "$(state_line "$(svar SRC_FOR "$s")" "$(kernel_release "$s")")")
    done
    printf '%s\n' "${lines[@]}" | write_state linux-source
    rm -rf "$DEB_DIR/linux-source"
    say "linux-source: ready in $(elapsed "$t0") s ($(du -sh "$LINUX_SRC" | cut -f1) in $LINUX_SRC)"
}

# --------------------------------------------------------------------------------------
# endpoint
# --------------------------------------------------------------------------------------
endpoint_key() {
    local s v
    printf 'recipe=%s' "$ENDPOINT_RECIPE"
    for s in "${KERNEL_SERIES[@]}"; do
        v="$(svar SRC_VER "$s")"
        printf ' %s=%s:%s' "$s" "$(kernel_release "$s")" "${!v:-}"
    done
}

endpoint_cached() {
    load_state linux-source 2>/dev/null && load_state endpoint 2>/dev/null || return 1
    [[ "${EP_KEY:-}" == "$(endpoint_key)" ]] || return 1
    local s
    for s in "${KERNEL_SERIES[@]}"; do [[ -f "$ENDPOINT_HOME/$s/pci_endpoint_test.ko" ]] || return 1; done
    [[ -x "$ENDPOINT_HOME/bin/pcitest" && -x "$ENDPOINT_HOME/bin/pci_endpoint_test" ]]
}

step_endpoint() {
    if ! wants_refresh endpoint && endpoint_cached; then
        CACHED+=("endpoint"); return 0
    fi
    load_state linux-source 2>/dev/null && load_state buildroot 2>/dev/null \
        || die "endpoint: needs the buildroot and linux-source steps first"
    local t0 log="$LOG_DIR/endpoint.log" s work="$LINUX_HOME/build/endpoint" new="$ENDPOINT_HOME.new"
    t0=$(now_ms); : >"$log"
    rm -rf "$work" "$new"
    mkdir -p "$work" "$new/bin"
    say "endpoint: building pci_endpoint_test.ko for ${KERNEL_SERIES[*]}, pcitest ($PCITEST_SERIES) and the pci_endpoint kselftest ($KSELFTEST_SERIES)..."
    # The driver out of tree, against the headers of the exact stock kernel (the same
    # Debian version as the source it comes from).
    for s in "${KERNEL_SERIES[@]}"; do
        mkdir -p "$work/module-$s"
        cp "$LINUX_SRC/$s/drivers/misc/pci_endpoint_test.c" "$work/module-$s/"
        echo 'obj-m := pci_endpoint_test.o' >"$work/module-$s/Kbuild"
        logrun "$log" "$IRQLAB_SETUP_DIR/build-module.sh" "$s" "$work/module-$s" "$new/$s" \
            || die "endpoint: pci_endpoint_test.ko does not build for $s" "$log"
    done
    # The programs are linked statically: the guest is busybox and has no libc. They are
    # built by the trees' own makefiles, with objects in $work (the sources stay clean).
    local -a CHROOT_BINDS=("$LINUX_BIND")
    local inner="$LINUX_MNT/build/endpoint"
    mkdir -p "$work/pcitest" "$work/kselftest"
    logrun "$log" chroot_run "$BUILDROOT" make -C "$LINUX_MNT/src/$PCITEST_SERIES/tools/pci" \
        OUTPUT="$inner/pcitest/" CC="gcc -static" \
        || die "endpoint: pcitest does not build" "$log"
    # KHDR_INCLUDES: the kselftest wants installed uapi headers; the build root's
    # linux-libc-dev has them (pcitest.h itself is included from the tree by path).
    logrun "$log" chroot_run "$BUILDROOT" make -C "$LINUX_MNT/src/$KSELFTEST_SERIES/tools/testing/selftests/pci_endpoint" \
        OUTPUT="$inner/kselftest" CC="gcc -static" KHDR_INCLUDES="-isystem /usr/include" \
        || die "endpoint: the pci_endpoint kselftest does not build" "$log"
    # Stripped: they go into every initramfs that uses them (no host strip on Debian 12).
    logrun "$log" chroot_run "$BUILDROOT" strip "$inner/pcitest/pcitest" "$inner/kselftest/pci_endpoint_test" \
        || die "endpoint: strip failed" "$log"
    cp "$work/pcitest/pcitest" "$work/kselftest/pci_endpoint_test" "$new/bin/"
    # pcitest.sh is the tree's own list of pcitest runs (BARs, interrupts, transfers).
    cp "$LINUX_SRC/$PCITEST_SERIES/tools/pci/pcitest.sh" "$new/bin/"
    rm -rf "$ENDPOINT_HOME"
    mv "$new" "$ENDPOINT_HOME"
    rm -rf "$work"
    state_line EP_KEY "$(endpoint_key)" | write_state endpoint
    say "endpoint: ready in $(elapsed "$t0") s ($ENDPOINT_HOME)"
}

# --------------------------------------------------------------------------------------
# debug: the lab's debug kernels (6.12-debug, 7.3-debug)
# --------------------------------------------------------------------------------------
DEBUG_FRAGMENT="$IRQLAB_REPO/qemu/kconfig/lab-debug.config"

# build-kernel.sh keeps each kernel's own state (kernel-NAME.env) and decides whether it is
# up to date (same fragment, same Debian source, same recipe).
step_debug() {
    local name t0 todo=()
    for name in "${DEBUG_KERNELS[@]}"; do
        if wants_refresh debug || ! "$IRQLAB_SETUP_DIR/build-kernel.sh" --check "$name" "${name%%-*}" "$DEBUG_FRAGMENT"; then
            todo+=("$name")
        fi
    done
    if [[ ${#todo[@]} == 0 ]]; then
        CACHED+=("debug kernels$(for name in "${DEBUG_KERNELS[@]}"; do printf ' %s' "$(kernel_release "$name")"; done)")
        return 0
    fi
    t0=$(now_ms)
    local -a force=()
    wants_refresh debug && force=(--force)
    # One after the other: each uses both cores.
    for name in "${todo[@]}"; do
        "$IRQLAB_SETUP_DIR/build-kernel.sh" "${force[@]}" "$name" "${name%%-*}" "$DEBUG_FRAGMENT" || exit 1
    done
    say "debug: ${todo[*]} ready in $(elapsed "$t0") s"
}

# --------------------------------------------------------------------------------------
# kasan (on demand, not part of all): 6.12-debug with KASAN on top
# --------------------------------------------------------------------------------------
step_kasan() {
    local name="${KASAN_KERNELS[0]}" t0
    local -a args=("$name" "${name%%-*}" "$DEBUG_FRAGMENT" "$IRQLAB_REPO/qemu/kconfig/kasan.config")
    if ! wants_refresh kasan && "$IRQLAB_SETUP_DIR/build-kernel.sh" --check "${args[@]}"; then
        CACHED+=("$name $(kernel_release "$name")"); return 0
    fi
    t0=$(now_ms)
    local -a force=()
    wants_refresh kasan && force=(--force)
    "$IRQLAB_SETUP_DIR/build-kernel.sh" "${force[@]}" "${args[@]}" || exit 1
    say "kasan: $name ready in $(elapsed "$t0") s"
}
