/**
 * The dashboard's guard (src/dashboard/guard.ts): which Host names the address it listens on (the
 * DNS-rebinding rule), and which requests that change something come from its own page (CSRF).
 */
import { describe, expect, it } from 'vitest';
import { hostAllowed, refusal } from '../../src/dashboard/guard.js';

describe('the Host a dashboard request must name', () => {
  it('bound to 127.0.0.1: its address and the other loopback names, on its port only', () => {
    const bound = { host: '127.0.0.1', port: 8700 };
    for (const host of ['127.0.0.1:8700', 'localhost:8700', 'LOCALHOST:8700', '[::1]:8700']) expect(hostAllowed(host, bound)).toBe(true);
    for (const host of ['evil.example:8700', '127.0.0.1:8701', '127.0.0.1', 'localhost.:8700', '10.0.0.1:8700', '', undefined, 'a@127.0.0.1:8700'])
      expect(hostAllowed(host, bound)).toBe(false);
  });

  it('bound to 0.0.0.0 or ::: any name, on its port', () => {
    for (const host of ['0.0.0.0', '::']) {
      expect(hostAllowed('dash.internal:8700', { host, port: 8700 })).toBe(true);
      expect(hostAllowed('dash.internal:8701', { host, port: 8700 })).toBe(false);
    }
  });

  it('bound to another address: that one only (an IPv6 literal in brackets; no port is port 80)', () => {
    expect(hostAllowed('10.0.0.5:8700', { host: '10.0.0.5', port: 8700 })).toBe(true);
    expect(hostAllowed('localhost:8700', { host: '10.0.0.5', port: 8700 })).toBe(false);
    expect(hostAllowed('[fd00::5]:8700', { host: 'fd00::5', port: 8700 })).toBe(true);
    expect(hostAllowed('dash.internal', { host: 'dash.internal', port: 80 })).toBe(true);
  });
});

describe('a request that changes something', () => {
  const bound = { host: '127.0.0.1', port: 8700 };
  const own = { host: '127.0.0.1:8700', 'content-type': 'application/json' };

  it("passes from the dashboard's own page", () => {
    expect(refusal('POST', { ...own, origin: 'http://127.0.0.1:8700', 'sec-fetch-site': 'same-origin' }, bound)).toBeUndefined();
    expect(refusal('POST', { ...own, 'sec-fetch-site': 'none' }, bound)).toBeUndefined();
  });

  it('is refused 403 from another site or origin, 415 unless JSON; a GET is not', () => {
    expect(refusal('POST', { ...own, origin: 'https://evil.example' }, bound)?.status).toBe(403);
    expect(refusal('POST', { ...own, origin: 'http://localhost:8700' }, bound)?.status).toBe(403);
    expect(refusal('POST', { ...own, 'sec-fetch-site': 'cross-site' }, bound)?.status).toBe(403);
    expect(refusal('POST', { ...own, 'sec-fetch-site': 'same-site' }, bound)?.status).toBe(403);
    expect(refusal('POST', { ...own, 'content-type': 'text/plain' }, bound)?.status).toBe(415);
    expect(refusal('DELETE', { host: own.host }, bound)?.status).toBe(415);
    expect(refusal('GET', { host: own.host, origin: 'https://evil.example' }, bound)).toBeUndefined();
    expect(refusal('GET', { host: 'evil.example:8700' }, bound)?.status).toBe(421);
  });
});
