/**
 * npm run bench:cluster [-- --quick] [--blocks 5] [--seconds 3] [--failovers 5] [--in-flight 64]
 *                       [--soak 0] [--no-etcd]
 * — xstate-raft as a server beside etcd, on this machine, in one run (issue 13's table).
 *
 * Three `xstate-raft node` processes (this repository's CLI, built first — test/bench/built-cli.ts;
 * `--no-build` takes dist as it is, `--tsx` runs the source under tsx — SQLite with fsync on, the
 * HTTP transport, 127.0.0.1, ports chosen at run time, temporary data directories) and, when an
 * `etcd` binary is on PATH, a 3-member etcd on loopback (its JSON gateway: POST /v3/kv/put and
 * /v3/kv/range, linearizable by default). The same keep-alive `node:http` client (this process)
 * drives both; writes are 100-byte values, sent to the leader (found from each member's status).
 * Both clusters run the same timeouts while they are measured: election 1000 ms (xstate-raft's range
 * 1000–2000 ms; etcd draws from [1000, 2000) itself), heartbeat 100 ms — etcd's defaults.
 *
 * Figures, each the median of `--blocks` blocks of `--seconds` (default 5 × 3 s), the blocks of
 * the two systems alternating (xstate-raft first in even blocks, etcd first in odd ones):
 *   sequential writes (1 in flight): writes/s, p50, p99 of one write;
 *   `--in-flight` writes (default 64): writes/s, p50, p99;
 *   as many linearizable reads in flight: reads/s, p50, p99;
 *   elections during those blocks (the highest term after minus before: 0 unless a stall looked
 *   like a dead leader).
 * Failover: kill -9 of the leader, time until a write through a survivor is acknowledged (an
 * attempt starts every 20 ms, each waits up to 2 s; the first answer 200 ends it); median, min and
 * max of `--failovers` (default 5), alternating systems, the killed member restarted and the
 * cluster steady (every member names the leader and takes a write) before the next. Then once more
 * for xstate-raft with its own defaults (election 150–300 ms, heartbeat 50 ms) against etcd's
 * defaults (which are the timeouts above).
 * `--soak S` adds S seconds at `--in-flight` writes per system and counts the elections in it.
 * Ceilings measured in the same run: a bare `node:http` keep-alive server in its own process
 * (1 and `--in-flight` requests in flight, same client, same 100-byte body) and the disk's rate of
 * write + fdatasync in the directory the data lives in.
 *
 * Before the blocks, 3 s of writes in flight per system that are not counted (the JIT warms up).
 * --node-args "<flags>": more node flags for this checkout's cluster only (e.g. --node-args --write-thread
 * --before . measures the writer thread against the same code without it).
 * --before <checkout>: one more 3-node xstate-raft from another checkout of this repository (a git
 * worktree at an older commit, its node_modules linked), in every block and failover beside the
 * others: the before/after figures of a change under the same load, with a ratio column.
 * It is a benchmark: it prints figures and ratios, it never fails on timing. --quick: 1 block of
 * 1 s, 1 failover, no etcd defaults rerun — a smoke run whose figures mean little.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../src/server/ports.js';
import { ProcessCluster } from '../../src/server/process-cluster.js';
import { flag, option, wholeNumber } from './args.js';
import { THIS_CHECKOUT, benchCli, type CliCommand } from './built-cli.js';

const QUICK = flag('quick');
const BLOCKS = wholeNumber('blocks', QUICK ? 1 : 5);
const SECONDS = wholeNumber('seconds', QUICK ? 1 : 3);
const FAILOVERS = wholeNumber('failovers', QUICK ? 1 : 5);
const IN_FLIGHT = wholeNumber('in-flight', 64);
const SOAK = option('soak') === undefined ? 0 : wholeNumber('soak', 60);
/** --before <checkout>: another checkout of this repository (e.g. a git worktree at an older commit), measured beside this one. */
const BEFORE = option('before');
/** --node-args "<flags>": more `xstate-raft node` flags for this checkout's nodes (e.g. "--write-thread"), not for --before's. */
const NODE_ARGS = (option('node-args') ?? '').split(' ').filter((a) => a !== '');
const VALUE = 'v'.repeat(100);
const ELECTION_MS = 1000;
const HEARTBEAT_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}
const median = (xs: readonly number[]) => percentile(xs, 50);

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One request as the client sends it: every system gets the same client, agent and headers. */
interface Call {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

function request(base: string, call: Call, timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = call.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(call.body) };
    const req = http.request(`http://${base}${call.path}`, { method: call.method, agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(call.body);
  });
}

/** Answer 200, or throw with what came back. */
async function ok(base: string, call: Call, timeoutMs?: number): Promise<string> {
  const answer = await request(base, call, timeoutMs);
  if (answer.status !== 200) throw new Error(`${call.method} ${call.path} on ${base}: ${answer.status} ${answer.body.slice(0, 200)}`);
  return answer.body;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last: ${String(last)})` : ''}`);
    await sleep(50);
  }
}

/** A 3-member cluster as the benchmark drives it. */
interface System {
  readonly name: string;
  readonly ids: readonly string[];
  address(id: string): string;
  put(key: string): Call;
  get(key: string): Call;
  /** The member every member names as leader, and the highest term any reports; undefined until they agree. */
  view(): Promise<{ leader: string; term: number } | undefined>;
  kill(id: string): Promise<void>;
  start(id: string): void;
  stop(): Promise<void>;
}

function xstateRaft(
  name: string,
  dataDir: string,
  ports: readonly number[],
  timeouts: { election: string; heartbeat: number },
  cli: CliCommand,
  nodeArgs: readonly string[] = [],
): System {
  const cluster = new ProcessCluster({
    size: 3,
    host: '127.0.0.1',
    ports,
    dataDir,
    electionTimeout: timeouts.election,
    heartbeat: timeouts.heartbeat,
    nodeArgs: ['--log-level', 'warn', ...nodeArgs],
    command: { command: process.execPath, args: [...cli.args] },
  });
  cluster.startAll();
  return {
    name,
    ids: cluster.ids,
    address: (id) => cluster.address(id),
    put: (key) => ({ method: 'PUT', path: `/kv/${encodeURIComponent(key)}`, body: JSON.stringify({ value: VALUE }) }),
    get: (key) => ({ method: 'GET', path: `/kv/${encodeURIComponent(key)}` }),
    async view() {
      const statuses = await Promise.all(
        cluster.ids.map(async (id) => JSON.parse(await ok(cluster.address(id), { method: 'GET', path: '/status' }, 2000)) as { leaderId: string | null; term: number }),
      );
      const leader = statuses[0]?.leaderId;
      if (leader == null || statuses.some((s) => s.leaderId !== leader)) return undefined;
      return { leader, term: Math.max(...statuses.map((s) => s.term)) };
    },
    kill: (id) => cluster.signal(id, 'SIGKILL'),
    start: (id) => cluster.start(id),
    stop: () => cluster.stopAll(),
  };
}

function etcdCluster(dataDir: string, clientPorts: readonly number[], peerPorts: readonly number[]): System {
  const ids = ['e1', 'e2', 'e3'];
  const peerUrl = (i: number) => `http://127.0.0.1:${peerPorts[i]}`;
  const initialCluster = ids.map((id, i) => `${id}=${peerUrl(i)}`).join(',');
  const children = new Map<string, ChildProcess>();
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const start = (id: string) => {
    const i = ids.indexOf(id);
    const client = `http://127.0.0.1:${clientPorts[i]}`;
    const child = spawn(
      'etcd',
      [
        '--name',
        id,
        '--data-dir',
        join(dataDir, id),
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peerUrl(i),
        '--initial-advertise-peer-urls',
        peerUrl(i),
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        'xstate-raft-bench',
        '--heartbeat-interval',
        String(HEARTBEAT_MS),
        '--election-timeout',
        String(ELECTION_MS),
        '--logger',
        'zap',
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.set(id, child);
    child.on('exit', () => {
      if (children.get(id) === child) children.delete(id);
    });
  };
  for (const id of ids) start(id);
  const address = (id: string) => `127.0.0.1:${clientPorts[ids.indexOf(id)]}`;
  return {
    name: 'etcd',
    ids,
    address,
    put: (key) => ({ method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64(key), value: b64(VALUE) }) }),
    get: (key) => ({ method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64(key) }) }),
    async view() {
      const statuses = await Promise.all(
        ids.map(
          async (id) =>
            JSON.parse(await ok(address(id), { method: 'POST', path: '/v3/maintenance/status', body: '{}' }, 2000)) as {
              header: { member_id: string; raft_term: string };
              leader: string;
            },
        ),
      );
      const leader = statuses[0]?.leader;
      if (leader === undefined || leader === '0' || statuses.some((s) => s.leader !== leader)) return undefined;
      const byMember = statuses.findIndex((s) => s.header.member_id === leader);
      if (byMember < 0) return undefined;
      return { leader: ids[byMember] as string, term: Math.max(...statuses.map((s) => Number(s.header.raft_term))) };
    },
    async kill(id) {
      const child = children.get(id);
      if (child === undefined) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    start,
    async stop() {
      await Promise.all(ids.map((id) => this.kill(id)));
    },
  };
}

/** Every member names the same leader and takes a write: the state a failover starts from. */
async function steady(system: System): Promise<{ leader: string; term: number }> {
  const view = await until(`${system.name}: a leader every member names`, 120_000, () => system.view());
  await until(`${system.name}: a write through every member`, 60_000, async () => {
    for (const id of system.ids) await ok(system.address(id), system.put('bench/ready'), 5000);
    return true;
  });
  return view;
}

interface BlockFigures {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

/** `inFlight` loops, each one request after another, for `seconds`. */
async function load(base: string, inFlight: number, seconds: number, callOf: (loop: number, i: number) => Call): Promise<BlockFigures> {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, loop) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const started = performance.now();
        try {
          const answer = await request(base, callOf(loop, i));
          if (answer.status === 200) latencies.push(performance.now() - started);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  return { rate: latencies.length / elapsed, p50: median(latencies), p99: percentile(latencies, 99), errors };
}

type Workload = 'sequential writes' | 'writes in flight' | 'reads in flight';

async function block(system: System, workload: Workload, seconds = SECONDS): Promise<BlockFigures & { elections: number }> {
  const before = await steady(system);
  const base = system.address(before.leader);
  const figures =
    workload === 'sequential writes'
      ? await load(base, 1, seconds, (_, i) => system.put(`bench/seq/${i % 1000}`))
      : workload === 'writes in flight'
        ? await load(base, IN_FLIGHT, seconds, (loop, i) => system.put(`bench/w${loop}/${i % 100}`))
        : await load(base, IN_FLIGHT, seconds, (loop) => system.get(`bench/w${loop}/0`));
  const after = await until(`${system.name}: a leader after the block`, 60_000, () => system.view());
  return { ...figures, elections: after.term - before.term };
}

/** kill -9 of the leader; ms until a write through a survivor is acknowledged. The member is restarted after. */
async function failover(system: System): Promise<number> {
  const { leader } = await steady(system);
  await sleep(3 * HEARTBEAT_MS);
  const survivors = system.ids.filter((id) => id !== leader);
  const t0 = performance.now();
  await system.kill(leader);
  const elapsed = await new Promise<number>((resolve) => {
    let done = false;
    let attempt = 0;
    const timer = setInterval(() => {
      const to = system.address(survivors[attempt++ % survivors.length] as string);
      request(to, system.put('bench/failover'), 2000).then(
        (answer) => {
          if (answer.status === 200 && !done) {
            done = true;
            clearInterval(timer);
            resolve(performance.now() - t0);
          }
        },
        () => undefined,
      );
    }, 20);
  });
  system.start(leader);
  await steady(system);
  return elapsed;
}

/** The ceiling of the client and loopback: a bare keep-alive node:http server in its own process. */
async function bareHttpServer(): Promise<{ address: string; stop: () => void }> {
  const script = `
    const http = require('node:http');
    const server = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
      req.resume();
      req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end('{"index":1}'); });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => child.stdout?.once('data', (data: Buffer) => resolve(data.toString().trim())));
  return { address: `127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/** write(100 bytes) + fdatasync, one after another, for a second, in `dir`. */
function fsyncRate(dir: string): { rate: number; p50: number } {
  const path = join(dir, 'fsync-probe');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(100, 1);
  const times: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    const started = performance.now();
    writeSync(fd, chunk);
    fdatasyncSync(fd);
    times.push(performance.now() - started);
  }
  closeSync(fd);
  rmSync(path);
  return { rate: times.length / ((performance.now() - t0) / 1000), p50: median(times) };
}

function etcdVersion(): string | undefined {
  if (flag('no-etcd')) return undefined;
  try {
    return /etcd Version: (\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return undefined;
  }
}

const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : '–');
/** xstate-raft's figure over etcd's: "1.55×" for a rate (higher is better), "0.64× (faster)" for a time. */
function ratio(ours: number, theirs: number | undefined, kind: 'rate' | 'time'): string {
  if (theirs === undefined || !Number.isFinite(theirs) || theirs === 0 || !Number.isFinite(ours)) return '–';
  const r = ours / theirs;
  if (kind === 'rate') return `${r.toFixed(2)}×`;
  return `${r.toFixed(2)}× (${r <= 1 ? 'faster' : 'slower'})`;
}

const OURS = 'xstate-raft';
const PREVIOUS = 'xstate-raft (before)';

/** The CLI of another checkout, and which commit it is. */
function beforeCheckout(dir: string): { cli: CliCommand; description: string } {
  const cli = benchCli(dir);
  let description = dir;
  try {
    description = `${dir} at ${execFileSync('git', ['-C', dir, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim().slice(0, 100)}`;
  } catch {}
  return { cli, description };
}

async function main(): Promise<void> {
  const version = etcdVersion();
  // Built (or checked) before anything is measured: a build running beside a block would slow it.
  const ourCli = benchCli(THIS_CHECKOUT, 'this checkout');
  const beforeCli = BEFORE === undefined ? undefined : beforeCheckout(BEFORE);
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-bench-cluster-'));
  const systems: System[] = [];
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    console.log(
      `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ${version ? `etcd ${version}` : 'no etcd on PATH (or --no-etcd): xstate-raft alone'}`,
    );
    console.log(
      `xstate-raft's CLI: ${ourCli.runtime === 'built' ? 'built (node dist/src/cli/main.js)' : 'src/cli/main.ts under tsx'}${NODE_ARGS.length > 0 ? `, with ${NODE_ARGS.join(' ')}` : ''}`,
    );
    console.log(`${BLOCKS} block(s) of ${SECONDS} s per figure and system, alternating; ${IN_FLIGHT} in flight; 100-byte values; medians`);

    // Ceilings.
    const bare = await bareHttpServer();
    const bareSeq = await load(bare.address, 1, SECONDS, () => ({ method: 'PUT', path: '/kv/x', body: JSON.stringify({ value: VALUE }) }));
    const barePar = await load(bare.address, IN_FLIGHT, SECONDS, () => ({ method: 'PUT', path: '/kv/x', body: JSON.stringify({ value: VALUE }) }));
    bare.stop();
    const disk = fsyncRate(dataDir);
    console.log(
      `ceilings: bare node:http keep-alive server — 1 in flight ${int(bareSeq.rate)} req/s (p50 ${ms(bareSeq.p50)}), ${IN_FLIGHT} in flight ${int(barePar.rate)} req/s (p50 ${ms(barePar.p50)}); ` +
        `write 100 B + fdatasync ${int(disk.rate)}/s (p50 ${ms(disk.p50)})`,
    );

    const ports = await freePorts(12);
    const sameTimeouts = { election: `${ELECTION_MS}-${2 * ELECTION_MS}`, heartbeat: HEARTBEAT_MS };
    const ours = xstateRaft(OURS, join(dataDir, 'xstate-raft'), ports.slice(0, 3), sameTimeouts, ourCli, NODE_ARGS);
    systems.push(ours);
    if (beforeCli !== undefined) systems.push(xstateRaft(PREVIOUS, join(dataDir, 'before'), ports.slice(9, 12), sameTimeouts, beforeCli.cli));
    if (beforeCli !== undefined) console.log(`before: ${beforeCli.description}`);
    const etcd = version ? etcdCluster(join(dataDir, 'etcd'), ports.slice(3, 6), ports.slice(6, 9)) : undefined;
    if (etcd) systems.push(etcd);
    for (const system of systems) await steady(system);
    // Keys the reads read exist in every system.
    for (const system of systems) {
      const { leader } = await steady(system);
      for (let loop = 0; loop < IN_FLIGHT; loop++) await ok(system.address(leader), system.put(`bench/w${loop}/0`));
    }

    // Warm-up, not counted: the JIT compiles the write path of every process.
    for (const system of systems) await block(system, 'writes in flight', QUICK ? 1 : 3);

    const results = new Map<string, Map<Workload, Array<BlockFigures & { elections: number }>>>();
    for (const system of systems) results.set(system.name, new Map());
    const workloads: Workload[] = ['sequential writes', 'writes in flight', 'reads in flight'];
    for (const workload of workloads) {
      for (let b = 0; b < BLOCKS; b++) {
        const order = b % 2 === 0 ? systems : [...systems].reverse();
        for (const system of order) {
          const figures = await block(system, workload);
          const list = results.get(system.name)?.get(workload) ?? [];
          list.push(figures);
          results.get(system.name)?.set(workload, list);
          log(
            `  ${workload}, block ${b + 1}/${BLOCKS}, ${system.name}: ${int(figures.rate)}/s p50 ${ms(figures.p50)} p99 ${ms(figures.p99)}${figures.errors ? `, ${figures.errors} errors` : ''}${figures.elections ? `, ${figures.elections} election(s)` : ''}`,
          );
        }
      }
    }

    const soak = new Map<string, BlockFigures & { elections: number }>();
    if (SOAK > 0) {
      for (const system of systems) {
        const figures = await block(system, 'writes in flight', SOAK);
        soak.set(system.name, figures);
        log(`  soak, ${SOAK} s at ${IN_FLIGHT} in flight, ${system.name}: ${int(figures.rate)}/s, ${figures.elections} election(s)`);
      }
    }

    const failovers = new Map<string, number[]>(systems.map((s) => [s.name, []]));
    const measureFailovers = async (group: readonly System[], into: Map<string, number[]>) => {
      for (let run = 0; run < FAILOVERS; run++) {
        for (const system of run % 2 === 0 ? group : [...group].reverse()) {
          const elapsed = await failover(system);
          into.get(system.name)?.push(elapsed) ?? into.set(system.name, [elapsed]);
          log(`  failover ${run + 1}/${FAILOVERS}, ${system.name}: ${elapsed.toFixed(0)} ms`);
        }
      }
    };
    await measureFailovers(systems, failovers);
    // xstate-raft with its own defaults (etcd's defaults are the timeouts above).
    const withSameTimeouts = systems.filter((s) => s !== etcd);
    for (const system of withSameTimeouts) await system.stop();
    systems.splice(0, systems.length, ...(etcd ? [etcd] : []));
    const defaults = { election: '150-300', heartbeat: 50 };
    const fast = [xstateRaft(OURS, join(dataDir, 'xstate-raft-defaults'), await freePorts(3), defaults, ourCli, NODE_ARGS)];
    if (beforeCli !== undefined) fast.push(xstateRaft(PREVIOUS, join(dataDir, 'before-defaults'), await freePorts(3), defaults, beforeCli.cli));
    systems.push(...fast);
    const fastFailovers = new Map<string, number[]>();
    await measureFailovers(fast, fastFailovers);

    // The table: a column per system, then xstate-raft's figure over etcd's (and over the one before).
    const names = [OURS, ...(beforeCli ? [PREVIOUS] : []), 'etcd'];
    const fig = (name: string, workload: Workload, key: keyof BlockFigures) => {
      const list = results.get(name)?.get(workload);
      return list === undefined ? undefined : median(list.map((f) => f[key]));
    };
    const rows: string[][] = [];
    const row = (label: string, value: (name: string) => number | undefined, show: (x: number) => string, kind: 'rate' | 'time' | 'count', text?: (name: string) => string) => {
      const cells = names.map((name) => {
        const x = value(name);
        return text !== undefined && x !== undefined ? text(name) : x === undefined ? '–' : show(x);
      });
      const ratios = kind === 'count' ? names.slice(1).map(() => '') : names.slice(1).map((name) => ratio(value(OURS) as number, value(name), kind));
      // etcd's ratio first, as before --before existed.
      rows.push([label, ...cells, ...ratios.slice(-1), ...ratios.slice(0, -1)]);
    };
    const rateRow = (label: string, workload: Workload) => row(label, (name) => fig(name, workload, 'rate'), int, 'rate');
    const timeRow = (label: string, workload: Workload, key: 'p50' | 'p99') => row(label, (name) => fig(name, workload, key), ms, 'time');
    rateRow('1 write in flight, writes/s', 'sequential writes');
    timeRow('1 write in flight, p50', 'sequential writes', 'p50');
    timeRow('1 write in flight, p99', 'sequential writes', 'p99');
    rateRow(`${IN_FLIGHT} writes in flight, writes/s`, 'writes in flight');
    timeRow(`${IN_FLIGHT} writes in flight, p50`, 'writes in flight', 'p50');
    timeRow(`${IN_FLIGHT} writes in flight, p99`, 'writes in flight', 'p99');
    rateRow(`${IN_FLIGHT} linearizable reads in flight, reads/s`, 'reads in flight');
    timeRow(`${IN_FLIGHT} linearizable reads in flight, p50`, 'reads in flight', 'p50');
    timeRow(`${IN_FLIGHT} linearizable reads in flight, p99`, 'reads in flight', 'p99');
    const spread = (xs: readonly number[] | undefined) =>
      xs === undefined || xs.length === 0 ? '–' : `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
    const failoverRow = (label: string, of: (name: string) => number[] | undefined) =>
      row(
        label,
        (name) => (of(name)?.length ? median(of(name) as number[]) : undefined),
        (x) => `${x.toFixed(0)} ms`,
        'time',
        (name) => spread(of(name)),
      );
    failoverRow(`failover after kill -9, same timeouts (${ELECTION_MS}–${2 * ELECTION_MS} / ${HEARTBEAT_MS} ms), median (min–max)`, (name) => failovers.get(name));
    failoverRow('failover after kill -9, each with its defaults (150–300 / 50 ms; etcd 1000 / 100 ms)', (name) =>
      name === 'etcd' ? failovers.get(name) : fastFailovers.get(name),
    );
    const elections = (name: string) =>
      results.has(name) ? [...(results.get(name)?.values() ?? [])].flat().reduce((sum, f) => sum + f.elections, 0) + (soak.get(name)?.elections ?? 0) : undefined;
    const loadSeconds = workloads.length * BLOCKS * SECONDS + SOAK;
    row(`elections during ${loadSeconds} s of load${SOAK ? ` (${SOAK} s of it at ${IN_FLIGHT} writes in flight)` : ''}`, elections, String, 'count');
    const errors = (name: string) => (results.has(name) ? [...(results.get(name)?.values() ?? [])].flat().reduce((sum, f) => sum + f.errors, 0) : undefined);
    row('requests not answered 200 during the blocks', errors, String, 'count');

    console.log('');
    const header = ['figure', ...names, `${OURS} / etcd`, ...(beforeCli ? [`${OURS} / before`] : [])];
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map(() => ' --- ').join('|')}|`);
    for (const cells of rows) console.log(`| ${cells.join(' | ')} |`);
    const reads = fig(OURS, 'reads in flight', 'rate') as number;
    const writes = fig(OURS, 'writes in flight', 'rate') as number;
    console.log('');
    console.log(
      `xstate-raft: linearizable reads ${(reads / writes).toFixed(1)}× its writes at ${IN_FLIGHT} in flight; writes at ${IN_FLIGHT} in flight ${((writes / barePar.rate) * 100).toFixed(0)} % of the bare server's requests/s`,
    );
  } finally {
    await Promise.all(systems.map((s) => s.stop()));
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
