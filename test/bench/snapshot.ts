/**
 * tsx test/bench/snapshot.ts [--writes N] [--threshold T] [--runs R] [--state-mb M] [--heartbeat H]
 *   [--install-timeout S] [--install-only] [--quick] [--dir D]
 * — the figures of issue 10, in wall-clock time on this machine (only here: never in src/core,
 * machines or src/sim).
 *
 * 1. Restart after N writes (default 100 000), with and without snapshots. One node (a cluster of
 *    one, in this process) on SqliteStorage in a temporary directory, a KV state machine, puts of
 *    ~100-byte values to 10 000 keys, proposed 1 000 at a time (one batch, one fsync each). "With":
 *    a snapshot every T applied entries (default 10 000, as in issue 10's kill -9 test);
 *    "without": a threshold above N, so the whole log stays. Then the node is stopped and
 *    restarted R times (default 5): restart time is from opening the storage to the node having
 *    applied every entry the storage held (lastApplied = commitIndex ≥ its last index), median of
 *    the R. Entries after the snapshot wait for the node's election (timeout 10–20 ms) and its
 *    no-op's commit. The "with" case is measured twice: right after the N writes, and after as
 *    many more as leave the log just under the threshold (the longest tail a restart replays).
 *    raft.db and raft.db-wal are measured after the writes, while the storage is open, and after
 *    it is closed.
 *
 * 2. InstallSnapshot of an M MB state machine (default 50: M×10 keys of 100 KB strings). n1 and n2
 *    run in this process (startNodeServer: SQLite, the real HttpTransport on 127.0.0.1, heartbeat
 *    H ms — default 50, the CLI's — and election timeout 3H–6H), take the writes, and the leader
 *    snapshots and compacts; then n3 starts with an empty data directory in a child process (this
 *    script with --follower) and catches up through InstallSnapshot. Its time is from n3's start
 *    (opening its storage) to its snapshotIndex reaching the leader's, measured in the child, given
 *    up after S s (default 300; the line then says how much of the snapshot n3 had, and the exit
 *    code is 1). The longest event-loop stall (perf_hooks.monitorEventLoopDelay, 5 ms resolution)
 *    is measured in this process — the leader's, and n2's, which only takes heartbeats meanwhile —
 *    while the leader takes its snapshot and during the transfer; and in the child, the
 *    follower's. One run (a follower can join with an empty disk only once). --install-only skips 1.
 *
 * --quick: 2 000 writes, threshold 500, 3 restarts, a 2 MB state machine: a smoke test
 * (test/unit/bench-snapshot.test.ts runs it) whose figures mean little.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { systemClock } from '../../src/runtime/clock.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { startNodeServer, type NodeServer } from '../../src/server/node-server.js';
import { freePorts } from '../../src/server/ports.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { flag, option, wholeNumber } from './args.js';

// ---------------------------------------------------------------- arguments

// ---------------------------------------------------------------- small helpers

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 10e6 ? 2 : 1)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A started event-loop delay histogram. A stall is recorded by the timer tick that follows it, and
 * one right after enable() (or reset()) goes unseen: let it tick before measuring, and once more
 * after (`stop`). What it holds before the work is the idle loop's few ms.
 */
async function stallMonitor(): Promise<{ stop(): Promise<number> }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await sleep(30);
  return {
    async stop() {
      await sleep(20);
      h.disable();
      return h.max / 1e6;
    },
  };
}

/** Resolves once `predicate` holds, checked now and after every turn of the event loop. */
function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate()) resolve();
      else if (performance.now() > deadline) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(check, 1);
    };
    check();
  });
}

const IDS = { nodeId: 'n1', clusterId: 'bench-snapshot' };
/** Short election timeouts: a restart's election is part of the restart, and should not dominate it. */
const ELECTION = [10, 20] as const;
const HEARTBEAT = 3;

// ---------------------------------------------------------------- 1. restart after N writes

interface Restart {
  /** Median ms from opening storage to everything applied, and its part before the node runs (open, load, restore). */
  ms: number;
  openMs: number;
  /** What the restarted node held: its snapshot's index, and the log rows after it. */
  snapshotIndex: number;
  logRows: number;
}

interface Written {
  lastIndex: number;
  /** raft.db + raft.db-wal while the storage is open, the -wal alone, and both once it is closed. */
  database: { open: number; wal: number; closed: number };
}

type Kv = RaftNode<unknown, unknown, unknown, unknown>;

function startSingle(dir: string, threshold: number): { node: Kv; storage: SqliteStorage } {
  const storage = SqliteStorage.open(dir, IDS);
  const node = createRaftNode({
    id: 'n1',
    peers: ['n1'],
    transport: new MemoryNetwork(systemClock).transport('n1'),
    storage,
    stateMachine: new KvStateMachine(),
    clock: systemClock,
    electionTimeout: ELECTION,
    heartbeatInterval: HEARTBEAT,
    snapshotThreshold: threshold,
    proposalTimeout: 120_000,
    onError: (error, context) => console.error(`n1: ${context}:`, error),
  }) as Kv;
  return { node, storage };
}

/** `count` puts of ~100-byte values to 10 000 keys, 1 000 proposals at a time (one batch, one fsync each). */
async function write(dir: string, threshold: number, from: number, count: number): Promise<Written> {
  const { node, storage } = startSingle(dir, threshold);
  await until(() => node.status().role === 'leader', 10_000, 'n1 to lead');
  const value = 'v'.repeat(96);
  for (let done = 0; done < count; ) {
    const window = Math.min(1000, count - done);
    const at = from + done;
    await Promise.all(Array.from({ length: window }, (_, i) => node.propose({ type: 'put', key: `key-${(at + i) % 10_000}`, value: `${at + i}:${value}` })));
    done += window;
  }
  await until(() => node.status().lastApplied === node.status().commitIndex, 10_000, 'n1 to apply everything');
  const stats = storage.stats();
  const lastIndex = node.status().lastApplied;
  node.stop({ flush: true });
  storage.close();
  const file = join(dir, 'raft.db');
  return { lastIndex, database: { open: stats.databaseBytes + stats.walBytes, wal: stats.walBytes, closed: fileSize(file) + fileSize(`${file}-wal`) } };
}

/**
 * Restart the node `runs` times: from opening its storage until it has applied every entry the
 * storage held (lastApplied = commitIndex ≥ its last index). Entries after the snapshot are applied
 * once the node, leader again, commits its term's no-op: so the election is part of it, unless the
 * snapshot covers the whole log. Each restart adds that no-op to the log.
 */
async function restarts(dir: string, threshold: number, runs: number): Promise<Restart> {
  const times: number[] = [];
  const opens: number[] = [];
  let held = { logRows: 0, snapshotIndex: 0 };
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const again = startSingle(dir, threshold);
    const opened = performance.now();
    // Nothing is written before the first flush: these are what the storage held at open.
    const stored = again.storage.stats();
    held = { logRows: stored.entryCount, snapshotIndex: stored.snapshotIndex };
    await until(
      () => {
        const s = again.node.status();
        return s.lastApplied >= stored.lastIndex && s.lastApplied === s.commitIndex;
      },
      120_000,
      'the restarted node to apply everything',
    );
    times.push(performance.now() - t0);
    opens.push(opened - t0);
    again.node.stop({ flush: true });
    again.storage.close();
  }
  return { ms: median(times), openMs: median(opens), ...held };
}

// ---------------------------------------------------------------- 2. InstallSnapshot of a large state machine

interface FollowerReport {
  /** n3 holds the leader's snapshot (false: the wait timed out, and `receivedBytes` says how far it got). */
  done: boolean;
  /** ms from n3's start (opening its storage) to its snapshotIndex ≥ the target, and to lastApplied ≥ it. */
  snapshotMs: number;
  appliedMs: number;
  /** ms from n3's start to its first message from the leader (the leader's sender retries a refused peer after 25 ms, doubling to 1 s). */
  leaderKnownMs: number;
  stallMs: number;
  snapshotIndex: number;
  installedBytes: number;
  /** Characters of the snapshot n3 had gathered when the wait ended (if it had not installed it). */
  receivedBytes: number;
}

interface Timing {
  heartbeatInterval: number;
  electionTimeout: readonly [number, number];
}

/** The child: n3 with an empty data directory, reporting when it holds the leader's snapshot. */
async function follower(config: { id: string; port: number; peers: Record<string, string>; dataDir: string; target: number; timeoutMs: number; timing: Timing }): Promise<void> {
  // The parent holds our stdin: when it ends (the parent exited or was killed), so do we.
  process.stdin.on('end', () => process.exit(1));
  process.stdin.resume();
  const stall = await stallMonitor();
  let installedBytes = 0;
  const t0 = performance.now();
  const server = await startNodeServer({
    id: config.id,
    listen: { host: '127.0.0.1', port: config.port },
    peers: config.peers,
    dataDir: config.dataDir,
    snapshotThreshold: 1_000_000_000,
    ...config.timing,
    logger: pino({ level: 'silent' }),
    onFatal: (reason) => {
      console.error(`n3 failed: ${reason}`);
      process.exit(1);
    },
  });
  server.node.on('snapshot', (s) => {
    if (s.source === 'installed') installedBytes = s.bytes;
  });
  let leaderKnownMs = server.node.status().leaderId !== null ? performance.now() - t0 : -1;
  server.node.on('leader', ({ leaderId }) => {
    if (leaderId !== null && leaderKnownMs < 0) leaderKnownMs = performance.now() - t0;
  });
  const done = await until(() => server.node.status().snapshotIndex >= config.target, config.timeoutMs, `n3's snapshotIndex to reach ${config.target}`).then(
    () => true,
    () => false,
  );
  const snapshotMs = performance.now() - t0;
  if (done) await until(() => server.node.status().lastApplied >= config.target, 60_000, `n3 to apply ${config.target}`);
  const appliedMs = performance.now() - t0;
  const report: FollowerReport = {
    done,
    snapshotMs,
    appliedMs,
    leaderKnownMs,
    stallMs: await stall.stop(),
    snapshotIndex: server.node.status().snapshotIndex,
    installedBytes,
    receivedBytes: server.node.actor.getSnapshot().context.incomingSnapshot?.received ?? 0,
  };
  console.log(`report ${JSON.stringify(report)}`);
  await server.stop();
  process.exit(0);
}

interface InstallFigures {
  stateBytes: number;
  keys: number;
  snapshotIndex: number;
  takeMs: number;
  /** The snapshot event's ms: the state machine's snapshot() and its encoding, plus the storage write. */
  eventMs: number;
  takeStallMs: number;
  follower: FollowerReport;
  leaderStallMs: number;
  /** This process's largest resident set size during the transfer, and before it. */
  rssBefore: number;
  rssPeak: number;
  /** Who took the snapshot (then led), and who led when n3 joined (who sent it), with its snapshot index. */
  leader: string;
  sender: string;
  target: number;
}

async function installSnapshot(stateMb: number, base: string, timeoutMs: number, timing: Timing): Promise<InstallFigures> {
  const keys = stateMb * 10;
  const ports = await freePorts(3);
  const peers = { n1: `127.0.0.1:${ports[0]}`, n2: `127.0.0.1:${ports[1]}`, n3: `127.0.0.1:${ports[2]}` };
  const dirs = ['n1', 'n2', 'n3'].map((id) => mkdtempSync(join(base, `xstate-raft-bench-install-${id}-`)));
  const servers: NodeServer[] = [];
  let child: ChildProcess | undefined;
  try {
    for (const [i, id] of (['n1', 'n2'] as const).entries()) {
      servers.push(
        await startNodeServer({
          id,
          listen: { host: '127.0.0.1', port: ports[i] as number },
          peers,
          dataDir: dirs[i] as string,
          // Only the explicit snapshot below: the transfer then carries exactly the whole state.
          snapshotThreshold: 1_000_000_000,
          ...timing,
          logger: pino({ level: 'silent' }),
          onFatal: (reason) => console.error(`${id} failed: ${reason}`),
        }),
      );
    }
    // n3 is cut off (isolate) until it starts. Without this the leader's HttpSender queues one
    // probe AppendEntries or snapshot chunk (up to 2 MiB) per heartbeat for the peer that is down
    // and drops at most one per retry (backoff ≤ 1 s): ~40 MB/s, capped at 4096 messages, not
    // bytes — this script ran out of a 4 GB heap that way.
    for (const server of servers) server.transport.isolate(['n3']);
    await until(() => servers.some((s) => s.node.status().role === 'leader'), 20_000, 'n1 or n2 to lead');
    const leader = servers.find((s) => s.node.status().role === 'leader') as NodeServer;
    const other = servers.find((s) => s !== leader) as NodeServer;

    // M MB of state: keys of 100 KB strings (distinct, so nothing is shared), 8 proposals in flight.
    const chunk = 'abcdefghij'.repeat(10_000);
    for (let i = 0; i < keys; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, keys - i) }, (_, j) => leader.node.propose({ type: 'put', key: `blob-${i + j}`, value: `${i + j}:${chunk}`.slice(0, 100_000) })),
      );
    }
    await until(() => other.node.status().lastApplied >= leader.node.status().commitIndex, 60_000, 'n2 to apply the writes');

    // The leader snapshots and compacts (n2 too: whichever leads, the transfer is a snapshot).
    let taken = { bytes: 0, ms: 0 };
    const off = leader.node.on('snapshot', (s) => (taken = { bytes: s.bytes, ms: s.ms }));
    const takeStall = await stallMonitor();
    const t0 = performance.now();
    const at = await leader.node.snapshot();
    const takeMs = performance.now() - t0;
    const takeStallMs = await takeStall.stop();
    off();
    await other.node.snapshot();
    // snapshot() and its encoding are synchronous (issue 10 allows it): at 50 MB they can outlast
    // the election timeout, and n2 may take over. Then n3 catches up from the new leader.
    await until(() => servers.some((s) => s.node.status().role === 'leader'), 20_000, 'a leader after the snapshots');
    const sender = servers.find((s) => s.node.status().role === 'leader') as NodeServer;
    const target = sender.node.status().snapshotIndex;

    // n3 joins with an empty data directory, in its own process.
    for (const server of servers) server.transport.rejoin(['n3']);
    const stall = await stallMonitor();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
    const script = fileURLToPath(import.meta.url);
    child = spawn(process.execPath, ['--import', 'tsx', script, '--follower', JSON.stringify({ id: 'n3', port: ports[2], peers, dataDir: dirs[2], target, timeoutMs, timing })], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const follower = child;
    let transferStall: Promise<number> | undefined;
    const report = await new Promise<FollowerReport>((resolve, reject) => {
      let got: FollowerReport | undefined;
      createInterface({ input: follower.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (line.startsWith('report ')) {
          got = JSON.parse(line.slice('report '.length)) as FollowerReport;
          // The transfer is over when n3 says so: the leader's stall window ends here.
          transferStall = stall.stop();
          clearInterval(sampler);
        }
      });
      follower.on('error', reject);
      follower.on('exit', (code) => (got !== undefined ? resolve(got) : reject(new Error(`the follower process exited with ${code} before reporting`))));
    });
    clearInterval(sampler);
    return {
      stateBytes: taken.bytes,
      keys,
      snapshotIndex: at.index,
      target,
      takeMs,
      eventMs: taken.ms,
      takeStallMs,
      follower: report,
      leaderStallMs: await (transferStall ?? stall.stop()),
      rssBefore,
      rssPeak,
      leader: leader.node.id,
      sender: sender.node.id,
    };
  } finally {
    if (child !== undefined && child.exitCode === null) child.kill();
    for (const server of servers) await server.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const followerConfig = option('follower');
  if (followerConfig !== undefined) return follower(JSON.parse(followerConfig) as Parameters<typeof follower>[0]);

  const quick = flag('quick');
  const writes = wholeNumber('writes', quick ? 2000 : 100_000);
  const threshold = wholeNumber('threshold', quick ? 500 : 10_000);
  const runs = wholeNumber('runs', quick ? 3 : 5);
  const stateMb = wholeNumber('state-mb', quick ? 2 : 50);
  const base = option('dir') ?? tmpdir();
  console.log(
    `node ${process.version}, data under ${base}${quick ? ' (--quick: a smoke test, not figures)' : ''}; restart: median of ${runs}, one node on SqliteStorage, election timeout ${ELECTION.join('–')} ms included`,
  );

  if (!flag('install-only')) await restartFigures(writes, threshold, runs, base);
  await installFigures(quick, stateMb, base);
}

async function restartFigures(writes: number, threshold: number, runs: number, base: string): Promise<void> {
  const dirs = [mkdtempSync(join(base, 'xstate-raft-bench-restart-with-')), mkdtempSync(join(base, 'xstate-raft-bench-restart-without-'))] as const;
  try {
    const writtenWith = await write(dirs[0], threshold, 0, writes);
    const withSnapshots = await restarts(dirs[0], threshold, runs);
    if (withSnapshots.snapshotIndex === 0) throw new Error(`no snapshot was taken in ${writes} writes with --threshold ${threshold}: the figures would compare nothing`);
    // Then as many more writes as keep the log just under the threshold (each restart added a
    // no-op, and so does the next leadership): the longest log a restart replays after a snapshot.
    const tail = threshold - runs - 2;
    const withTail = tail > 0 ? (await write(dirs[0], threshold, writes, tail), await restarts(dirs[0], threshold, runs)) : undefined;
    const writtenWithout = await write(dirs[1], Number.MAX_SAFE_INTEGER, 0, writes);
    const without = await restarts(dirs[1], Number.MAX_SAFE_INTEGER, runs);
    const sizes = (w: Written) => `raft.db + -wal ${mb(w.database.open)} while open (-wal ${mb(w.database.wal)}), ${mb(w.database.closed)} closed`;
    const held = (r: Restart) => `snapshot at ${r.snapshotIndex}, ${r.logRows} log rows after it`;
    console.log(
      `  with snapshots (threshold ${threshold}): restart ${seconds(withSnapshots.ms)} (open + load + restore ${seconds(withSnapshots.openMs)}), ${held(withSnapshots)}; ${sizes(writtenWith)}`,
    );
    if (withTail !== undefined) {
      console.log(
        `  with snapshots, ${tail} writes later (just under the threshold): restart ${seconds(withTail.ms)} (open + load + restore ${seconds(withTail.openMs)}), ${held(withTail)}`,
      );
    }
    console.log(`  without snapshots: restart ${seconds(without.ms)} (open + load + restore ${seconds(without.openMs)}), ${held(without)}; ${sizes(writtenWithout)}`);
    console.log(
      `restart after ${writes} writes: with snapshots ${seconds(withSnapshots.ms)} (raft.db ${mb(writtenWith.database.closed)}) · ` +
        `without ${seconds(without.ms)} (raft.db ${mb(writtenWithout.database.closed)}) · ratio ${(without.ms / withSnapshots.ms).toFixed(1)}×`,
    );
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

async function installFigures(quick: boolean, stateMb: number, base: string): Promise<void> {
  const heartbeat = wholeNumber('heartbeat', 50);
  const timing: Timing = { heartbeatInterval: heartbeat, electionTimeout: [3 * heartbeat, 6 * heartbeat] };
  const timeoutS = wholeNumber('install-timeout', quick ? 60 : 300);
  const install = await installSnapshot(stateMb, base, timeoutS * 1000, timing);
  const f = install.follower;
  const transport = `over HttpTransport on 127.0.0.1 (heartbeat ${heartbeat} ms, election timeout ${timing.electionTimeout.join('–')} ms)`;
  const stalls = `longest event-loop stall on the leader during the transfer ${install.leaderStallMs.toFixed(0)} ms`;
  console.log(
    `  the leader (${install.leader}) took the ${mb(install.stateBytes)} snapshot at index ${install.snapshotIndex} in ${seconds(install.takeMs)} (its snapshot event: ${seconds(install.eventMs)}), longest event-loop stall meanwhile ${install.takeStallMs.toFixed(0)} ms; ` +
      `n3 heard from the leader ${seconds(f.leaderKnownMs)} after its start (opening its storage and listening, then the leader's sender retrying a refused peer, 25 ms doubling); ` +
      (f.done
        ? `held the snapshot ${seconds(f.snapshotMs - f.leaderKnownMs)} later, installed ${mb(f.installedBytes)} and applied it ${seconds(f.appliedMs)} after its start; `
        : `after ${timeoutS} s it had gathered ${mb(f.receivedBytes)} of the snapshot; `) +
      `its own longest stall ${f.stallMs.toFixed(0)} ms; this process (n1, n2) ${mb(install.rssBefore)} resident before the transfer, ${mb(install.rssPeak)} at most during it`,
  );
  if (install.sender !== install.leader) {
    console.log(
      `  leadership moved from ${install.leader} to ${install.sender} while ${install.leader} took its snapshot; ${install.sender} sent n3 its own, at index ${install.target}`,
    );
  }
  const what = `InstallSnapshot of a ${mb(install.stateBytes)} state machine (${install.keys} keys × 100 KB) ${transport}`;
  if (f.done) {
    console.log(`${what}: ${seconds(f.snapshotMs)} from follower start to snapshotIndex ${f.snapshotIndex} · ${stalls}`);
  } else {
    console.log(`${what}: not done ${timeoutS} s after follower start (it had ${mb(f.receivedBytes)} of ${mb(install.stateBytes)}) · ${stalls}`);
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
