// Last-chance cleanup when the Node process ends while VMs are running: kill QEMU and
// remove temp dirs. Hooks must be synchronous: an 'exit' listener cannot await.

type Hook = () => void;

const hooks = new Set<Hook>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

function runAll(): void {
  for (const hook of [...hooks]) {
    hooks.delete(hook);
    try {
      hook();
    } catch {
      // best effort: one failing hook must not keep the others from running
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  // Our listener replaced Node's default action for the signal. When nobody else
  // listens, restore it and re-raise, so the process still dies as it would have.
  const othersListen = process.listenerCount(sig) > 1;
  runAll();
  uninstall(); // (the hooks' own undo may have done it already)
  if (!othersListen) process.kill(process.pid, sig);
}

const signalListeners = new Map(SIGNALS.map((sig) => [sig, () => onSignal(sig)] as const));

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const [sig, fn] of signalListeners) process.on(sig, fn);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', runAll);
  for (const [sig, fn] of signalListeners) process.off(sig, fn);
}

/** Runs hook if the process exits (or is stopped by a signal) first; returns the undo. */
export function atProcessExit(hook: Hook): () => void {
  hooks.add(hook);
  install();
  return () => {
    hooks.delete(hook);
    if (hooks.size === 0) uninstall();
  };
}
