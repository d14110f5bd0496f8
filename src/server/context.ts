// What every command handler gets now lives under the handlers, in
// src/device/model.ts; these names stay here for code that imports them from
// the server.
export { defaultLimits, type ServerLimits, type SessionStats, type HandlerContext } from '../device/model.ts';
