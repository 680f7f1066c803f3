/** The web view's token and origin checks (src/vnc/web-view-access.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/util/errors.ts';
import { checkToken, newToken, originAllowed, pageOrigin, tokenMatches } from '../../../src/vnc/web-view-access.ts';

describe('token', () => {
  it('a new token is 32 random bytes in base64url (43 characters) and passes its own check', () => {
    const a = newToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(() => checkToken(a)).not.toThrow();
    expect(newToken()).not.toBe(a);
  });

  it('an injected token must be 22–256 base64url characters', () => {
    for (const bad of ['', 'short', 'x'.repeat(21), 'x'.repeat(257), `${'x'.repeat(30)}&a=b`, `${'x'.repeat(30)} `]) {
      expect(() => checkToken(bad)).toThrow(ConfigError);
    }
    expect(() => checkToken('x'.repeat(22))).not.toThrow();
  });

  it('matches exactly the token, whatever the lengths (invariant: tokenMatches(t, g) ⇔ t === g)', () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string(), (t, g) => tokenMatches(t, g) === (t === g)));
    expect(tokenMatches('abc', null)).toBe(false);
    expect(tokenMatches('abc', undefined)).toBe(false);
    expect(tokenMatches('abc', 'abc')).toBe(true);
  });
});

describe('origin', () => {
  it("a page's origin is http:// + a loopback Host naming this port", () => {
    expect(pageOrigin('127.0.0.1:8080', 8080)).toBe('http://127.0.0.1:8080');
    expect(pageOrigin('LOCALHOST:8080', 8080)).toBe('http://localhost:8080');
    expect(pageOrigin('[::1]:8080', 8080)).toBe('http://[::1]:8080');
    for (const h of [undefined, '127.0.0.1', '127.0.0.1:8081', 'evil.example:8080', '127.0.0.1:8080; script-src *', '127.0.0.1:08080']) {
      expect(pageOrigin(h, 8080)).toBeUndefined();
    }
  });

  it('an upgrade is admitted only with the Origin of the page it was served to; a missing Origin is refused', () => {
    expect(originAllowed('http://127.0.0.1:8080', '127.0.0.1:8080', 8080)).toBe(true);
    expect(originAllowed('http://localhost:8080', 'localhost:8080', 8080)).toBe(true);
    expect(originAllowed(undefined, '127.0.0.1:8080', 8080)).toBe(false);
    expect(originAllowed('null', '127.0.0.1:8080', 8080)).toBe(false);
    expect(originAllowed('http://evil.example', '127.0.0.1:8080', 8080)).toBe(false);
    expect(originAllowed('http://127.0.0.1:9999', '127.0.0.1:8080', 8080)).toBe(false);
    expect(originAllowed('https://127.0.0.1:8080', '127.0.0.1:8080', 8080)).toBe(false);
    expect(originAllowed('http://localhost:8080', '127.0.0.1:8080', 8080)).toBe(false);
  });
});
