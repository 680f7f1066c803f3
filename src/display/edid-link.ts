/**
 * Loading an EDID into a device's GFX EDID region and raising the link, the
 * way QEMU's hw/vfio/display.c does for kernel mdevs (vfio_display_edid_init(),
 * vfio_display_edid_update()). Over vfio-user nobody runs that code, so the
 * server does it itself (docs/protocol.md "QEMU's client").
 *
 * Only the VfioDevice contract is used (regionInfo, regionRead,
 * regionWrite), so this works for any device with a region whose type
 * capability is {type GFX (1), subtype EDID (1)}. Every register access is
 * one 4-byte access at the field's offset in struct vfio_region_gfx_edid, as
 * QEMU's pread_field/pwrite_field make them (the mbochs region ignores
 * anything else). Finding the region and reading link_state are also what
 * every display reader does before it looks at a plane, over a connection
 * as well as in process: those two are written once, against
 * {@link EdidPort}.
 *
 * Not modelled: QEMU raises the link from a 100 ms timer after writing the
 * blob; {@link loadEdid} raises it at once. The guest sees no change until it
 * re-reads the EDID anyway (there is no hot-plug interrupt).
 */
import type { VfioDevice } from '../vfio/device.ts';
import { VfioRegionGfxEdid } from '../vfio/structs.ts';
import {
  VFIO_DEVICE_GFX_LINK_STATE_DOWN,
  VFIO_DEVICE_GFX_LINK_STATE_UP,
  VFIO_REGION_SUBTYPE_GFX_EDID,
  VFIO_REGION_TYPE_GFX,
} from '../vfio/uapi.ts';
import { readUint, uintBytes } from '../util/bytes.ts';
import { VfioError } from '../util/errors.ts';
import { runSync, step, type Out, type Steps } from './steps.ts';

const REG = VfioRegionGfxEdid.offsets;

/** struct vfio_region_gfx_edid as read from a device. */
export interface EdidRegisters {
  readonly edidOffset: number;
  readonly edidMaxSize: number;
  readonly edidSize: number;
  readonly maxXres: number;
  readonly maxYres: number;
  readonly linkState: number;
}

/**
 * The calls that find a device's EDID region and read its registers, as a
 * device model in this process and a vfio-user client both offer them
 * (`Async` says which: see steps.ts).
 */
export interface EdidPort<Async extends boolean = boolean> {
  /** num_regions of GET_INFO. */
  numRegions(): Out<number, Async>;
  /** The capabilities of region `index`; a VfioError when the device refuses the index. */
  regionCaps(index: number): Out<readonly { readonly kind: string; readonly type?: number; readonly subtype?: number }[], Async>;
  /** One 4-byte little-endian read at `offset` of region `index`, as QEMU's pread_field makes it. */
  readU32(index: number, offset: number): Out<number, Async>;
}

/**
 * The index of the device's GFX EDID region: the first region below
 * num_regions whose info carries the type capability {GFX, EDID}, as QEMU's
 * vfio_get_dev_region_info scans. Indexes whose info the device refuses
 * (VfioError) are skipped. undefined when there is none.
 */
export function* edidRegionSteps(port: EdidPort): Steps<number | undefined> {
  const numRegions = yield* step(port.numRegions());
  for (let index = 0; index < numRegions; index++) {
    let caps;
    try {
      caps = yield* step(port.regionCaps(index));
    } catch (err) {
      if (err instanceof VfioError) continue;
      throw err;
    }
    if (caps.some((c) => c.kind === 'type' && c.type === VFIO_REGION_TYPE_GFX && c.subtype === VFIO_REGION_SUBTYPE_GFX_EDID)) {
      return index;
    }
  }
  return undefined;
}

/**
 * The EDID region's link_state when the device has one (mbochs), else
 * undefined. A device that refuses the read counts as having none.
 */
export function* linkStateSteps(port: EdidPort): Steps<number | undefined> {
  const index = yield* edidRegionSteps(port);
  if (index === undefined) return undefined;
  try {
    return yield* step(port.readU32(index, REG.link_state));
  } catch (err) {
    if (err instanceof VfioError) return undefined;
    throw err;
  }
}

/** A device model in this process as an {@link EdidPort}. */
export function deviceEdidPort(device: VfioDevice): EdidPort<false> {
  return {
    numRegions: () => device.info().numRegions,
    regionCaps: (index) => device.regionInfo(index).caps,
    readU32: (index, offset) => readReg(device, index, offset),
  };
}

/** {@link edidRegionSteps} for a device model in this process. */
export function findEdidRegion(device: VfioDevice): number | undefined {
  return runSync(edidRegionSteps(deviceEdidPort(device)));
}

function readReg(device: VfioDevice, index: number, offset: number): number {
  const b = new Uint8Array(4);
  device.regionRead(index, offset, b);
  return readUint(b, 0, 4);
}

function writeReg(device: VfioDevice, index: number, offset: number, value: number): void {
  device.regionWrite(index, offset, uintBytes(value, 4));
}

/** Read the six registers, one 4-byte read each. Device errors (VfioError) propagate. */
export function readEdidRegisters(device: VfioDevice, index: number): EdidRegisters {
  return {
    edidOffset: readReg(device, index, REG.edid_offset),
    edidMaxSize: readReg(device, index, REG.edid_max_size),
    edidSize: readReg(device, index, REG.edid_size),
    maxXres: readReg(device, index, REG.max_xres),
    maxYres: readReg(device, index, REG.max_yres),
    linkState: readReg(device, index, REG.link_state),
  };
}

/** Write link_state: UP (1) or DOWN (2), one 4-byte write at offset 20. */
export function setLink(device: VfioDevice, index: number, up: boolean): void {
  writeReg(device, index, REG.link_state, up ? VFIO_DEVICE_GFX_LINK_STATE_UP : VFIO_DEVICE_GFX_LINK_STATE_DOWN);
}

/**
 * QEMU's EDID update (vfio_display_edid_init + _update): read edid_offset
 * and edid_max_size; then link_state = DOWN, edid_size = blob length, the
 * blob in one write at edid_offset, link_state = UP. The blob is checked
 * before anything is written, so a refused blob leaves the region untouched.
 * @throws VfioError EINVAL for an empty blob, one larger than edid_max_size,
 *   or one that would not fit the region at edid_offset; device errors
 *   (VfioError) propagate.
 */
export function loadEdid(device: VfioDevice, edidRegionIndex: number, blob: Uint8Array): void {
  const index = edidRegionIndex;
  const edidOffset = readReg(device, index, REG.edid_offset);
  const edidMaxSize = readReg(device, index, REG.edid_max_size);
  if (blob.length === 0) throw new VfioError('EINVAL', 'EDID: the blob is empty.');
  if (blob.length > edidMaxSize) {
    throw new VfioError('EINVAL', `EDID: a ${blob.length}-byte blob exceeds the region's edid_max_size of ${edidMaxSize} bytes.`);
  }
  const regionSize = device.regionInfo(index).size;
  if (edidOffset + blob.length > regionSize) {
    throw new VfioError(
      'EINVAL',
      `EDID: edid_offset 0x${edidOffset.toString(16)} + ${blob.length} bytes passes the end of the ${regionSize}-byte region.`,
    );
  }
  setLink(device, index, false);
  writeReg(device, index, REG.edid_size, blob.length);
  device.regionWrite(index, edidOffset, blob);
  setLink(device, index, true);
}
