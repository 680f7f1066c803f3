/**
 * The 'upstream' profile's kernel quirks as a vfio-user client sees them, over
 * real sockets: the request's argsz reaches the device (mbochs.c refuses
 * GET_REGION_INFO argsz above 48), and config REGION_READs follow the
 * samples' mdev_access() bound (a 4-byte read at 0xFC is answered).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import { closeFd } from '../../../src/sys/fds.ts';
import { DeviceServer } from '../../../src/vfio-user/server.ts';
import { VfioUserClient } from '../../../src/vfio-user/client.ts';
import { regionInfoRequest } from '../../../src/vfio-user/requests.ts';
import { VfioRegionInfo } from '../../../src/vfio/structs.ts';
import * as P from '../../../src/vfio-user/protocol.ts';
import { MbochsDevice } from '../../../devices/mbochs/index.ts';
import { MdpyDevice } from '../../../devices/mdpy/index.ts';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { VfioError } from '../../../src/util/errors.ts';

const EINVAL = 22;
const dir = mkdtempSync(join(tmpdir(), 'mdevsim-upstream-'));
const devices = {
  mbochsUp: new MbochsDevice('mbochs-small', { quirks: 'upstream', memory: memfdMemoryFactory, budget: new InstanceBudget({ total: 1024 }) }),
  mbochs: new MbochsDevice('mbochs-small', { memory: memfdMemoryFactory, budget: new InstanceBudget({ total: 1024 }) }),
  mdpyUp: new MdpyDevice('mdpy-vga', { quirks: 'upstream', memory: memfdMemoryFactory, budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) }),
};
const servers: DeviceServer[] = [];
const sockets: Record<keyof typeof devices, string> = { mbochsUp: '', mbochs: '', mdpyUp: '' };

beforeAll(() => {
  for (const [name, device] of Object.entries(devices) as [keyof typeof devices, MbochsDevice | MdpyDevice][]) {
    sockets[name] = join(dir, `${name}.sock`);
    servers.push(DeviceServer.listen({ path: sockets[name], device, label: name }));
  }
});
afterAll(() => {
  for (const s of servers) s.close();
  for (const d of Object.values(devices)) d.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function withClient<T>(name: keyof typeof devices, fn: (c: VfioUserClient) => Promise<T>): Promise<T> {
  const c = await VfioUserClient.connect(sockets[name]);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** One GET_REGION_INFO with the given argsz: the decoded struct (fds closed), or the error's errno. */
async function regionInfo(c: VfioUserClient, index: number, argsz: number): Promise<ReturnType<typeof VfioRegionInfo.decode> | number> {
  try {
    const reply = await c.request(P.VFIO_USER_DEVICE_GET_REGION_INFO, regionInfoRequest(index, argsz));
    for (const fd of reply.fds) closeFd(fd);
    return VfioRegionInfo.decode(reply.payload);
  } catch (err) {
    if (err instanceof VfioError) return err.errno;
    throw err;
  }
}

describe("'upstream' quirks over vfio-user", () => {
  it('mbochs: GET_REGION_INFO argsz 49 and above is EINVAL for every index, as mbochs.c mbochs_ioctl() refuses argsz > sizeof(struct vfio_region_info_ext) = 48 (Linux v6.12); QEMU\'s 32-then-48 sequence still works; the default profile answers', async () => {
    await withClient('mbochsUp', async (c) => {
      for (const index of [0, 2, 7, 9]) {
        for (const argsz of [49, 64, 4096]) expect(await regionInfo(c, index, argsz), `index ${index} argsz ${argsz}`).toBe(EINVAL);
      }
      expect(await regionInfo(c, 9, 32)).toMatchObject({ argsz: 48, index: 9 }); // truncated: ask again with 48
      expect(await regionInfo(c, 9, 48)).toMatchObject({ argsz: 48, index: 9, cap_offset: 32 });
    });
    await withClient('mbochs', async (c) => {
      expect(await regionInfo(c, 9, 4096)).toMatchObject({ argsz: 48, index: 9, cap_offset: 32 });
    });
  });

  it('mdpy: any argsz ≥ 32 is answered, as mdpy.c mdpy_ioctl() checks only argsz < minsz (Linux v6.12)', async () => {
    await withClient('mdpyUp', async (c) => {
      for (const argsz of [32, 49, 4096]) expect(await regionInfo(c, 0, argsz)).toMatchObject({ index: 0, size: 0x200000n });
    });
  });

  it('both samples: a 4-byte config REGION_READ at 0xFC is answered, as mdev_access() answers a chunk starting below 0xFF (mdpy.c, mbochs.c, Linux v6.12); one at 0xFF fails', async () => {
    for (const name of ['mbochsUp', 'mdpyUp'] as const) {
      await withClient(name, async (c) => {
        expect([...await c.regionRead(7, 0xfc, 4)]).toEqual([0, 0, 0, 0]);
        await expect(c.regionRead(7, 0xff, 1)).rejects.toBeInstanceOf(VfioError);
        expect([...await c.regionRead(7, 0, 2)]).toEqual(name === 'mdpyUp' ? [0x36, 0x1b] : [0x34, 0x12]); // the connection still serves
      });
    }
  });
});
