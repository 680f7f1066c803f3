/** VERSION proposals by name, and the outcome the spec predicts for each (vfio-user.rst "VFIO_USER_VERSION"). */
import { concatBytes, le } from './header.ts';

/** A VERSION proposal, by name (see {@link versionProposal}). */
export type VersionVariant =
  | 'qemu' | 'display' | 'display-qemu' | 'empty-caps' | 'no-json' | 'nul-only' | 'short' | 'major1'
  | 'minor7' | 'bad-json' | 'not-object' | 'caps-array' | 'neg-fds' | 'float-xfer' | 'bad-utf8' | 'no-caps-key';

export const VERSION_VARIANTS: readonly VersionVariant[] = [
  'qemu', 'display', 'display-qemu', 'empty-caps', 'no-json', 'nul-only', 'short', 'major1',
  'minor7', 'bad-json', 'not-object', 'caps-array', 'neg-fds', 'float-xfer', 'bad-utf8', 'no-caps-key',
];

/** QEMU 10.2's proposal (docs/protocol.md "QEMU's client"). */
export const QEMU_CAPS_JSON =
  '{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535,' +
  '"write_multiple":true,"migration":{"pgsize":4096,"max_bitmap_size":268435456}}}';

/**
 * Expected outcome class of a proposal: 'ok', 'EINVAL' (malformed) or
 * 'ENOTSUP' (major ≠ 0) — from the spec's "VFIO_USER_VERSION", not from the code.
 */
export function versionExpectation(v: VersionVariant): 'ok' | 'EINVAL' | 'ENOTSUP' {
  switch (v) {
    case 'qemu': case 'display': case 'display-qemu': case 'empty-caps': case 'no-json': case 'nul-only': case 'minor7': case 'no-caps-key':
      return 'ok';
    case 'major1':
      return 'ENOTSUP';
    default:
      return 'EINVAL';
  }
}

/** The VERSION payload of a variant. */
export function versionProposal(v: VersionVariant): Uint8Array {
  const enc = (major: number, minor: number, json: string | Uint8Array | undefined): Uint8Array => {
    const body = json === undefined ? new Uint8Array(0) : typeof json === 'string' ? new TextEncoder().encode(`${json}\0`) : json;
    return concatBytes([le([major, 2], [minor, 2]), body]);
  };
  switch (v) {
    case 'qemu': return enc(0, 0, QEMU_CAPS_JSON);
    case 'display': return enc(0, 0, '{"capabilities":{"mdevsim_display":true}}');
    case 'display-qemu': return enc(0, 0, QEMU_CAPS_JSON.replace('"write_multiple":true', '"write_multiple":true,"mdevsim_display":true'));
    case 'empty-caps': return enc(0, 0, '{"capabilities":{}}');
    case 'no-json': return enc(0, 0, undefined);
    case 'nul-only': return enc(0, 0, new Uint8Array(3));
    case 'short': return le([0, 2], [0, 1]);
    case 'major1': return enc(1, 0, '{"capabilities":{}}');
    case 'minor7': return enc(0, 7, '{"capabilities":{"max_msg_fds":4}}');
    case 'bad-json': return enc(0, 0, '{"capabilities":');
    case 'not-object': return enc(0, 0, '[1,2,3]');
    case 'caps-array': return enc(0, 0, '{"capabilities":[]}');
    case 'neg-fds': return enc(0, 0, '{"capabilities":{"max_msg_fds":-1}}');
    case 'float-xfer': return enc(0, 0, '{"capabilities":{"max_data_xfer_size":1.5}}');
    case 'bad-utf8': return enc(0, 0, Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d, 0));
    case 'no-caps-key': return enc(0, 0, '{"other":1}');
  }
}
