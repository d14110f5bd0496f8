// Protocol faults: a vfio-user command answered with an error, answered late
// (the command is carried out at once, in order; only the reply waits, and
// later commands wait behind it as the spec's ordering demands), or the
// connection closed under it.
import { VfioError, commandName } from '../protocol/index.ts';
import type { Interceptor } from '../transport/interceptor.ts';
import type { HandlerContext } from '../device/model.ts';
import type { FaultEngine } from './engine.ts';

export function faultInterceptor(faults: FaultEngine): Interceptor<HandlerContext> {
  return (ctx, msg, next) => {
    if (!faults.active) return next();
    const name = commandName(msg.header.command);
    const f = faults.command(msg.header.command, name);
    if (!f) return next();
    if (f === 'close') {
      ctx.log(`fault: closing the connection at ${name} #${msg.header.id}`);
      ctx.close();
      return undefined;
    }
    if ('error' in f) throw new VfioError(f.error, `fault: ${name} #${msg.header.id} fails`);
    const result = next();
    ctx.log(`fault: holding the reply to ${name} #${msg.header.id} for ${f.delay} ms`);
    return new Promise((resolve, reject) => {
      setTimeout(() => Promise.resolve(result).then(resolve, reject), f.delay).unref();
    });
  };
}
