/**
 * Defaults of a device server's per-connection bounds, apart from the server
 * so the CLI can print and parse them without loading the protocol layer
 * (docs/protocol.md "Limits" lists them with their flags).
 */
export const SERVER_DEFAULTS = {
  /** Connections per device at once. */
  maxClients: 4,
  /** A connection that has not completed VERSION by then is closed. */
  handshakeTimeoutMs: 3000,
  /** Stop reading a connection while more reply bytes than this are queued for it. */
  outputLimit: 1 << 20,
} as const;
