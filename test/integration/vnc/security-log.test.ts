/**
 * A failed VNC authentication is a security event in the JSON log: a real
 * VncServer on a Unix socket, the RFC 6143 test viewer answering the
 * challenge with the wrong password (VNC Authentication, §7.2.2).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setLogFormat } from '../../../src/util/log.ts';
import { vncAuthenticator, vncAuthResponse } from '../../../src/vnc/vnc-auth.ts';
import { RfbSecurityFailure } from '../../support/rfb-client.ts';
import { startRfbFixture, type RfbFixture } from '../../support/rfb-fixture.ts';

let fx: RfbFixture | undefined;
afterEach(async () => {
  setLogFormat('human');
  await fx?.close();
  fx = undefined;
});

describe('VNC security events', () => {
  it('a wrong password logs vnc-auth-failed with security: true and the peer', async () => {
    const lines: string[] = [];
    setLogFormat('json', { sink: (l) => lines.push(l) });
    fx = await startRfbFixture({ auth: vncAuthenticator('s3cret') });
    const c = await fx.connect();
    const failure = await c.handshake({ respond: (ch) => vncAuthResponse('wrong', ch) }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RfbSecurityFailure);
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === 'vnc-auth-failed');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ level: 'warn', category: 'vnc', security: true, msg: expect.stringMatching(/VNC authentication failed$/) as unknown });
    expect(String(events[0]!['peer'])).toMatch(/^mbochs-0 vnc/);
  });
});
