/**
 * npx tsx test/bench/membership.ts [--entries N] [--rounds R] [--writers W] [--catch-up-only]
 *   [--transfer-only] [--quick]
 * — the figures of issue 11, in wall-clock time on this machine (only here: never in src/core,
 * machines or src/sim). Every node is an `xstate-raft node` process (this repository's CLI under
 * tsx: SQLite, the HTTP transport on 127.0.0.1, the node's default timeouts — election 150–300 ms,
 * heartbeat 50 ms) on ports chosen at run time, in temporary data directories.
 *
 * 1. A learner catching up N entries (default 100 000), without and with snapshots. Three voters
 *    take N writes through the leader's HTTP API (W at a time, default 64: puts of 100-character strings to
 *    10 000 keys, so the state machine stays ~1.3 MB). "Without": --snapshot-threshold above N,
 *    the leader holds the whole log and sends it in AppendEntries; "with": the node's default
 *    threshold (8192), the leader has compacted and sends its snapshot (InstallSnapshot), then the
 *    entries after it. Then n4 starts with `--join` and an empty data directory and waits (its start
 *    is not timed); the time is from the POST /admin/members that adds it as a learner to n4's
 *    /status showing lastApplied ≥ the leader's commitIndex at that moment (polled every 20 ms).
 *    The writes have stopped: the leader does nothing else meanwhile.
 *
 * 2. Leadership transfer against an election after kill -9 of the leader, R rounds each (default
 *    10), median (min–max). Transfer: POST /admin/transfer-leadership {} to the leader (the most
 *    up-to-date other voter); "leader" is until its answer (the new leader leads and the old one
 *    knows it). Kill: SIGKILL to the leader; "leader" is until a survivor's /status says it leads
 *    in a later term (polled every 5 ms). For both, "write" is until the first write acknowledged
 *    after the start (a client retrying a PUT every 10 ms round the nodes still up). Between
 *    rounds the killed node is restarted from its data and the cluster settles.
 *
 * --quick: 3 000 entries (a snapshot every 500 in "with") and 3 rounds, a smoke run whose figures mean little.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessCluster } from '../../src/server/process-cluster.js';
import { freePorts } from '../../src/server/ports.js';
import { flag, wholeNumber } from './args.js';

// ---------------------------------------------------------------- arguments

const QUICK = flag('quick');
const ENTRIES = wholeNumber('entries', QUICK ? 3000 : 100_000);
const ROUNDS = wholeNumber('rounds', QUICK ? 3 : 10);
const WRITERS = wholeNumber('writers', 64);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const VALUE = 'v'.repeat(100);

// ---------------------------------------------------------------- small helpers

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function spread(xs: readonly number[]): string {
  return `${Math.round(median(xs))} ms (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;
}

async function request(address: string, method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://${address}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed as Record<string, unknown> };
}

async function status(address: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await request(address, 'GET', '/status', undefined, 1000)).body;
  } catch {
    return undefined;
  }
}

/** The leader the running nodes agree on (ids and addresses), and its term. */
async function agreedLeader(cluster: ProcessCluster, ids: readonly string[], timeoutMs = 60_000): Promise<{ id: string; term: number }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(ids.map((id) => status(cluster.address(id))));
    const leader = statuses.find((s) => s?.role === 'leader');
    if (leader !== undefined && statuses.every((s) => s?.leaderId === leader.id && s?.term === leader.term)) return { id: leader.id as string, term: leader.term as number };
    await sleep(50);
  }
  throw new Error(`no agreed leader among ${ids.join(', ')} within ${timeoutMs} ms`);
}

function startCluster(dataDir: string, ports: number[], snapshotThreshold?: number): ProcessCluster {
  const cluster = new ProcessCluster({
    size: 3,
    host: '127.0.0.1',
    ports,
    dataDir,
    ...(snapshotThreshold !== undefined ? { snapshotThreshold } : {}),
    nodeArgs: ['--log-level', 'warn'],
    command: { command: process.execPath, args: ['--import', 'tsx', CLI] },
  });
  cluster.startAll();
  return cluster;
}

/**
 * N puts, W at a time, to the leader (then round the nodes if it fails); a 503/504 or a lost
 * connection is retried (the same value again: at worst one more entry).
 */
async function load(cluster: ProcessCluster, leader: string, n: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const addresses = [leader, ...cluster.ids.filter((id) => id !== leader)].map((id) => cluster.address(id));
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        for (let attempt = 0; ; attempt++) {
          try {
            const reply = await request(addresses[attempt % addresses.length] as string, 'PUT', `/kv/k${i % 10_000}`, { value: VALUE }, 30_000);
            if (reply.status === 200) break;
          } catch {
            // retried below
          }
          if (attempt > 200) throw new Error(`write ${i} failed 200 times`);
          await sleep(20);
        }
      }
    }),
  );
  return performance.now() - started;
}

// ---------------------------------------------------------------- 1. a learner catching up

async function catchUp(withSnapshots: boolean): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-bench-members-'));
  const ports = await freePorts(4);
  // Without: a threshold no run reaches, so the whole log stays and is sent entry by entry.
  const cluster = startCluster(dataDir, ports.slice(0, 3), withSnapshots ? (QUICK ? 500 : undefined) : 1_000_000_000);
  try {
    const { id: leader } = await agreedLeader(cluster, cluster.ids);
    const loadMs = await load(cluster, leader, ENTRIES);
    const leaderAddress = cluster.address((await agreedLeader(cluster, cluster.ids)).id);
    const before = (await status(leaderAddress)) as Record<string, number>;
    cluster.join('n4', ports[3] as number, cluster.address(leader));
    const n4 = cluster.address('n4');
    for (let i = 0; (await status(n4)) === undefined; i++) {
      if (i > 600) throw new Error('n4 did not start within 60 s');
      await sleep(100);
    }
    const target = before.commitIndex as number;
    const t0 = performance.now();
    const added = await request(leaderAddress, 'POST', '/admin/members', { id: 'n4', address: n4, role: 'learner' }, 60_000);
    if (added.status !== 200) throw new Error(`adding n4 failed: ${added.status} ${JSON.stringify(added.body)}`);
    const addedMs = performance.now() - t0;
    let last: Record<string, unknown> | undefined;
    for (;;) {
      last = await status(n4);
      if (last !== undefined && (last.lastApplied as number) >= target) break;
      if (performance.now() - t0 > 600_000) throw new Error(`n4 did not catch up within 600 s (last: ${JSON.stringify(last)})`);
      await sleep(20);
    }
    const ms = performance.now() - t0;
    const how = (last.snapshotIndex as number) > 0 ? `through a snapshot at index ${String(last.snapshotIndex)}, then the log after it` : 'entry by entry (no snapshot)';
    return (
      `catch-up ${withSnapshots ? 'with' : 'without'} snapshots: a learner reached index ${target} in ${seconds(ms)} (${how}; add committed in ${Math.round(addedMs)} ms; ` +
      `leader snapshotIndex ${before.snapshotIndex}, log ${before.logLength ?? '?'} entries; ${ENTRIES} writes loaded in ${seconds(loadMs)})`
    );
  } finally {
    await cluster.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- 2. transfer against kill -9

/** From `t0`, PUT every 10 ms round `addresses()` until one is acknowledged; ms after t0. */
async function firstWrite(addresses: () => string[], t0: number, key: string): Promise<number> {
  for (let i = 0; ; i++) {
    const list = addresses();
    try {
      const reply = await request(list[i % list.length] as string, 'PUT', `/kv/${key}`, { value: i }, 2000);
      if (reply.status === 200) return performance.now() - t0;
    } catch {
      // a node that is down, or a write that timed out: the next try
    }
    if (performance.now() - t0 > 60_000) throw new Error('no write acknowledged within 60 s');
    await sleep(10);
  }
}

async function transferAndKill(): Promise<string[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-bench-transfer-'));
  const cluster = startCluster(dataDir, await freePorts(3));
  const ids = cluster.ids;
  const transfer = { leader: [] as number[], write: [] as number[] };
  const kill = { leader: [] as number[], write: [] as number[] };
  try {
    let { id: leader } = await agreedLeader(cluster, ids);
    await firstWrite(() => [cluster.address(leader)], performance.now(), 'warm-up');
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      const writing = firstWrite(() => ids.map((id) => cluster.address(id)), t0, `transfer-${round}`);
      const moved = await request(cluster.address(leader), 'POST', '/admin/transfer-leadership', {}, 30_000);
      if (moved.status !== 200) throw new Error(`transfer ${round} failed: ${moved.status} ${JSON.stringify(moved.body)}`);
      transfer.leader.push(performance.now() - t0);
      transfer.write.push(await writing);
      leader = (await agreedLeader(cluster, ids)).id;
      await sleep(500);
    }
    for (let round = 0; round < ROUNDS; round++) {
      const old = await agreedLeader(cluster, ids);
      const survivors = ids.filter((id) => id !== old.id);
      const t0 = performance.now();
      const killed = cluster.signal(old.id, 'SIGKILL');
      const writing = firstWrite(() => survivors.map((id) => cluster.address(id)), t0, `kill-${round}`);
      for (;;) {
        const statuses = await Promise.all(survivors.map((id) => status(cluster.address(id))));
        if (statuses.some((s) => s?.role === 'leader' && (s.term as number) > old.term)) break;
        if (performance.now() - t0 > 60_000) throw new Error('no new leader within 60 s of the kill');
        await sleep(5);
      }
      kill.leader.push(performance.now() - t0);
      kill.write.push(await writing);
      await killed;
      cluster.start(old.id);
      await agreedLeader(cluster, ids);
      await sleep(500);
    }
  } finally {
    await cluster.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return [
    `transfer-leadership (${ROUNDS} rounds): new leader known to the old one after ${spread(transfer.leader)}; first write acknowledged after ${spread(transfer.write)}`,
    `election after kill -9 of the leader (${ROUNDS} rounds): a survivor leads after ${spread(kill.leader)}; first write acknowledged after ${spread(kill.write)}`,
  ];
}

// ---------------------------------------------------------------- main

if (!flag('transfer-only')) for (const withSnapshots of [false, true]) console.log(await catchUp(withSnapshots));
if (!flag('catch-up-only')) for (const line of await transferAndKill()) console.log(line);
