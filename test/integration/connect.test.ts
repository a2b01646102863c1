import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, normalizePeers, UnauthorizedError } from '../../src/client/connect.js';
import { InvalidRequestError, NotLeaderError, type RaftError } from '../../src/errors.js';
import { freePorts } from '../../src/server/ports.js';
import { NodeServers } from './node-servers.js';

const TOKEN = 'connect-test-token';
const cluster = new NodeServers();
const servers = cluster.servers;

afterEach(() => cluster.stopAll());

function startCluster(): Promise<Record<string, string>> {
  return cluster.start(TOKEN, 'xstate-raft-connect-');
}

describe('connect', () => {
  it('puts, gets, compares-and-sets, lists, deletes and reads status through any node, with the token', async () => {
    const peers = await startCluster();
    const kv = connect({ peers: Object.values(peers), token: TOKEN, timeout: 30_000 });
    expect((await kv.put('tasks/deploy', { owner: 'a' })).ok).toBe(true);
    await kv.put('tasks/test', 'open');
    await kv.put('other', 1);
    expect(await kv.get('tasks/deploy')).toEqual({ found: true, value: { owner: 'a' } });
    expect(await kv.get('missing')).toEqual({ found: false });
    expect(await kv.cas('tasks/test', 'open', 'taken')).toEqual({ ok: true });
    expect(await kv.cas('tasks/test', 'open', 'again')).toEqual({ ok: false, reason: 'precondition_failed', value: 'taken' });
    expect(await kv.cas('nothing', 'a', 'b')).toEqual({ ok: false, reason: 'not_found' });
    expect(await kv.list('tasks/')).toEqual([
      { key: 'tasks/deploy', value: { owner: 'a' } },
      { key: 'tasks/test', value: 'taken' },
    ]);
    expect(await kv.delete('other')).toEqual({ ok: true, existed: true });
    expect(await kv.delete('other')).toEqual({ ok: true, existed: false });
    const status = await kv.status();
    expect(status.map((s) => s.address)).toEqual(Object.values(peers));
    expect(status.filter((s) => s.ok && s.role === 'leader')).toHaveLength(1);
  });

  it('runs concurrent calls concurrently, each write applied once', async () => {
    const peers = await startCluster();
    const kv = connect({ peers, token: TOKEN, timeout: 30_000 });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => kv.put(`k${String(i).padStart(2, '0')}`, i)));
    // Each write has its own log index: none was applied twice, none lost.
    expect(new Set(results.map((r) => r.index)).size).toBe(40);
    const listed = await kv.list();
    expect(listed.map((e) => e.value)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('lists across pages', async () => {
    const peers = await startCluster();
    const kv = connect({ peers, token: TOKEN, timeout: 30_000 });
    await Promise.all(Array.from({ length: 1003 }, (_, i) => kv.put(`p/${String(i).padStart(4, '0')}`, i)));
    const listed = await kv.list('p/');
    expect(listed).toHaveLength(1003);
    expect(listed.at(-1)).toEqual({ key: 'p/1002', value: 1002 });
  }, 180_000);

  it('goes on through the other nodes when the leader stops', async () => {
    const peers = await startCluster();
    const kv = connect({ peers, token: TOKEN, timeout: 60_000 });
    await kv.put('before', 1);
    const leader = (await kv.status()).find((s) => s.ok && s.role === 'leader');
    const leaderId = leader?.ok ? leader.id : '';
    await servers.get(leaderId)?.stop();
    servers.delete(leaderId);
    await kv.put('after', 2);
    expect(await kv.get('before')).toEqual({ found: true, value: 1 });
    expect(await kv.get('after')).toEqual({ found: true, value: 2 });
    const stopped = (await kv.status()).find((s) => s.address === peers[leaderId]);
    expect(stopped?.ok).toBe(false);
  }, 120_000);

  it('refuses without the token at once (401 is not retried), and says how to fix it', async () => {
    const peers = await startCluster();
    const kv = connect({ peers, timeout: 600_000 }); // were it retried, this test would time out
    const error = await kv.put('x', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as RaftError).code).toBe('unauthorized');
    expect((error as Error).message).toMatch(/token/);
    await expect(connect({ peers, token: 'wrong', timeout: 600_000 }).get('x')).rejects.toThrow(UnauthorizedError);
    const [report] = await kv.status();
    expect(report).toMatchObject({ ok: false, refused: true });
  });

  it('applies a write once when its answer is lost and it is retried (the retry gets the first answer)', async () => {
    const peers = await startCluster();
    // n1 behind a proxy that forwards the first compare-and-set and then drops its answer.
    let dropped = 0;
    const proxy = http.createServer((req, res) => {
      const upstream = http.request({ host: '127.0.0.1', port: Number(peers.n1?.split(':')[1]), path: req.url, method: req.method, headers: req.headers }, (answer) => {
        if (req.method === 'POST' && dropped === 0) {
          dropped++;
          answer.resume();
          answer.on('end', () => req.socket.destroy()); // applied, and the client never hears of it
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      await connect({ peers, token: TOKEN, timeout: 30_000 }).put('counter', 0);
      // …once n1 knows the leader (else it answers 503 and the client moves on past the proxy).
      while (servers.get('n1')?.node.status().leaderId == null) await new Promise((r) => setTimeout(r, 20));
      const kv = connect({ peers: [`127.0.0.1:${(proxy.address() as AddressInfo).port}`, peers.n2 as string, peers.n3 as string], token: TOKEN, timeout: 30_000 });
      // Retried with a new sequence number, this would answer precondition_failed (it holds 1 already).
      expect(await kv.cas('counter', 0, 1)).toEqual({ ok: true });
      expect(dropped).toBe(1);
      expect(await kv.get('counter')).toEqual({ found: true, value: 1 });
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('runs at most maxInFlight calls at once', async () => {
    const peers = await startCluster();
    const kv = connect({ peers, token: TOKEN, timeout: 30_000, maxInFlight: 2 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => kv.put(`m${i}`, i)));
    // Two lanes, so the log's writes come from two sessions (client ids) of the dedup table.
    const leader = [...servers.values()].find((s) => s.node.status().role === 'leader');
    const sessions = new Set(
      leader?.node.log().flatMap((entry) => (entry.command && typeof entry.command === 'object' && 'client' in entry.command ? [entry.command.client?.id] : [])),
    );
    expect(sessions.size).toBe(2);
  });

  it('refuses a bad request at once with the node’s reason, changing nothing', async () => {
    const peers = await startCluster();
    const kv = connect({ peers, token: TOKEN, timeout: 600_000 });
    await expect(kv.put('k'.repeat(5000), 1)).rejects.toThrow(InvalidRequestError);
    await expect(kv.get('')).rejects.toThrow(/empty/);
    expect(await kv.list()).toEqual([]);
  });

  it('answers not_leader when no node is reachable (nothing was sent)', async () => {
    const [a, b] = await freePorts(2);
    const kv = connect({ peers: `127.0.0.1:${a},127.0.0.1:${b}`, timeout: 1000 });
    await expect(kv.put('x', 1)).rejects.toThrow(NotLeaderError);
  });

  it('reads peers as a list, a comma-separated string or an object, and refuses bad ones', () => {
    expect([...normalizePeers('n1=127.0.0.1:1,127.0.0.1:2, https://h:3')]).toEqual([
      ['n1', 'http://127.0.0.1:1'],
      ['127.0.0.1:2', 'http://127.0.0.1:2'],
      ['https://h:3', 'https://h:3'],
    ]);
    expect([...normalizePeers({ a: 'x:1' })]).toEqual([['a', 'http://x:1']]);
    expect(() => normalizePeers([])).toThrow(/peers is empty/);
    expect(() => normalizePeers('localhost')).toThrow(/host:port/);
    expect(() => normalizePeers('h:1/path')).toThrow(/host:port/);
    expect(() => normalizePeers('n1=h:1,n1=h:2')).toThrow(/twice/);
    expect([...normalizePeers('https://h:443,[::1]:7001,')]).toEqual([
      ['https://h:443', 'https://h'],
      ['[::1]:7001', 'http://[::1]:7001'],
    ]);
    expect(() => normalizePeers('user:pw@h:1')).toThrow(/host:port/);
    expect(() => connect({ peers: 'h:1', token: 'two words' })).toThrow(/token/);
    expect(() => connect({ peers: 'h:1', clientId: 'x'.repeat(65) })).toThrow(/clientId/);
  });
});
