/**
 * Drive an mbochs device as bochs-drm does: program a 640×480×32 mode through
 * the dispi registers on BAR2, draw into the framebuffer (BAR0, mapped from
 * the server's memfd), then read the plane back through the dmabuf the
 * display extension exports.
 *
 *   npm start &                                   # serves mbochs-medium-0
 *   npx tsx examples/set-mode.ts /run/user/$UID/mdevsim/mbochs-medium-0.sock
 *
 * The README shows this file with `from 'mdevsim'` as the import;
 * test/integration/vfio-user/readme-example.test.ts runs it and checks the
 * two stay the same.
 */
import { VfioUserClient, DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF } from '../src/index.ts';

/** dispi register indexes (bochs VBE), written as 16-bit values at BAR2 offset 0x500 + 2 × index. */
const DISPI = { XRES: 1, YRES: 2, BPP: 3, ENABLE: 4, VIRT_WIDTH: 6, X_OFFSET: 8, Y_OFFSET: 9 } as const;
const ENABLED_LFB = 0x41;

async function main(socketPath: string): Promise<void> {
  const c = await VfioUserClient.connect(socketPath, { display: true });
  try {
    const write = (reg: number, value: number) => c.regionWrite(2, 0x500 + 2 * reg, new Uint8Array([value & 0xff, value >> 8]));
    await write(DISPI.ENABLE, 0); // a mode is programmed with the display off, as bochs-drm does
    await write(DISPI.BPP, 32);
    await write(DISPI.XRES, 640);
    await write(DISPI.YRES, 480);
    await write(DISPI.VIRT_WIDTH, 640);
    await write(DISPI.X_OFFSET, 0);
    await write(DISPI.Y_OFFSET, 0);
    await write(DISPI.ENABLE, ENABLED_LFB);

    const vram = await c.mapRegion(0);
    vram.bytes.fill(0xff, 0, 640 * 4); // the first row white (XRGB8888)
    const plane = await c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
    const buf = await c.importDmabuf(plane.regionIndexOrDmabufId); // exactly the plane's bytes, zero-copy
    console.log(`plane ${plane.width}x${plane.height} stride ${plane.stride}, first pixel ${buf.bytes[0]}`);
    await buf.release();
    vram.unmap();
  } finally {
    c.close();
  }
}

main(process.argv[2] ?? '').catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
