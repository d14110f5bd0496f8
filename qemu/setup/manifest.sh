# shellcheck shell=bash
# $IRQLAB_HOME/lab.json: what the lab has and where, read by src/vm/lab.ts (sourced by
# setup.sh, not run). Written only when every step is done.

json_str() { local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"; }

# json_obj KEY VALUE...: {"KEY":VALUE,...}; values are JSON already.
json_obj() {
    local sep=''
    printf '{'
    while [[ $# -ge 2 ]]; do
        printf '%s%s:%s' "$sep" "$(json_str "$1")" "$2"
        sep=','
        shift 2
    done
    printf '}'
}

# json_list WORD...: ["WORD",...]
json_list() {
    local sep='' w
    printf '['
    for w in "$@"; do printf '%s%s' "$sep" "$(json_str "$w")"; sep=','; done
    printf ']'
}

# One kernel's entry: the same layout for Debian's kernels and ours. Ours also say which
# checkers they have on and where their build tree (their "headers") is.
manifest_kernel() {
    local s="$1" rel k="$KERNEL_HOME/$1" checkers
    rel="$(kernel_release "$s")"
    local -a extra=()
    if [[ "$s" == *-* ]]; then
        checkers="KB_CHECKERS_${s//[.-]/_}"
        # shellcheck disable=SC2086  # a list of words
        extra=(debug "$(json_obj checkers "$(json_list ${!checkers})")" build "$(json_str "$LINUX_HOME/build/$s")")
    fi
    json_obj release "$(json_str "$rel")" vmlinuz "$(json_str "$k/vmlinuz")" \
        config "$(json_str "$k/config")" systemMap "$(json_str "$k/System.map")" \
        modules "$(json_str "$k/lib/modules/$rel")" "${extra[@]}"
}

write_manifest() {
    local s v out="$IRQLAB_HOME/lab.json"
    local -a kernels=() headers=() sources=() epmods=()
    local step
    for step in "${ALL_STEPS[@]}"; do
        [[ $step == debug ]] && continue
        load_state "$step" 2>/dev/null || return 1
    done
    for s in "${DEBUG_KERNELS[@]}"; do load_state "kernel-$s" 2>/dev/null || return 1; done
    for s in "${KERNEL_SERIES[@]}"; do
        kernels+=("$s" "$(manifest_kernel "$s")")
        headers+=("$s" "$(json_str "/usr/src/linux-headers-$(kernel_release "$s")")")
        v="$(svar SRC_VER "$s")"
        sources+=("$s" "$(json_obj version "$(json_str "${!v}")" path "$(json_str "$LINUX_SRC/$s")")")
        epmods+=("$s" "$(json_str "$ENDPOINT_HOME/$s/pci_endpoint_test.ko")")
    done
    # The on-demand kernels, when they were built.
    local -a ours=("${DEBUG_KERNELS[@]}")
    for s in "${KASAN_KERNELS[@]}"; do
        load_state "kernel-$s" 2>/dev/null && [[ -f "$KERNEL_HOME/$s/vmlinuz" ]] && ours+=("$s")
    done
    for s in "${ours[@]}"; do
        kernels+=("$s" "$(manifest_kernel "$s")")
        # In-tree in our kernels (CONFIG_PCI_ENDPOINT_TEST=m).
        epmods+=("$s" "$(json_str "$KERNEL_HOME/$s/lib/modules/$(kernel_release "$s")/kernel/drivers/misc/pci_endpoint_test.ko")")
    done
    {
        json_obj version 1 \
            qemu "$(json_obj bin "$(json_str "$QEMU_BIN")" version "$(json_str "$QEMU_VERSION")")" \
            kernels "$(json_obj "${kernels[@]}")" \
            busybox "$(json_str "$BUSYBOX_BIN")" \
            buildroot "$(json_obj path "$(json_str "$BUILDROOT")" headers "$(json_obj "${headers[@]}")")" \
            initramfs "$(json_obj builder "$(json_str "$IRQLAB_REPO/qemu/initramfs/build.sh")")" \
            sources "$(json_obj "${sources[@]}")" \
            endpoint "$(json_obj modules "$(json_obj "${epmods[@]}")" \
                pcitest "$(json_str "$ENDPOINT_HOME/bin/pcitest")" \
                pcitestScript "$(json_str "$ENDPOINT_HOME/bin/pcitest.sh")" \
                kselftest "$(json_str "$ENDPOINT_HOME/bin/pci_endpoint_test")")"
        printf '\n'
    } >"$out.tmp"
    mv -f "$out.tmp" "$out"
}
