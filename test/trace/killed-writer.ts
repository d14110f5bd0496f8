// A trace writer that records until it is killed (SIGKILL, no close()):
// the trace tests read what it leaves behind. Usage: killed-writer.ts FILE
import { TraceRecorder } from '../../src/trace/index.ts';

const rec = await TraceRecorder.open(process.argv[2], { flushMs: 5 });
let said = false;
const tick = () => {
  for (let i = 0; i < 200; i++) rec.recordIrq({ kind: 'ims', index: i & 63, outcome: 'delivered', address: 0xfee00000n, data: 0x30 + (i & 15), detail: 'a detail long enough to cross chunk boundaries now and then' });
  if (!said && rec.stats.bytesWritten > 0) {
    said = true;
    process.stdout.write('written\n');
  }
  setTimeout(tick, 1);
};
tick();
