/**
 * npx tsx test/bench/coord.ts [--tasks N] [--claimers C] [--samples S] [--quick]
 * — issue 12's figures, in wall-clock time on this machine. Three `xstate-raft node` processes
 * (this repository's CLI under tsx: SQLite with fsync, the HTTP transport on 127.0.0.1, default
 * timeouts) on ports chosen at run time, in temporary data directories; one client process (this
 * one) using connect().
 *
 * 1. Claims/s: N tasks (default 5000) posted first (not timed), then C claimers (default 32), each
 *    in a loop claim → complete, until the queue is empty: "claims/s" is claims granted per second,
 *    and "claim+complete" the pairs per second (the same count: every claim is completed). Also
 *    the p50/p99 of one claim call. Baseline, in the same run: as many plain KV puts (two per
 *    claimed task) by C writers through the same client; the ratio is claim+complete operations
 *    per second over puts per second.
 * 2. Watch latency: a watcher on `bench/` (GET /v1/watch, Server-Sent Events, from the node the
 *    client reaches first) and a writer doing S sequential puts (default 1000) of `bench/k`: the
 *    latency of a change is from the put's call to the watcher receiving that change (both in this
 *    process, on performance.now()); p50, p99, max. The put's own latency (until its 200) is shown
 *    beside it: the watch adds the time from the leader's answer to the watched node's apply.
 *
 * --quick: 500 tasks, 8 claimers, 200 samples — a smoke run whose figures mean little.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/client/connect.js';
import { freePorts } from '../../src/server/ports.js';
import { ProcessCluster } from '../../src/server/process-cluster.js';
import { flag, wholeNumber } from './args.js';

const QUICK = flag('quick');
const TASKS = wholeNumber('tasks', QUICK ? 500 : 5000);
const CLAIMERS = wholeNumber('claimers', QUICK ? 8 : 32);
const SAMPLES = wholeNumber('samples', QUICK ? 200 : 1000);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

const ms = (x: number) => `${x.toFixed(2)} ms`;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-bench-coord-'));
  const cluster = new ProcessCluster({
    size: 3,
    host: '127.0.0.1',
    ports: await freePorts(3),
    dataDir,
    nodeArgs: ['--log-level', 'warn'],
    command: { command: process.execPath, args: ['--import', 'tsx', CLI] },
  });
  cluster.startAll();
  const client = connect({ peers: cluster.ids.map((id) => cluster.address(id)), timeout: 30_000, maxInFlight: Math.max(64, CLAIMERS) });
  try {
    // Ready: a write goes through.
    for (let deadline = Date.now() + 60_000; ; ) {
      try {
        await client.put('bench/ready', true);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(100);
      }
    }

    // 1. Claims per second.
    let posted = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (posted < TASKS) {
          const n = posted++;
          await client.tasks.post('bench', { n }, { id: `task-${n}` });
        }
      }),
    );
    const claimLatency: number[] = [];
    let claimed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLAIMERS }, async (_, c) => {
        for (;;) {
          const t0 = performance.now();
          const claim = await client.tasks.claim('bench', { worker: `w${c}`, ttlMs: 30_000 });
          claimLatency.push(performance.now() - t0);
          if (claim === undefined) return;
          claimed++;
          await client.tasks.complete(claim.id, claim.token, c);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `claims: ${claimed} tasks claimed and completed by ${CLAIMERS} claimers in ${seconds.toFixed(2)} s — ${Math.round(claimed / seconds)} claims/s ` +
        `(${Math.round(claimed / seconds)} claim+complete pairs/s); one claim: p50 ${ms(percentile(claimLatency, 50))}, p99 ${ms(percentile(claimLatency, 99))}`,
    );

    // The baseline, same client, same cluster, same run: plain KV puts by as many writers, for as
    // many operations as the claimers made (a claim and a complete each).
    let puts = 0;
    const putStarted = performance.now();
    await Promise.all(
      Array.from({ length: CLAIMERS }, async (_, c) => {
        while (puts < 2 * claimed) {
          puts++;
          await client.put(`bench/p${c}`, puts);
        }
      }),
    );
    const putSeconds = (performance.now() - putStarted) / 1000;
    console.log(
      `baseline: ${puts} KV puts by ${CLAIMERS} writers in ${putSeconds.toFixed(2)} s — ${Math.round(puts / putSeconds)} puts/s; ` +
        `claim+complete is ${((2 * claimed) / seconds / (puts / putSeconds)).toFixed(2)}× the put rate in operations`,
    );
    // 2. Watch latency.
    const abort = new AbortController();
    const sent = new Map<number, number>();
    const latency: number[] = [];
    const putLatency: number[] = [];
    let wake: (() => void) | undefined;
    const watching = (async () => {
      for await (const message of client.watch('bench/k', { signal: abort.signal })) {
        if (message.type !== 'changes') continue;
        const now = performance.now();
        for (const change of message.changes) {
          const at = sent.get(change.value as number);
          if (at !== undefined) latency.push(now - at);
        }
        wake?.();
      }
    })().catch(() => undefined);
    await sleep(500); // the watch is subscribed
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      sent.set(i, t0);
      const seen = new Promise<void>((resolve) => {
        wake = resolve;
      });
      await client.put('bench/k', i);
      putLatency.push(performance.now() - t0);
      await Promise.race([seen, sleep(5000)]);
    }
    abort.abort();
    await watching;
    console.log(
      `watch: ${latency.length}/${SAMPLES} changes seen; put → change received p50 ${ms(percentile(latency, 50))}, p99 ${ms(percentile(latency, 99))}, max ${ms(Math.max(...latency))}; ` +
        `the put itself p50 ${ms(percentile(putLatency, 50))}, p99 ${ms(percentile(putLatency, 99))}`,
    );
  } finally {
    await cluster.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
