// A received message as the transport hands it to a handler: defined with
// the connection that makes it (src/transport/connection.ts).
export { Message } from './connection.ts';
