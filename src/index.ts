/**
 * mdevsim's public API (the package root, `import … from 'mdevsim'`): the
 * vfio-user clients other projects use in their tests, the server, manager
 * and device types for embedding, the device contract for writing a device
 * of one's own, the errors, and the VFIO constants. Everything a consumer
 * needs to name in its own types is exported here; the package exports no
 * deeper paths.
 */
export { VfioUserClient } from './vfio-user/client.ts';
export type { ImportedDmabuf, Reply } from './vfio-user/client.ts';
export { SyncVfioUserClient } from './vfio-user/sync-client.ts';
export type { SyncImportedDmabuf } from './vfio-user/sync-client.ts';
export type { ClientOptions, RegionMapping, ServerCapabilities } from './vfio-user/requests.ts';
export { DeviceServer, SERVER_DEFAULTS } from './vfio-user/server.ts';
export type { ConnectionObserver, DeviceServerOptions, ServerEvent, ServerStats } from './vfio-user/server.ts';
export { DEFAULT_SESSION_LIMITS } from './vfio-user/limits.ts';
export type { SessionLimits } from './vfio-user/limits.ts';
export { DEVICE_TYPES, deviceType } from '../devices/catalog.ts';
export type { CreateOptions, DeviceType } from '../devices/catalog.ts';
export type { Quirks } from '../devices/common/options.ts';
export { memfdMemoryFactory, MemfdMemory } from './sys/memfd.ts';
export { HeapMemory, heapMemoryFactory } from './vfio/memory.ts';
export type { Memory, MemoryFactory } from './vfio/memory.ts';
export { VfioError, ConfigError, AccessError } from './util/errors.ts';
export { IrqSetError } from './vfio/irq.ts';
/** The device contract (VfioDevice) and the structures it speaks in. */
export type * from './vfio/device.ts';
export * from './vfio/uapi.ts';
export { Manager, ManagerError } from './mgmt/manager.ts';
export type {
  CreateArgs,
  CreatedInstance,
  DeviceDescription,
  InstanceInfo,
  ManagerEvent,
  ManagerOptions,
  ModeResult,
  Resolution,
  SetResolutionResult,
  TypeInfo,
} from './mgmt/manager.ts';
export { ControlClient } from './mgmt/control-client.ts';
/** A device's console: its VNC server (Unix socket, TCP or attach()), QMP input, the browser view. */
export { DeviceConsole, VNC_BASE_PORT } from './vnc/console.ts';
export type { ConsoleInfo, ConsoleOptions } from './vnc/console.ts';
export { VncServer, DEFAULT_VNC_MAX_VIEWERS } from './vnc/rfb-server.ts';
export type { VncServerOptions, VncServerStats, VncTarget } from './vnc/rfb-server.ts';
export type { RfbAuth, RfbInput } from './vnc/rfb-connection.ts';
export { vncAuthenticator } from './vnc/vnc-auth.ts';
export { startWebView } from './vnc/web-view.ts';
export type { WebView, WebViewOptions } from './vnc/web-view.ts';
export type { ConsolePolicy } from './mgmt/manager.ts';
