/**
 * mdevsim's public API: the vfio-user clients other projects use in their
 * tests, the server and device types for embedding, and the VFIO constants.
 */
export { VfioUserClient } from './vfio-user/client.ts';
export type { ImportedDmabuf, Reply } from './vfio-user/client.ts';
export { SyncVfioUserClient } from './vfio-user/sync-client.ts';
export type { SyncImportedDmabuf } from './vfio-user/sync-client.ts';
export type { ClientOptions, RegionMapping, ServerCapabilities } from './vfio-user/requests.ts';
export { DeviceServer } from './vfio-user/server.ts';
export type { DeviceServerOptions, ServerEvent } from './vfio-user/server.ts';
export { DEVICE_TYPES, deviceType } from '../devices/catalog.ts';
export type { DeviceType } from '../devices/catalog.ts';
export { memfdMemoryFactory } from './sys/memfd.ts';
export { VfioError, ConfigError } from './util/errors.ts';
export type { VfioDevice, GfxPlaneInfo, RegionInfo, DeviceInfo } from './vfio/device.ts';
export * from './vfio/uapi.ts';
export { Manager } from './mgmt/manager.ts';
export { ControlClient } from './mgmt/control-client.ts';
