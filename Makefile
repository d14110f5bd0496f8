# irqlab: `make demo` and `make test` each do their own set-up (npm packages,
# QEMU 11.1 and Debian guest kernels unpacked under $IRQLAB_HOME, the guest
# module built for each kernel). Nothing here changes the system's apt state.
SHELL := /bin/bash
IRQLAB_HOME ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/irqlab
export IRQLAB_HOME
# Debian's kernels and the lab's debug builds of them (qemu/kconfig/lab-debug.config).
KERNELS := 6.12 7.3 6.12-debug 7.3-debug
MODULE_SRC := $(wildcard qemu/guest/*.c qemu/guest/*.h) qemu/guest/Kbuild qemu/guest/Makefile
# Example guest drivers: examples/drivers/NAME/ (with a Kbuild) builds NAME.ko.
EXAMPLE_DRIVERS := $(notdir $(patsubst %/Kbuild,%,$(wildcard examples/drivers/*/Kbuild)))
# The generic guest driver (irqlab_generic.ko): binds any device (irqlab boot --bind).
GENERIC_SRC := $(wildcard qemu/guest-generic/*.c qemu/guest-generic/*.h) qemu/guest-generic/Kbuild
MODULES := $(foreach k,$(KERNELS),$(IRQLAB_HOME)/modules/$(k)/irqlab.ko $(IRQLAB_HOME)/modules/$(k)/irqlab_generic.ko \
	$(foreach d,$(EXAMPLE_DRIVERS),$(IRQLAB_HOME)/modules/$(k)/$(d).ko))
N ?= 20000

.PHONY: all setup node lab modules kasan typecheck layers test test-fast demo bench fuzz doctor clean

all: test

setup: node lab modules

node: node_modules/.irqlab-installed
node_modules/.irqlab-installed: package.json package-lock.json
	@echo "[setup] npm: installing dependencies"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lab:
	@qemu/setup/setup.sh all

modules: $(MODULES)

# Rebuilt when the module sources change or the kernel's release does (a rebuilt debug
# kernel rewrites its release file).
$(IRQLAB_HOME)/modules/%/irqlab.ko: $(MODULE_SRC) $(IRQLAB_HOME)/kernels/%/release | lab
	@echo "[setup] guest module: building irqlab.ko for $*"
	@qemu/setup/build-module.sh $* qemu/guest $(dir $@) >/dev/null 2>$(IRQLAB_HOME)/logs/module-$*.log \
		|| { tail -20 $(IRQLAB_HOME)/logs/module-$*.log; exit 1; }

$(IRQLAB_HOME)/modules/%/irqlab_generic.ko: $(GENERIC_SRC) $(IRQLAB_HOME)/kernels/%/release | lab
	@echo "[setup] guest module: building irqlab_generic.ko for $*"
	@qemu/setup/build-module.sh $* qemu/guest-generic $(dir $@) >/dev/null 2>$(IRQLAB_HOME)/logs/generic-$*.log \
		|| { tail -20 $(IRQLAB_HOME)/logs/generic-$*.log; exit 1; }

define example_driver
$(IRQLAB_HOME)/modules/%/$(1).ko: $(wildcard examples/drivers/$(1)/*.c examples/drivers/$(1)/*.h) examples/drivers/$(1)/Kbuild $(IRQLAB_HOME)/kernels/%/release | lab
	@echo "[setup] example driver: building $(1).ko for $$*"
	@qemu/setup/build-module.sh $$* examples/drivers/$(1) $$(dir $$@) >/dev/null 2>$(IRQLAB_HOME)/logs/$(1)-$$*.log \
		|| { tail -20 $(IRQLAB_HOME)/logs/$(1)-$$*.log; exit 1; }
endef
$(foreach d,$(EXAMPLE_DRIVERS),$(eval $(call example_driver,$(d))))

$(IRQLAB_HOME)/kernels/%/release: | lab
	@true

# On demand, not part of setup: 6.12-kasan (6.12-debug with KASAN) and the guest modules for it.
kasan: setup
	@qemu/setup/setup.sh kasan
	@$(MAKE) --no-print-directory $(IRQLAB_HOME)/modules/6.12-kasan/irqlab.ko $(IRQLAB_HOME)/modules/6.12-kasan/irqlab_generic.ko

typecheck: node
	@npx tsc -p .

# No import cycle, no import from a lower layer to a higher one (ARCHITECTURE.md).
layers: node
	@node --import tsx test/layers/check.ts

# A guest that hangs in early boot under TCG (rare, seen on a loaded machine)
# is booted once more instead of failing the run; each retry is reported.
test: setup typecheck layers
	@IRQLAB_BOOT_ATTEMPTS=$${IRQLAB_BOOT_ATTEMPTS:-2} test/helpers/with-load.sh npx ava

# Unit and protocol tests only (no guest boots).
test-fast: node typecheck layers
	@npx ava test/layers test/protocol test/transport test/server test/pci test/cli/serve.test.ts test/cli/polish.test.ts test/control test/faults/faults.test.ts test/faults/late-writes.test.ts test/faults/strict.test.ts test/guest/generic-view.test.ts test/vm/kernel-modules.test.ts test/hardening test/trace test/epf/device.test.ts test/epf/transfers.test.ts test/epf/errors.test.ts test/epf/conformance.test.ts test/epf/results.test.ts test/epf/cli.test.ts test/dma/pieces.test.ts test/dma/ordering.test.ts test/dma/helpers.test.ts test/dma/example-device.test.ts

demo: setup
	@node src/cli/bin.mjs demo

bench: setup
	@node src/cli/bin.mjs bench

fuzz: node
	@IRQLAB_FUZZ_ITERATIONS=$(N) npx ava test/hardening/fuzz.test.ts

doctor: node
	@node src/cli/bin.mjs doctor

clean:
	rm -rf node_modules
