// Errors of the VM layer. Messages say what happened and what to look at next.

/** Booting, talking to or stopping the guest failed. */
export class VmError extends Error {
  override name = 'VmError';
}

/** A guest command ran but failed (non-zero status) where success was required. */
export class GuestCommandError extends VmError {
  override name = 'GuestCommandError';
  constructor(
    message: string,
    readonly status: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** A guest command outlived its timeout; the agent killed it. */
export class GuestTimeoutError extends GuestCommandError {
  override name = 'GuestTimeoutError';
}
