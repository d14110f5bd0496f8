// A client the security tests run as another user (child_process.spawn with
// uid/gid): connects to the socket in argv[2], sends VERSION and prints one
// JSON line saying what came back -- the reply header, whether the server then
// closed, and (if it was let in) the config-space id it read.
//   node --import=tsx test/helpers/peer-client.ts SOCKET
import { Command, MsgType, Region, encodeVersion, encodeRegionAccess, frame, type Header } from '../../src/protocol/index.ts';
import { SysError } from '../../ffi/index.ts';
import { RawClient } from './raw-client.ts';
import { poll } from './eventually.ts';

interface Outcome {
  uid: number;
  connectError?: string;
  reply?: Pick<Header, 'id' | 'command' | 'flags' | 'error'> & { payloadBytes: number };
  closedByServer?: boolean;
  configId?: number;
}

const out: Outcome = { uid: process.getuid?.() ?? -1 };
const replies: { header: Header; payload: Uint8Array }[] = [];
let client: RawClient | undefined;
try {
  client = await RawClient.connect(process.argv[2], {
    negotiate: false,
    tap: (dir, header, payload) => { if (dir === 'in' && (header.flags & 0xf) === MsgType.REPLY) replies.push({ header, payload: payload.slice() }); },
  });
  client.send(frame(7, Command.VERSION, MsgType.COMMAND, encodeVersion({ major: 0, minor: 0, json: { capabilities: { max_msg_fds: 16 } } })));
  const c = client;
  await poll(() => replies.length > 0 || c.closed, (done) => done, { timeoutMs: 3000 });
  const r = replies[0];
  if (r) out.reply = { id: r.header.id, command: r.header.command, flags: r.header.flags, error: r.header.error, payloadBytes: r.payload.length };
  if (r && !(r.header.flags & 0x20)) {
    const read = await client.request(Command.REGION_READ, encodeRegionAccess({ offset: 0n, region: Region.CONFIG, count: 4 }));
    out.configId = new DataView(read.payload.buffer, read.payload.byteOffset).getUint32(16, true);
  }
  // A refused client is closed on soon after the error reply.
  await Promise.race([client.waitClosed(), new Promise((r) => setTimeout(r, 1000))]);
  out.closedByServer = client.closed;
} catch (err) {
  if (err instanceof SysError) out.connectError = err.message;
  else throw err;
} finally {
  client?.close();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
