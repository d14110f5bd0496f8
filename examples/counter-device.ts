// A small device, top to bottom: one BAR with a few registers, MSI-X in the
// same BAR, and INTx. Serve it with
//
//   irqlab serve examples/counter-device.ts --socket /tmp/counter.sock
//
// Registers (BAR0, 32-bit, 4 KiB, 32-bit accesses only):
//   0x00 ID       RO   0x434e5452 ("CNTR")
//   0x04 SCRATCH  RW   free for software
//   0x08 COUNT    RO   how many times RAISE was written
//   0x0c RAISE    WO   bits 7:0 = MSI-X vector to fire (one that does not exist
//                      is a guest error); bit 31 = assert INTx instead
//   0x10 STATUS   W1C  bit 0 = INTx cause; writing 1 clears it and drops the line
//   0x14 CTRL     RW   bits 3:0 only; reset 0x5
// MSI-X: 4 vectors, table at 0x800, PBA at 0xc00.
import { PciFunction, RegisterMap } from '../src/index.ts';

export default function createCounterDevice(): PciFunction {
  const dev = new PciFunction({
    ids: { vendor: 0xf1ab, device: 0x0002, classCode: 0xff0000 },
    bars: { 0: { type: 'mem32', size: 0x1000 } },
    capabilities: {
      pm: true,
      msix: { vectors: 4, bar: 0, tableOffset: 0x800, pbaOffset: 0xc00 },
      aer: true,
      dsn: 0x00c0ffee_00000002n,
    },
  });

  let raised = 0;
  const regs = new RegisterMap({
    size: 0x800,
    access: { min: 4, max: 4 }, // like most devices: whole registers, naturally aligned
    registers: [
      { name: 'ID', offset: 0x00, access: 'RO', reset: 0x434e5452 },
      { name: 'SCRATCH', offset: 0x04 },
      { name: 'COUNT', offset: 0x08, access: 'RO', read: () => raised },
      {
        name: 'RAISE', offset: 0x0c, access: 'WO', write: (v) => {
          raised++;
          if (Number(v) & 0x80000000) {
            regs.set('STATUS', 1);
            dev.intx.assert();
          } else {
            // The vector is the driver's: raiseFor() makes a missing one a guest error.
            dev.raiseFor('RAISE', 'msix', Number(v) & 0xff);
          }
        },
      },
      { name: 'STATUS', offset: 0x10, access: 'W1C', write: (v) => { if (!(Number(v) & 1)) dev.intx.deassert(); } },
      { name: 'CTRL', offset: 0x14, mask: 0xf, reset: 0x5 },
    ],
  });
  dev.addRegisters(0, 0, regs);
  dev.onReset(() => { raised = 0; });
  return dev;
}
