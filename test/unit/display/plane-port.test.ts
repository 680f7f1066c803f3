/**
 * The display reading is written once and driven two ways: against a port
 * that answers at once (a device in this process) and one that answers with
 * promises (a connection). The same device read both ways must give the
 * same reading, release what it held on both, and turn a failing call into
 * the same "no plane".
 */
import { describe, expect, it } from 'vitest';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { MdpyDevice } from '../../../devices/mdpy/device.ts';
import { devicePlanePort } from '../../../src/display/plane-source.ts';
import { readPlane, readPlaneAsync, type DisplayReading, type PlanePort } from '../../../src/display/plane-port.ts';
import { runAsync, runSync, step, type Steps } from '../../../src/display/steps.ts';
import { setLink, findEdidRegion } from '../../../src/display/edid-link.ts';
import { VfioError } from '../../../src/util/errors.ts';
import { bootBochsDrm } from '../../support/guest/bochs-drm.ts';

/** The same port, every answer deferred to a promise (as over a connection). */
function deferred(port: PlanePort<false>): PlanePort<true> {
  const later = <A extends unknown[], R>(f: (...a: A) => R) => async (...a: A): Promise<R> => {
    await Promise.resolve();
    return f(...a);
  };
  return {
    name: port.name,
    numRegions: later(port.numRegions),
    regionCaps: later(port.regionCaps),
    readU32: later(port.readU32),
    queryPlane: later(port.queryPlane),
    openPlane: async (kind, info) => {
      const h = port.openPlane(kind, info);
      return { reading: h.reading, release: later(h.release) };
    },
  };
}

function mbochsWithMode(): MbochsDevice {
  const dev = new MbochsDevice('mbochs-medium', { name: 'm', budget: new InstanceBudget({ total: 1024 }) });
  const drm = bootBochsDrm(dev);
  drm.probe();
  drm.setMode({ hdisplay: 640, vdisplay: 480 });
  return dev;
}

const summary = (r: DisplayReading): unknown => ({ kind: r.state.kind, mode: r.mode, reason: r.state.kind === 'none' ? r.state.reason : undefined });

describe('one display reading, two drivers', () => {
  it('mbochs (DMABUF): the same reading both ways, and no export handle left either way', async () => {
    const dev = mbochsWithMode();
    const port = devicePlanePort(dev, 'm');
    const now = readPlane(port, summary);
    const later = await readPlaneAsync(deferred(port), summary);
    expect(now).toMatchObject({ kind: 'plane', mode: { kind: 'dmabuf', width: 640, height: 480, format: 'XRGB8888' } });
    expect(later).toEqual(now);
    expect(dev.dmabufStats().liveHandles).toBe(0);
    dev.destroy();
  });

  it('mdpy (REGION) and a link that is down read the same both ways', async () => {
    const mdpy = new MdpyDevice('mdpy-vga', { name: 'd', budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });
    const p = devicePlanePort(mdpy, 'd');
    expect(await readPlaneAsync(deferred(p), summary)).toEqual(readPlane(p, summary));
    expect(readPlane(p, summary)).toMatchObject({ kind: 'plane', mode: { kind: 'region' } });
    mdpy.destroy();

    const dev = mbochsWithMode();
    setLink(dev, findEdidRegion(dev)!, false);
    const q = devicePlanePort(dev, 'm');
    expect(readPlane(q, summary)).toEqual({ kind: 'none', mode: null, reason: 'link-down' });
    expect(await readPlaneAsync(deferred(q), summary)).toEqual({ kind: 'none', mode: null, reason: 'link-down' });
    dev.destroy();
  });

  it('a removed device is "unavailable" naming it, both ways', async () => {
    const dev = mbochsWithMode();
    dev.destroy();
    const port = devicePlanePort(dev, 'gone');
    const msg = (r: DisplayReading): string => (r.state.kind === 'none' ? r.state.message : '');
    expect(readPlane(port, msg)).toMatch(/gone: ENODEV/);
    expect(await readPlaneAsync(deferred(port), msg)).toMatch(/gone: ENODEV/);
  });
});

describe('steps drivers', () => {
  function* sum(values: readonly (() => number | Promise<number>)[]): Steps<number> {
    let total = 0;
    for (const v of values) {
      try {
        total += yield* step(v());
      } catch (err) {
        if (!(err instanceof VfioError)) throw err;
      }
    }
    return total;
  }
  const refuse = (): never => {
    throw new VfioError('EINVAL', 'no');
  };

  it('a failing call throws at the call in either driver, so one try/catch serves both', async () => {
    expect(runSync(sum([() => 1, refuse, () => 2]))).toBe(3);
    expect(await runAsync(sum([async () => 1, () => Promise.reject(new VfioError('EINVAL', 'no')), async () => 2]))).toBe(3);
    await expect(runAsync(sum([() => Promise.reject(new Error('bug'))]))).rejects.toThrow('bug');
  });

  it('runSync refuses a port that answers with a promise', () => {
    expect(() => runSync(sum([async () => 1]))).toThrow(/runAsync/);
  });
});
