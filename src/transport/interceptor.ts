// The seam between a connection and whatever answers its commands. An
// interceptor sees each command before the handler does and decides what
// happens: pass it on (call next, the rest of the chain), answer it itself
// (an error, a late reply), or end the connection. The layer above declares
// the context it passes; fault injection, tracing or accounting implement
// interceptors, and whoever builds the server composes them.
import type { HandlerResult, Message } from './connection.ts';

export type Interceptor<C> = (ctx: C, msg: Message, next: () => HandlerResult) => HandlerResult;

/**
 * Runs `handler` inside `interceptors` (the first is outermost). With none,
 * the handler is called directly: no closure per message on the hot path.
 */
export function intercept<C>(interceptors: readonly Interceptor<C>[], ctx: C, msg: Message, handler: (ctx: C, msg: Message) => HandlerResult, from = 0): HandlerResult {
  if (from >= interceptors.length) return handler(ctx, msg);
  return interceptors[from](ctx, msg, () => intercept(interceptors, ctx, msg, handler, from + 1));
}
