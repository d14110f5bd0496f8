// A client in its own process, so a poll-mode server can catch its messages
// while it spins (a client in the server's own thread cannot send while the
// server spins). Connects to argv[2] and runs argv[3] rounds, each: a posted
// SCRATCH write of the round number and a read of it back, one message at a
// time; then posted DOORBELL writes and a DB_COUNT read, pipelined. Pauses
// argv[4] ms every 100 rounds (traffic that stops and starts again). Prints
// one JSON line: what it read that was not what it should have.
//   node --import=tsx test/helpers/paced-client.ts SOCKET ROUNDS [PAUSE_MS]
import { Region } from '../../src/protocol/index.ts';
import { VfioUserClient } from '../../src/client/index.ts';
import { Reg } from '../../src/devices/ims-queue.ts';

const [socket, roundsArg, pauseArg] = process.argv.slice(2);
const rounds = Number(roundsArg);
const pauseMs = Number(pauseArg ?? 0);
const wrong: string[] = [];
const c = await VfioUserClient.connect(socket);
await c.write16(Region.CONFIG, 4, 0x2); // memory decoding on
const base = await c.read32(Region.BAR0, Reg.DB_COUNT);
let rings = 0;
for (let i = 0; i < rounds; i++) {
  await c.write32(Region.BAR0, Reg.SCRATCH, i, { posted: true });
  const back = await c.read32(Region.BAR0, Reg.SCRATCH);
  if (back !== i) wrong.push(`round ${i}: SCRATCH read ${back}`);
  // Pipelined: three posted writes and a read in one go; the read must see all three.
  const writes = [0, 1, 2].map(() => c.write32(Region.BAR0, Reg.DOORBELL, 1, { posted: true }));
  const count = c.read32(Region.BAR0, Reg.DB_COUNT);
  await Promise.all(writes);
  rings += 3;
  const seen = (await count) - base;
  if (seen !== rings) wrong.push(`round ${i}: DB_COUNT grew by ${seen}, ${rings} doorbells were rung`);
  if (pauseMs && i % 100 === 99) await new Promise((r) => setTimeout(r, pauseMs));
}
c.close();
process.stdout.write(JSON.stringify({ rounds, rings, wrong: wrong.slice(0, 10), wrongCount: wrong.length }) + '\n');
