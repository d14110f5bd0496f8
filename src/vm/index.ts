// The VM layer's public API: boot a guest with vfio-user devices and talk to it.

export { Vm, type RunOptions, type RunResult } from './vm.ts';
export type { BootPhase, BootProgress, VmOptions } from './options.ts';
export type { AgentPort, VmDevice } from './qemu-args.ts';
export type { WaitForLogOptions } from './serial-console.ts';
export type { QemuExit } from './qemu-process.ts';
export { GUEST_MODULE_DIR } from './initramfs.ts';
export { VmError, GuestCommandError, GuestTimeoutError } from './errors.ts';
export { AgentError } from './agent-client.ts';
export {
  hasLab,
  labFile,
  labHome,
  loadLab,
  LabError,
  readKernelConfig,
  resolveKernel,
  type KernelChoice,
  type Lab,
  type LabKernel,
  type ResolvedKernel,
} from './lab.ts';
