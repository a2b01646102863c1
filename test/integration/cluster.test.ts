/**
 * A real cluster of `xstate-raft node` processes on 127.0.0.1: elections, writes and
 * linearizable reads through any node, and survival of kill -9, SIGSTOP and full restarts with
 * every acknowledged write kept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defaultClusterId } from '../../src/server/node-server.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';
import { ClusterProcesses, http, httpRetry, sleep } from './processes.js';

let cluster: ClusterProcesses | undefined;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = undefined;
});

async function started(size = 3, nodeArgs?: string[]): Promise<ClusterProcesses> {
  cluster = await ClusterProcesses.create({ size, ...(nodeArgs !== undefined ? { nodeArgs } : {}) });
  cluster.startAll();
  await cluster.waitForLeader(15_000);
  return cluster;
}

describe('a 3-process cluster', { timeout: 120_000 }, () => {
  it('elects a leader and serves writes and linearizable reads through any node', async () => {
    const c = await started();
    const [a, b, d] = c.addresses as [string, string, string];
    const put = await httpRetry([a], 'PUT', '/kv/greeting', { value: { hello: 'world' } });
    expect(put.status).toBe(200);
    expect(put.body.index).toBeGreaterThan(0);
    for (const address of [a, b, d]) {
      expect(await http(address, 'GET', '/kv/greeting')).toEqual({ status: 200, body: { value: { hello: 'world' } } });
    }
    expect((await http(b, 'GET', '/kv/missing')).status).toBe(404);
    expect((await http(d, 'POST', '/kv/greeting/cas', { from: 'nope', to: 1 })).status).toBe(409);
    expect((await http(d, 'POST', '/kv/greeting/cas', { from: { hello: 'world' }, to: 2 })).status).toBe(200);
    expect((await http(a, 'GET', '/kv/greeting')).body).toEqual({ value: 2 });
    expect((await http(b, 'POST', '/kv/absent/cas', { from: 1, to: 2 })).status).toBe(404);
    expect((await http(a, 'DELETE', '/kv/greeting')).status).toBe(200);
    expect((await http(b, 'GET', '/kv/greeting')).status).toBe(404);
    const metrics = await fetch(`http://${a}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/xstate_raft_term\{node="n\d"\} \d+/);
    expect(metrics).toMatch(/xstate_raft_storage_write_seconds_count/);
    expect((await http(a, 'GET', '/health')).status).toBe(200);
  });

  it('survives kill -9 of the leader and of a follower', async () => {
    const c = await started();
    await httpRetry(c.addresses, 'PUT', '/kv/k', { value: 1 });
    const leader = await c.waitForLeader();
    await c.signal(leader, 'SIGKILL');
    const rest = c.ids.filter((id) => id !== leader);
    const next = await c.waitForLeader(10_000, rest);
    expect(next).not.toBe(leader);
    const live = rest.map((id) => c.address(id));
    expect((await httpRetry(live, 'PUT', '/kv/k', { value: 2 })).status).toBe(200);
    expect((await httpRetry(live, 'GET', '/kv/k')).body).toEqual({ value: 2 });

    c.start(leader);
    await c.waitForLeader(10_000);
    const follower = c.ids.find((id) => id !== next) as string;
    await c.signal(follower, 'SIGKILL');
    const remaining = c.ids.filter((id) => id !== follower).map((id) => c.address(id));
    expect((await httpRetry(remaining, 'PUT', '/kv/k', { value: 3 })).status).toBe(200);
    expect((await httpRetry(remaining, 'GET', '/kv/k')).body).toEqual({ value: 3 });
  });

  it('deposes a leader frozen with SIGSTOP for longer than an election timeout, and never serves a stale read', async () => {
    const c = await started();
    await httpRetry(c.addresses, 'PUT', '/kv/x', { value: 'before' });
    const old = await c.waitForLeader();
    await c.signal(old, 'SIGSTOP');
    await sleep(1000);
    const others = c.ids.filter((id) => id !== old);
    const next = await c.waitForLeader(10_000, others);
    expect(next).not.toBe(old);
    const live = others.map((id) => c.address(id));
    expect((await httpRetry(live, 'PUT', '/kv/x', { value: 'after' })).status).toBe(200);
    await c.signal(old, 'SIGCONT');
    // The first thing the old leader may answer is the new value: its own read must go through a
    // leader that can confirm itself, and it cannot.
    const read = await httpRetry([c.address(old)], 'GET', '/kv/x', undefined, 10_000);
    expect(read.body).toEqual({ value: 'after' });
    await c.waitForLeader(10_000);
    expect((await c.status(old))?.role).toBe('follower');
  });

  it('keeps every acknowledged write when all three restart at once', async () => {
    const c = await started();
    for (let i = 0; i < 20; i++) expect((await putAcknowledged(c.addresses, `key${i}`, i)).status).toBe(200);
    await Promise.all(c.ids.map((id) => c.signal(id, 'SIGKILL')));
    c.startAll();
    await c.waitForLeader(15_000);
    for (let i = 0; i < 20; i++) expect((await httpRetry(c.addresses, 'GET', `/kv/key${i}`)).body).toEqual({ value: i });
  });

  for (const writeThread of [false, true]) {
    it(`keeps every acknowledged write on a majority through repeated kill -9 under a steady write load${writeThread ? ' (--write-thread: the log written by a writer thread)' : ''}`, async () => {
      const c = await started(3, writeThread ? ['--write-thread'] : undefined);
      const acknowledged = new Map<string, number>(); // key → log index
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          try {
            const reply = await http(c.addresses[i % 3] as string, 'PUT', `/kv/w${i}`, { value: i });
            if (reply.status === 200) acknowledged.set(`w${i}`, reply.body.index as number);
          } catch {
            await sleep(20);
          }
        }
      })();
      for (let round = 0; round < 6; round++) {
        await sleep(400);
        const victim = c.ids[Math.floor(Math.random() * c.ids.length)] as string;
        await c.signal(victim, 'SIGKILL');
        await sleep(300);
        c.start(victim);
      }
      await sleep(500);
      writing = false;
      await writer;
      expect(acknowledged.size).toBeGreaterThan(10);
      await c.waitForLeader(15_000);
      // Every acknowledged write is readable…
      for (const [key] of [...acknowledged].slice(-20)) {
        expect((await httpRetry(c.addresses, 'GET', `/kv/${key}`)).status).toBe(200);
      }
      // …and, on disk, on a majority at the index it was acknowledged with.
      await c.stopAll();
      const peers = Object.fromEntries(c.ids.map((id) => [id, c.address(id)]));
      const logs = c.ids.map((id) => {
        const storage = SqliteStorage.open(c.dataDir(id), { nodeId: id, clusterId: defaultClusterId(peers) });
        const { entries } = storage.load();
        storage.close();
        return entries;
      });
      for (const [key, index] of acknowledged) {
        const holders = logs.filter((log) => {
          const command = log[index - 1]?.command as { type?: string; key?: string } | undefined;
          return command?.type === 'put' && command.key === key;
        }).length;
        expect(holders, `${key} at index ${index}`).toBeGreaterThanOrEqual(2);
      }
    });
  }
});

/**
 * PUT `value` at `key` until acknowledged. Putting the same value again is idempotent, so a write
 * whose outcome is unknown (504: its leader lost office, as a loaded machine's stalled event loop
 * can make it) is simply sent again; only 200 counts as acknowledged.
 */
async function putAcknowledged(addresses: string[], key: string, value: unknown): Promise<{ status: number }> {
  let reply = await httpRetry(addresses, 'PUT', `/kv/${key}`, { value });
  for (let attempt = 1; reply.status === 504 && attempt < 5; attempt++) reply = await httpRetry(addresses, 'PUT', `/kv/${key}`, { value });
  return reply;
}
