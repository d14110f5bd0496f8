// `irqlab <command>`: one small module per command.
const commands: Record<string, { describe: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  serve: { describe: 'serve a device on a vfio-user socket', load: () => import('./serve.ts') },
  boot: { describe: 'boot a guest against a device, console on this terminal', load: () => import('./boot.ts') },
  demo: { describe: 'boot a guest, fire MSI-X and IMS interrupts, show what it received', load: () => import('./demo.ts') },
  bench: { describe: 'measure irqlab against a C floor: round trips, posted writes, interrupt rates', load: () => import('./bench.ts') },
  run: { describe: 'run a scenario script (faults, checks) against a booted guest', load: () => import('./run.ts') },
  selftest: { describe: "run the kernel's own PCI endpoint tests (pcitest, kselftest) against pci-epf-test", load: () => import('./selftest.ts') },
  ctl: { describe: 'drive a running device through its control socket (faults, interrupts, stats)', load: () => import('./ctl.ts') },
  doctor: { describe: 'show what is installed for the guest lab, and what is missing', load: () => import('./doctor.ts') },
  trace: { describe: 'show a recorded trace: messages, interrupts, DMA, faults, resets; --stats for a summary', load: () => import('./trace.ts') },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.describe}`);
  return `usage: irqlab <command> [options]\n\ncommands:\n${rows.join('\n')}\n\nirqlab <command> --help for a command's options\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`irqlab: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load()).run(rest);
  } catch (err) {
    process.stderr.write(`irqlab ${name}: ${(err as Error).message}\n`);
    if (String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`(irqlab ${name} --help lists the options)\n`);
      return 2;
    }
    return 1;
  }
}
