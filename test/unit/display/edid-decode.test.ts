/**
 * The generated EDID against an independent checker: edid-decode (Debian
 * package edid-decode, 0.1~git20220315). With --check it prints a
 * "Warnings:" and/or "Failures:" section when a check trips and ends with
 * "EDID conformity: PASS" or "EDID conformity: FAIL"; --native-resolution
 * adds a "Native Video Resolution:" section. Skipped when the binary is not
 * installed (`apt-get install edid-decode`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateEdid, type EdidOptions } from '../../../src/display/edid.ts';
import { systemTool } from '../../support/system-deps.ts';

const edidDecode = systemTool('edid-decode', ['--help'], 'the edid-decode conformity tests') ? 'edid-decode' : undefined;

const dir = mkdtempSync(join(tmpdir(), 'mdevsim-edid-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run edid-decode --check --native-resolution on the blob; its stdout (exit status 254 on failures is not an error here). */
function decode(blob: Uint8Array, name: string): string {
  const file = join(dir, `${name}.bin`);
  writeFileSync(file, blob);
  try {
    return execFileSync(edidDecode!, ['--check', '--native-resolution', file], { encoding: 'utf8' });
  } catch (err) {
    const out = (err as { stdout?: string }).stdout;
    if (typeof out === 'string' && out.length > 0) return out;
    throw err;
  }
}

const cases: EdidOptions[] = [
  { width: 1280, height: 800 },
  { width: 800, height: 600 },
  { width: 1920, height: 1080 },
  { width: 1920, height: 1440 },
  { width: 2560, height: 1600, name: 'mbochs-large', serial: 'MDEV-0001' },
  { width: 64, height: 64 },
  { width: 4095, height: 4095 },
  { width: 64, height: 4095 },
  { width: 4095, height: 64 },
  { width: 1366, height: 768, refreshHz: 75, serial: 0xdeadbeef, manufacturer: 'QEM', productCode: 0x1234 },
];

describe.skipIf(!edidDecode)('edid-decode --check on generated blobs (skipped when edid-decode is not installed)', () => {
  for (const opts of cases) {
    const label = `${opts.width}×${opts.height}${opts.refreshHz ? `@${opts.refreshHz}` : ''}`;
    it(`${label}: "EDID conformity: PASS", no warnings or failures, DTD 1 and native resolution ${opts.width}x${opts.height}`, () => {
      const out = decode(generateEdid(opts), label.replace(/[^0-9a-z@]/gi, '_'));
      expect(out).toContain('EDID conformity: PASS');
      expect(out).not.toMatch(/^Warnings:/m);
      expect(out).not.toMatch(/^Failures:/m);
      expect(out).toContain('EDID Structure Version & Revision: 1.4');
      expect(out).toMatch(new RegExp(`DTD 1: +${opts.width}x${opts.height} `));
      expect(out).toMatch(new RegExp(`Native Video Resolution:\\n +${opts.width}x${opts.height}\\b`));
      expect(out).toContain(`Manufacturer: ${opts.manufacturer ?? 'MDS'}`);
      expect(out).toContain(`Display Product Name: '${opts.name ?? 'mdevsim'}'`);
      expect(out).toContain('Display Range Limits');
    });
  }

  it('the checker is live: a corrupted checksum is reported as a failure', () => {
    const blob = generateEdid({ width: 1280, height: 800 });
    blob[127] = blob[127]! ^ 1;
    const out = decode(blob, 'bad-checksum');
    expect(out).toMatch(/^Failures:/m);
    expect(out).toContain('EDID conformity: FAIL');
  });
});
