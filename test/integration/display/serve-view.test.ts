/** `mdevsim serve --view 0` serves the live view of its devices on loopback. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';

let serve: ServeProcess;
beforeAll(async () => { serve = await startServe(['--view', '0']); });
afterAll(async () => { expect(await serve.stop()).toBe(0); });

describe('serve --view', () => {
  it('prints a loopback URL whose state.json lists every served device and whose page loads', async () => {
    const url = String(serve.view);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const state = (await (await fetch(new URL('state.json', url))).json()) as { devices: { name: string }[] };
    expect(state.devices.map((d) => d.name).sort()).toEqual(['mbochs-medium-0', 'mdpy-xga-0']);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
  });
});
