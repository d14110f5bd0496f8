// The PCI conformance suite against `irqlab serve` with the built-in reference
// device and with the example device from examples/: both must pass the same
// tests.
import test from 'ava';
import { spawnServe, type Served } from '../helpers/spawn-serve.ts';
import { pciConformance, type Subject } from './conformance.ts';
import { Q_IRQ_ENABLE, QUEUE_BASE, Q, Reg } from '../../src/devices/ims-queue.ts';

let imsQueue: Served;
let counter: Served;

test.before(async () => {
  [imsQueue, counter] = await Promise.all([spawnServe('ims-queue'), spawnServe('examples/counter-device.ts')]);
});
test.after.always(async () => {
  await imsQueue?.stop();
  await counter?.stop();
});

pciConformance('ims-queue', (): Subject => ({
    name: 'ims-queue',
    socket: imsQueue.socket,
    scratch: { bar: 0, offset: Reg.SCRATCH },
    // Queue 0 routed to vector v, one work item: its completion raises the vector.
    async fireMsix(c, v) {
      await c.write32(0, QUEUE_BASE + Q.IRQ, Q_IRQ_ENABLE | v);
      await c.write32(0, QUEUE_BASE + Q.DOORBELL, 1);
    },
}));

pciConformance('counter example', (): Subject => ({
    name: 'counter example',
    socket: counter.socket,
    scratch: { bar: 0, offset: 0x04 },
    async fireMsix(c, v) {
      await c.write32(0, 0x0c, v);
    },
    intx: {
      assert: (c) => c.write32(0, 0x0c, 0x80000000),
      clear: (c) => c.write32(0, 0x10, 1),
    },
}));
