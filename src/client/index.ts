export { VfioUserClient, type ClientOptions } from './client.ts';
export { ClientMemory, type MsiMessage, MSI_WINDOW_BASE } from './memory.ts';
