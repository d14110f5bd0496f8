// irqlab doctor: what the lab has, where it is, and what is missing.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { labFile, labHome, loadLab } from '../vm/lab.ts';
import { table } from '../text/table.ts';

interface Row {
  what: string;
  status: 'ok' | 'missing' | 'broken';
  detail: string;
}

function qemuVersion(bin: string): string | undefined {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10000 });
    return /version (\S+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

export async function run(): Promise<number> {
  const rows: Row[] = [];
  const [major] = process.versions.node.split('.').map(Number);
  rows.push({ what: 'node', status: major >= 20 ? 'ok' : 'broken', detail: `${process.version}${major >= 20 ? '' : ' (irqlab needs 20 or newer)'}` });
  try {
    const koffi = (await import('koffi')).default;
    rows.push({ what: 'koffi (libc boundary)', status: 'ok', detail: koffi.version });
  } catch (err) {
    rows.push({ what: 'koffi (libc boundary)', status: 'missing', detail: `${(err as Error).message}: run make setup` });
  }
  const home = labHome();
  if (!existsSync(labFile())) {
    rows.push({ what: 'lab', status: 'missing', detail: `no ${labFile()}: run make setup` });
  } else {
    try {
      const lab = loadLab();
      // Paths under the lab are shown relative to it (printed below the table).
      const rel = (p: string) => (p.startsWith(home + '/') ? `$IRQLAB_HOME/${p.slice(home.length + 1)}` : p);
      const v = qemuVersion(lab.qemu.bin);
      rows.push({ what: 'QEMU (vfio-user client)', status: v ? 'ok' : 'broken', detail: v ? `${v} at ${rel(lab.qemu.bin)}` : `${lab.qemu.bin} does not run: run make setup` });
      for (const [name, k] of Object.entries(lab.kernels)) {
        const ok = existsSync(k.vmlinuz);
        rows.push({ what: `${k.debug ? 'debug' : 'guest'} kernel ${name}`, status: ok ? 'ok' : 'missing', detail: ok ? `${k.release} (${rel(k.vmlinuz)})` : `${k.vmlinuz} is gone: run make setup` });
        if (k.debug) rows.push({ what: `  checkers`, status: 'ok', detail: k.debug.checkers.join(' ') });
        const ko = join(home, 'modules', name, 'irqlab.ko');
        rows.push({ what: `  irqlab.ko`, status: existsSync(ko) ? 'ok' : 'missing', detail: existsSync(ko) ? rel(ko) : 'not built: run make setup' });
        const ep = lab.endpoint.modules[name];
        rows.push({ what: `  pci_endpoint_test.ko`, status: ep && existsSync(ep) ? 'ok' : 'missing', detail: ep ? rel(ep) : 'not built: run make setup' });
      }
      rows.push({ what: 'pcitest (6.12 tools/pci)', status: existsSync(lab.endpoint.pcitest) ? 'ok' : 'missing', detail: rel(lab.endpoint.pcitest) });
      rows.push({ what: 'pci_endpoint kselftest (7.3)', status: existsSync(lab.endpoint.kselftest) ? 'ok' : 'missing', detail: rel(lab.endpoint.kselftest) });
      for (const [series, src] of Object.entries(lab.sources)) {
        rows.push({ what: `kernel source ${series}`, status: existsSync(src.path) ? 'ok' : 'missing', detail: `linux-source-${series} ${src.version} (${rel(src.path)})` });
      }
      const br = (lab.buildroot as { path?: string } | undefined)?.path;
      rows.push({ what: 'module build root (trixie)', status: br && existsSync(br) ? 'ok' : 'missing', detail: br ? rel(br) : 'run make setup' });
      rows.push({ what: 'busybox (initramfs)', status: existsSync(lab.busybox) ? 'ok' : 'missing', detail: rel(lab.busybox) });
    } catch (err) {
      rows.push({ what: 'lab', status: 'broken', detail: (err as Error).message });
    }
  }
  let kvm = 'no: guests run under TCG (about 5 s per boot)';
  if (existsSync('/dev/kvm')) kvm = 'present (irqlab uses TCG all the same, for reproducible timing)';
  rows.push({ what: 'KVM', status: 'ok', detail: kvm });

  process.stdout.write(table(['', 'status', 'detail'], rows.map((r) => [r.what, r.status, r.detail])) + '\n');
  process.stdout.write(`IRQLAB_HOME=${home}\n`);
  const bad = rows.filter((r) => r.status !== 'ok');
  if (bad.length) process.stdout.write(`\n${bad.length} item(s) need attention: run \`make setup\`.\n`);
  return bad.length ? 1 : 0;
}
