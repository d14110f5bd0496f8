// A mistake in how a command was called: the CLI says what, points at
// --help and exits with status 2 (a failure of the work itself is status 1).
export class UsageError extends Error {}
