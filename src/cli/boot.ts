// irqlab boot: a guest against a device, with its console on this terminal.
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { referenceDevices } from '../lab/testbed.ts';
import { checkPollUs } from '../transport/poll-mode.ts';
import { loadDevice, DEFAULT_DEVICE } from '../devices/registry.ts';
import { ImsQueueDevice } from '../devices/ims-queue.ts';
import type { PciFunction } from '../pci/function.ts';
import { isLabKernel, loadLab } from '../vm/lab.ts';
import { isModuleName } from '../vm/kernel-modules.ts';
import { GENERIC_DEBUGFS } from '../guest/generic.ts';
import { checkSession, startSession } from './session.ts';
import { UsageError } from './usage.ts';

const MAX_DEVICES = 8;

const help = `usage: irqlab boot [DEVICE...] [options]

Boots a Debian guest under QEMU (TCG) against DEVICE (default ${DEFAULT_DEVICE},
or a device module, see irqlab serve --help) and connects this terminal to the
guest's console: a root shell. Ctrl-] ends the session (the guest is powered off).

Several devices share one guest, each served on its own socket from this
process (up to ${MAX_DEVICES}): irqlab boot ims-queue ims-queue examples/counter-device.ts.
Each ${DEFAULT_DEVICE} gets its own serial number, so the guest tells them apart;
a device module given twice must export a function that creates a device.

options:
  --kernel NAME|PATH      guest kernel: a lab kernel (6.12, the default; 7.3; the
                          debug builds 6.12-debug and 7.3-debug) or your bzImage
  --iommu                 add an Intel vIOMMU with interrupt remapping
  --module FILE.ko|NAME   load your module in the guest (repeatable; it is in
                          /irqlab/modules/ as well), or a module of the lab kernel
                          by name with what it needs (uio_pci_generic, vfio-pci)
  --no-module             do not load irqlab.ko (loaded for the reference device)
  --bind                  bind the generic guest driver (irqlab_generic.ko) to every
                          other device: MSI-X (else MSI, else INTx) with every vector,
                          counted in ${GENERIC_DEBUGFS}/<bdf>/irqs;
                          irqlab-poke BAR OFFSET [VALUE] reads and writes registers
  --bind-mode MODE        auto (default), msix, msi or intx
  --cpus N, --mem MiB     guest CPUs (default 2) and memory (default 512)
  --control PATH          a control socket for irqlab ctl (faults, interrupts, stats);
                          for the first DEVICE
  --trace FILE            record every message, interrupt, DMA and fault (irqlab trace FILE);
                          of the first DEVICE
  --poll-us N             poll mode for the devices' servers (see irqlab serve --help)

The guest has lspci and setpci (pciutils) and modprobe for the modules given.
`;

/** The devices named, in order; each built-in reference device with its own serial number. */
async function loadDevices(specs: string[]): Promise<PciFunction[]> {
  if (specs.length > MAX_DEVICES) throw new Error(`at most ${MAX_DEVICES} devices, got ${specs.length}`);
  const serials = referenceDevices(Math.max(1, specs.filter((s) => s === DEFAULT_DEVICE).length));
  let reference = 0;
  return Promise.all(specs.map((spec) => (spec === DEFAULT_DEVICE ? serials[reference++] : loadDevice(spec))));
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      kernel: { type: 'string', default: '6.12' },
      iommu: { type: 'boolean' },
      module: { type: 'string', multiple: true },
      'no-module': { type: 'boolean' },
      bind: { type: 'boolean' },
      'bind-mode': { type: 'string' },
      cpus: { type: 'string', default: '2' },
      mem: { type: 'string', default: '512' },
      control: { type: 'string' },
      trace: { type: 'string' },
      'poll-us': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const pollUs = values['poll-us'] === undefined ? undefined : checkPollUs(values['poll-us'], '--poll-us');
  const specs = positionals.length ? positionals : [DEFAULT_DEVICE];
  const mode = values['bind-mode'];
  if (mode !== undefined && !['auto', 'msix', 'msi', 'intx'].includes(mode)) throw new UsageError(`--bind-mode must be auto, msix, msi or intx, got ${JSON.stringify(mode)}`);
  if (mode !== undefined && !values.bind) throw new UsageError('--bind-mode goes with --bind');
  checkSession({ trace: values.trace, control: values.control, kernel: values.kernel });
  const devices = await loadDevices(specs);
  // --module: a .ko file of yours, or a module of the lab kernel by name.
  const files = (values.module ?? []).filter((m) => !isModuleName(m));
  const named = (values.module ?? []).filter(isModuleName);
  const labKernel = isLabKernel(loadLab(), values.kernel);
  const ours = devices.some((d) => d instanceof ImsQueueDevice) && labKernel && !values['no-module'];
  const err = (s: string) => process.stderr.write(`irqlab: ${s}\n`);
  err(`booting ${values.kernel}${values.iommu ? ' with a vIOMMU' : ''}...`);
  const session = await startSession({
    testbed: {
      devices, pollUs, kernel: values.kernel, iommu: values.iommu, cpus: Number(values.cpus), memMiB: Number(values.mem),
      module: ours ? {} : false, modules: files, kernelModules: named, pciutils: true,
      bind: values.bind ? { mode: (mode ?? 'auto') as 'auto' } : undefined,
      console: 'inherit', consoleShell: true, onProgress: (p) => err(p.message),
    },
    trace: values.trace, traceName: specs[0], control: values.control, log: err,
  });
  const bed = session.bed;
  try {
    for (const m of files) {
      await bed.vm.insmod(basename(m));
      err(`loaded ${basename(m)}`);
    }
  } catch (e) {
    await session.stop();
    throw e;
  }
  if (named.length) err(`loaded ${named.join(', ')} (modprobe)`);
  for (const [i, bdf] of bed.bdfs.entries()) {
    const name = devices.length > 1 ? `device ${i} (${specs[i]}) ` : '';
    const drv = bed.drivers[i];
    const generic = bed.generic[i];
    let how = '';
    if (drv) how = `: irqlab.ko drives it, see /sys/kernel/debug/irqlab/${drv.bdf}/`;
    else if (generic) {
      const info = await generic.info();
      how = `: irqlab_generic drives it, ${info.mode === 'none' ? 'no interrupts' : `${info.mode.toUpperCase().replace('MSIX', 'MSI-X')} with ${info.vectors} of ${info.offered} vectors`}; ` +
        `counts in ${generic.dir}/irqs, registers with irqlab-poke${bed.bdfs.length > 1 ? ` -d ${bdf}` : ''} BAR OFFSET [VALUE]`;
    }
    err(`${name}at ${bdf}${how}`);
  }
  err('console attached: Ctrl-] ends the session');

  return await new Promise<number>((resolve) => {
    let done = false;
    const finish = async (code: number) => {
      if (done) return;
      done = true;
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
      process.stdin.destroy(); // or the open stdin keeps the process alive
      await session.stop();
      resolve(code);
    };
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    process.stdin.on('data', (d: Buffer) => {
      const quit = d.indexOf(0x1d);
      if (quit >= 0) {
        if (quit > 0) bed.vm.writeConsole(d.subarray(0, quit));
        void finish(0);
        return;
      }
      bed.vm.writeConsole(d);
    });
    process.stdin.on('end', () => void finish(0));
    // The guest powered off (status 0), or QEMU died under it (say so, status 1).
    void bed.vm.exited.then((exit) => {
      if (done) return;
      const clean = exit.code === 0;
      if (!clean) err(`QEMU ended (${exit.signal ?? `status ${exit.code}`}): ${bed.vm.qemuOutput.trim().split('\n').slice(-3).join(' | ') || 'no message'}`);
      void finish(clean ? 0 : 1);
    });
    bed.vm.writeConsole('\n');
  });
}
