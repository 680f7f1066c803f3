/**
 * System packages a few tests need (Debian's chromium, edid-decode,
 * vncsnapshot, openssl, qemu-system-x86 and the native VNC clients'
 * packages: scripts/test-deps.sh lists them).
 * `npm test` never installs them: `npm run setup:test` does (CI runs it in
 * .ci/run). Locally a missing one skips its tests with one line saying how
 * to enable them; under CI=true it fails the file, so CI never passes by
 * skipping.
 */
import { spawnSync } from 'node:child_process';

/** Whether `command` runs (`args` should make it exit at once); see the module doc for what happens when it does not. */
export function systemTool(command: string, args: readonly string[], purpose: string): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  if (!r.error) return true;
  const line = `${purpose} skipped: ${command} is not installed; run \`npm run setup:test\` (Debian: installs the packages scripts/test-deps.sh lists) to enable it.`;
  if (process.env['CI'] === 'true') throw new Error(`CI=true and ${command} is missing: ${line}`);
  console.warn(line);
  return false;
}
