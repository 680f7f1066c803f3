/**
 * A private virtual X server for one viewer: Xvfb on a display number it
 * picks itself (-displayfd: it writes the number once it accepts clients,
 * so there is nothing to guess and nothing to wait for but that line).
 */
import { spawnGroup, type GroupChild } from './processes.ts';

export interface Xvfb {
  /** ":N" */
  readonly display: string;
  readonly process: GroupChild;
  close(): Promise<void>;
}

/** How long Xvfb may take to accept clients. */
const XVFB_START_MS = 10_000;

/** Start Xvfb with one screen of `width`×`height` at depth 24 (32-bit TrueColor pixels). */
export async function startXvfb(width: number, height: number): Promise<Xvfb> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 64 || height < 64 || width > 16384 || height > 16384) {
    throw new RangeError(`Xvfb screen ${width}x${height} is not between 64x64 and 16384x16384`);
  }
  // -nolisten tcp: only the local socket. -noreset: the last client leaving
  // must not reset the server under the next one.
  const proc = spawnGroup('Xvfb', 'Xvfb', ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset'], { extraFds: 1 });
  const fd3 = proc.child.stdio[3] as NodeJS.ReadableStream;
  try {
    const display = await new Promise<string>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`Xvfb did not report its display within ${XVFB_START_MS} ms: ${proc.log()}`)), XVFB_START_MS);
      fd3.on('data', (d: Buffer) => {
        text += d.toString();
        const m = /^(\d+)\n/.exec(text);
        if (m) { clearTimeout(timer); resolve(`:${m[1]}`); }
      });
      void proc.exited.then(() => { clearTimeout(timer); reject(new Error(`Xvfb exited before reporting its display: ${proc.log()}`)); });
    });
    return { display, process: proc, close: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
