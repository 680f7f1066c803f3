/** Which addresses the loopback listeners may bind and which Host headers they answer (src/sys/loopback-http.ts). */
import { describe, expect, it } from 'vitest';
import { hostHeaderAllowed, isLoopback, parseHostHeader } from '../../../src/sys/loopback-http.ts';

describe('isLoopback', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (h) => {
    expect(isLoopback(h)).toBe(true);
  });
  it.each(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'localhost.example', '127.0.0.1.example', '::ffff:10.0.0.1', ''])('%s is not', (h) => {
    expect(isLoopback(h)).toBe(false);
  });
});

describe('Host headers', () => {
  it('splits name and port, IPv6 literals in brackets', () => {
    expect(parseHostHeader('127.0.0.1:8080')).toEqual({ name: '127.0.0.1', port: '8080' });
    expect(parseHostHeader('LocalHost')).toEqual({ name: 'localhost', port: '' });
    expect(parseHostHeader('[::1]:9')).toEqual({ name: '::1', port: '9' });
    expect(parseHostHeader('[::1]')).toEqual({ name: '::1', port: '' });
  });

  it('answers loopback names and a missing header; refuses what a DNS-rebinding page would send', () => {
    for (const h of [undefined, '127.0.0.1:1', 'localhost:1', '[::1]:1', '127.0.0.2']) expect(hostHeaderAllowed(h, '127.0.0.1')).toBe(true);
    for (const h of ['evil.example:1', 'evil.example', '127.0.0.1.evil.example:1', '[::2]:1', '10.0.0.1:1', '']) expect(hostHeaderAllowed(h, '127.0.0.1')).toBe(false);
  });
});
