# shellcheck shell=bash
# setup.sh step (sourced by setup.sh, not run):
#   pciutils  lspci and setpci for the guests, from trixie's pciutils package: the two
#             programs, the shared libraries they load and the loader (ld.so) of the
#             same glibc, and pci.ids, laid out as they sit in a Debian root under
#             $IRQLAB_HOME/pciutils/root, and packed once as an initramfs part
#             (pciutils.cpio.gz) that a boot appends to its own archive.
# Debian has no static build of pciutils, so the libraries come along.

PCIUTILS_HOME="$IRQLAB_HOME/pciutils"
PCIUTILS_ROOT="$PCIUTILS_HOME/root"
PCIUTILS_ARCHIVE="$PCIUTILS_HOME/pciutils.cpio.gz"
PCIUTILS_PROGRAMS=(lspci setpci)
LIBDIR=usr/lib/x86_64-linux-gnu

pciutils_cached() {
    load_state pciutils 2>/dev/null || return 1
    local p
    for p in "${PCIUTILS_PROGRAMS[@]}"; do [[ -x "$PCIUTILS_ROOT/usr/bin/$p" ]] || return 1; done
    [[ -x "$PCIUTILS_ROOT/lib64/ld-linux-x86-64.so.2" && -s "$PCIUTILS_ARCHIVE" ]]
}

step_pciutils() {
    if ! wants_refresh pciutils && pciutils_cached; then
        CACHED+=("pciutils $PCIUTILS_VERSION"); return 0
    fi
    local t0 log="$LOG_DIR/pciutils.log" ver dir="$DEB_DIR/pciutils" unpacked="$PCIUTILS_HOME/unpacked"
    local new="$PCIUTILS_ROOT.new" p lib libs
    t0=$(now_ms); : >"$log"
    apt_lists
    ver="$(suite_version pciutils trixie)"
    [[ -n "$ver" ]] || die "pciutils: pciutils not found in trixie" "$log"
    # The whole closure (the empty status file): glibc and every library as trixie built them.
    apt_fetch pciutils "$log" install -t trixie "pciutils=$ver"
    say "pciutils: unpacking..."
    rm -rf "$unpacked" "$new"
    unpack_debs "$log" "$unpacked" "$dir"/*.deb || die "pciutils: unpacking failed" "$log"
    local ldso="$unpacked/$LIBDIR/ld-linux-x86-64.so.2"
    [[ -x "$ldso" ]] || die "pciutils: no ld.so in the unpacked libc6" "$log"
    mkdir -p "$new/usr/bin" "$new/$LIBDIR" "$new/lib64" "$new/usr/share/misc"
    for p in "${PCIUTILS_PROGRAMS[@]}"; do
        [[ -x "$unpacked/usr/bin/$p" ]] || die "pciutils: no usr/bin/$p in the package" "$log"
        cp "$unpacked/usr/bin/$p" "$new/usr/bin/$p"
        # The libraries it loads, as its own loader resolves them (not the host's).
        libs="$("$ldso" --library-path "$unpacked/$LIBDIR" --list "$unpacked/usr/bin/$p" 2>>"$log")" \
            || die "pciutils: cannot list the libraries of $p" "$log"
        printf '%s\n' "$libs" >>"$log"
        while read -r lib; do
            [[ -n "$lib" ]] && cp -L "$lib" "$new/$LIBDIR/"
        done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$libs")
    done
    cp -L "$ldso" "$new/$LIBDIR/ld-linux-x86-64.so.2"
    # Where the programs' PT_INTERP points on x86-64.
    ln -s "../$LIBDIR/ld-linux-x86-64.so.2" "$new/lib64/ld-linux-x86-64.so.2"
    # merged /usr: Debian's ld.so looks in /lib/x86_64-linux-gnu too; one link covers both.
    ln -s usr/lib "$new/lib"
    cp -L "$unpacked/usr/share/misc/pci.ids" "$new/usr/share/misc/pci.ids" 2>/dev/null \
        || cp -L "$unpacked"/usr/share/misc/pci.ids* "$new/usr/share/misc/" \
        || die "pciutils: no pci.ids in the closure" "$log"
    # It must run: through its own loader, against its own libraries.
    "$ldso" --library-path "$new/$LIBDIR" "$new/usr/bin/lspci" --version >>"$log" 2>&1 \
        || die "pciutils: the copied lspci does not run" "$log"
    rm -rf "$PCIUTILS_ROOT" "$unpacked"
    mv "$new" "$PCIUTILS_ROOT"
    "$IRQLAB_REPO/qemu/initramfs/build.sh" --busybox "$BUSYBOX_BIN" --no-base --overlay "$PCIUTILS_ROOT" "$PCIUTILS_ARCHIVE" >>"$log" 2>&1 \
        || die "pciutils: cannot pack the initramfs part" "$log"
    PCIUTILS_VERSION="$(sed -E 's/^[0-9]+://; s/-[^-]*$//' <<<"$ver")"
    { state_line PCIUTILS_VERSION "$PCIUTILS_VERSION"; state_line PCIUTILS_DEB_VERSION "$ver"; } | write_state pciutils
    rm -rf "$dir"
    say "pciutils: ready ($PCIUTILS_VERSION, $(du -sh "$PCIUTILS_ROOT" | cut -f1)) in $(elapsed "$t0") s"
}
