/**
 * The protocol layer's named limits and a device server's per-connection
 * bounds, apart from the session and the server so the CLI can print and
 * parse them without loading the protocol layer, and so the command table
 * and the session share them without importing each other
 * (docs/protocol.md "Limits and fairness" lists them with their flags).
 */
import type { FdInspection } from '../sys/fds.ts';
import { VFIO_USER_HEADER_SIZE } from './protocol.ts';
import { VfioUserRegionAccess } from './wire.ts';

export const SERVER_DEFAULTS = {
  /** Connections per device at once. */
  maxClients: 4,
  /** A connection that has not completed VERSION by then is closed. */
  handshakeTimeoutMs: 3000,
  /** Stop reading a connection while more reply bytes than this are queued for it. */
  outputLimit: 1 << 20,
} as const;

/** Named limits, checked before any allocation. */
export interface SessionLimits {
  /** Largest REGION_READ/WRITE count. @defaultValue 1 MiB */
  readonly maxDataXfer: number;
  /** Most fds accepted in one message. @defaultValue 8 */
  readonly maxMsgFds: number;
  /** Most simultaneous DMA windows. @defaultValue 65535 */
  readonly maxDmaMaps: number;
  /** Most live dmabuf export handles per connection. @defaultValue 16 */
  readonly maxExports: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxDataXfer: 1 << 20,
  maxMsgFds: 8,
  maxDmaMaps: 65535,
  maxExports: 16,
};

/** Largest message the server accepts: header + region access + max transfer (libvfio-user's rule). */
export function maxMessageSize(limits: SessionLimits): number {
  return VFIO_USER_HEADER_SIZE + VfioUserRegionAccess.size + limits.maxDataXfer;
}

/** fstat of a client's fd (src/sys/fds.ts inspectFd); undefined when it cannot be inspected. */
export type FdInspector = (fd: number) => FdInspection | undefined;
