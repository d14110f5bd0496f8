// The VM layer's public API: boot a guest with vfio-user devices and talk to it.

export { Vm, type BootPhase, type BootProgress, type RunOptions, type RunResult, type VmOptions } from './vm.ts';
export type { VmDevice } from './qemu-args.ts';
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
