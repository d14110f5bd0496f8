// Fault rules on the device's memory traffic, as the hooks the layers below
// declare: register reads and writes of the client (a RegionAccessHook,
// src/device/model.ts) and the device's own DMA (a DeviceDmaHook,
// src/dma/device-dma.ts). The PCI function attaches them while rules are in
// force (src/pci/device-faults.ts).
import type { RegionAccessHook } from '../device/model.ts';
import type { DeviceDmaHook } from '../dma/device-dma.ts';
import type { FaultEngine } from './engine.ts';

/** read rules answer all-ones or a value instead of the model; write rules make writes vanish. */
export function faultAccessHook(faults: FaultEngine): RegionAccessHook {
  return {
    read: (region, offset, count) => faults.regionRead(region, offset, count),
    write: (region, offset, data) => faults.regionWriteIgnored(region, offset, data.length),
  };
}

/** dma rules drop or hold the device's reads and writes of client memory. */
export function faultDmaHook(faults: FaultEngine): DeviceDmaHook {
  return { dma: (direction, address) => faults.dma(direction, address) };
}
