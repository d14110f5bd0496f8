// Numbers from the vfio-user specification (QEMU docs/interop/vfio-user.rst)
// and <linux/vfio.h>, named as they are there.

export const Command = {
  VERSION: 1,
  DMA_MAP: 2,
  DMA_UNMAP: 3,
  DEVICE_GET_INFO: 4,
  DEVICE_GET_REGION_INFO: 5,
  DEVICE_GET_REGION_IO_FDS: 6,
  DEVICE_GET_IRQ_INFO: 7,
  DEVICE_SET_IRQS: 8,
  REGION_READ: 9,
  REGION_WRITE: 10,
  DMA_READ: 11,
  DMA_WRITE: 12,
  DEVICE_RESET: 13,
  // 14 was DIRTY_PAGES, retired.
  REGION_WRITE_MULTI: 15,
  DEVICE_FEATURE: 16,
  MIG_DATA_READ: 17,
  MIG_DATA_WRITE: 18,
} as const;
export type CommandCode = (typeof Command)[keyof typeof Command];

const commandNames = new Map<number, string>(Object.entries(Command).map(([k, v]) => [v, k]));
export function commandName(cmd: number): string {
  return commandNames.get(cmd) ?? `command ${cmd}`;
}

/** Header flags: low nibble is the type. */
export const MsgType = { COMMAND: 0x0, REPLY: 0x1 } as const;
export const MSG_TYPE_MASK = 0xf;
export const FLAG_NO_REPLY = 0x10;
export const FLAG_ERROR = 0x20;

export const HEADER_SIZE = 16;

/** Default and our own limit for data in one read/write message. */
export const DEFAULT_MAX_DATA_XFER = 1 << 20;
export const DEFAULT_MAX_MSG_FDS = 1;
export const DEFAULT_MAX_DMA_MAPS = 65535;
export const DEFAULT_PGSIZES = 4096;

// VFIO_USER_DMA_MAP flags
export const DMA_MAP_READ = 1 << 0;
export const DMA_MAP_WRITE = 1 << 1;
// VFIO_USER_DMA_UNMAP flags (libvfio-user's numbering; GET_DIRTY_BITMAP is not supported)
export const DMA_UNMAP_GET_DIRTY_BITMAP = 1 << 0;
export const DMA_UNMAP_ALL = 1 << 1;

// struct vfio_device_info flags
export const DEVICE_FLAGS_RESET = 1 << 0;
export const DEVICE_FLAGS_PCI = 1 << 1;

// PCI region indexes (VFIO_PCI_*_REGION_INDEX)
export const Region = {
  BAR0: 0, BAR1: 1, BAR2: 2, BAR3: 3, BAR4: 4, BAR5: 5, ROM: 6, CONFIG: 7, VGA: 8,
} as const;
export const PCI_NUM_REGIONS = 9;

// struct vfio_region_info flags
export const REGION_INFO_FLAG_READ = 1 << 0;
export const REGION_INFO_FLAG_WRITE = 1 << 1;
export const REGION_INFO_FLAG_MMAP = 1 << 2;
export const REGION_INFO_FLAG_CAPS = 1 << 3;
export const REGION_INFO_CAP_SPARSE_MMAP = 1;
export const REGION_INFO_CAP_TYPE = 2;

// PCI irq indexes (VFIO_PCI_*_IRQ_INDEX)
export const IrqIndex = { INTX: 0, MSI: 1, MSIX: 2, ERR: 3, REQ: 4 } as const;
export const PCI_NUM_IRQS = 5;
const irqNames = ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'];
export function irqIndexName(i: number): string {
  return irqNames[i] ?? `irq index ${i}`;
}

// struct vfio_irq_info flags
export const IRQ_INFO_EVENTFD = 1 << 0;
export const IRQ_INFO_MASKABLE = 1 << 1;
export const IRQ_INFO_AUTOMASKED = 1 << 2;
export const IRQ_INFO_NORESIZE = 1 << 3;

// struct vfio_irq_set flags
export const IRQ_SET_DATA_NONE = 1 << 0;
export const IRQ_SET_DATA_BOOL = 1 << 1;
export const IRQ_SET_DATA_EVENTFD = 1 << 2;
export const IRQ_SET_ACTION_MASK = 1 << 3;
export const IRQ_SET_ACTION_UNMASK = 1 << 4;
export const IRQ_SET_ACTION_TRIGGER = 1 << 5;
export const IRQ_SET_DATA_TYPE_MASK = IRQ_SET_DATA_NONE | IRQ_SET_DATA_BOOL | IRQ_SET_DATA_EVENTFD;
export const IRQ_SET_ACTION_TYPE_MASK = IRQ_SET_ACTION_MASK | IRQ_SET_ACTION_UNMASK | IRQ_SET_ACTION_TRIGGER;

// VFIO_USER_DEVICE_FEATURE flags
export const DEVICE_FEATURE_MASK = 0xffff;
export const DEVICE_FEATURE_GET = 1 << 16;
export const DEVICE_FEATURE_SET = 1 << 17;
export const DEVICE_FEATURE_PROBE = 1 << 18;

/** REGION_WRITE_MULTI: each entry carries at most this many data bytes. */
export const WRITE_MULTI_DATA = 8;
export const WRITE_MULTI_ENTRY_SIZE = 24;
/** libvfio-user's and QEMU's bound on entries per message. */
export const WRITE_MULTI_MAX = 200;
