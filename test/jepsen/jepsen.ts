/**
 * One Jepsen-style run: 5 node processes, each in its own network namespace; client processes
 * doing reads, writes and compare-and-sets through the HTTP API (connect()); the nemesis
 * (nemesis.ts) for a bounded time; then everything healed, a read of every register and a list of
 * every set/ key, and the verdict:
 * - the whole history (every client's, plus the final reads) linearizable by checkLinearizable,
 *   an operation that timed out or got outcome_unknown being indeterminate, not failed;
 * - every acknowledged write of a set/ key present at the end, and no definitely failed one;
 * - the faults bit: in a partition that cut the leader off, the others elected a new leader, and
 *   no write at the cut-off leader was acknowledged.
 * The standalone script (run.ts) and the CI test (jepsen.test.ts) both call runJepsen.
 */
import { SeededRandom } from '../../src/core/random.js';
import { checkLinearizable, type HistoryEntry, type LinearizabilityResult } from '../../src/sim/linearizability.js';
import { type Kind, now, type Outcome, type Recorded, type SetReport } from './outcomes.js';
import { JepsenEnvironment } from './environment.js';
import { type Bite, type FaultName, Nemesis } from './nemesis.js';

export interface JepsenOptions {
  /** Seconds of nemesis. */
  durationS: number;
  seed: number;
  clientProcesses?: number;
  clientsPerProcess?: number;
  holdMs?: number;
  calmMs?: number;
  log?: (line: string) => void;
  /** Checked between faults: stop early (SIGINT of the standalone script). */
  shouldStop?: () => boolean;
  /** Called once the environment exists, so a signal handler can tear it down. */
  onEnvironment?: (env: JepsenEnvironment) => void;
}

export interface JepsenReport {
  seed: number;
  durationS: number;
  nodeKind: 'dist' | 'tsx';
  delayKind: 'netem' | 'tbf';
  clients: number;
  ops: Record<Kind, Record<Outcome, number>>;
  errors: Record<string, number>;
  faults: Record<FaultName, number>;
  bites: Bite[];
  set: { acked: number; lost: string[]; failedButPresent: string[] };
  verdict: LinearizabilityResult;
  historySize: number;
  /** Each node's /status at the end: commit index and latest snapshot index (null: no answer). */
  nodes: Record<string, { commitIndex: number; lastApplied: number; snapshotIndex: number } | null>;
  wallMs: { setup: number; nemesis: number; settle: number; check: number; total: number };
  /** Nodes that exited by themselves, not by the nemesis's signals (should be empty). */
  crashes: string[];
  /** Namespaces teardown could not delete (should be empty). */
  leftover: string[];
}

export async function runJepsen(options: JepsenOptions): Promise<JepsenReport> {
  const log = options.log ?? (() => undefined);
  const clientProcesses = options.clientProcesses ?? 3;
  const clientsPerProcess = options.clientsPerProcess ?? 2;
  const t = { start: Date.now(), setup: 0, nemesis: 0, settle: 0, check: 0 };
  const env = await JepsenEnvironment.create({ size: 5, clientProcesses, electionTimeout: '300-600', heartbeat: 100, snapshotThreshold: 200 });
  options.onEnvironment?.(env);
  // If the process ends under the run (a test runner tearing its worker down), nothing stays behind.
  const onExit = () => env.closeSync();
  process.once('exit', onExit);
  let leftover: string[] = [];
  try {
    log(`jepsen: namespaces ${env.lab.prefix}-*, nodes ${env.peers.join(' ')} (${env.nodeKind}), clients in ${env.lab.bridgeNs}, delay by ${env.lab.delayKind}`);
    if (env.lab.delayKind === 'tbf') log('jepsen: this kernel has no netem qdisc: the slow fault is a tbf rate limit (queueing delay under load), not a fixed delay');
    const first = await env.waitForLeader(60_000);
    if (first === undefined) throw new Error(`no leader within 60 s\n${env.dump()}`);
    t.setup = Date.now();
    const t0 = now();
    await Promise.all(
      env.clients.map((client, p) =>
        client.request({ type: 'workload', clients: clientsPerProcess, peers: env.peers, t0, keyPeriodMs: 4000, seed: options.seed + p, name: `p${p + 1}`, timeoutMs: 3000 }),
      ),
    );
    const nemesis = new Nemesis(env, new SeededRandom(options.seed), { holdMs: options.holdMs ?? 3500, calmMs: options.calmMs ?? 1500 }, log);
    try {
      await nemesis.run(options.durationS * 1000, options.shouldStop);
    } finally {
      await nemesis.healAll();
    }
    t.nemesis = Date.now();
    // Healed: the clients go on for a few seconds (their writes after the faults must land too).
    const healed = await env.waitForLeader(60_000);
    if (healed === undefined) throw new Error(`no leader within 60 s of healing\n${env.dump()}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const reports = await Promise.all(env.clients.map((client) => client.request<{ recorded: Recorded[]; set: SetReport; errors: Record<string, number> }>({ type: 'stop' })));
    const recorded = reports.flatMap((r) => r.recorded);
    const history = recorded.flatMap((r) => (r.entry !== undefined ? [r.entry] : []));
    const registers = [...new Set(history.map((e) => e.op.key).filter((key) => !key.startsWith('set/')))].sort();
    const final = await env.control.request<{ history: HistoryEntry[]; present: string[] }>({ type: 'final', peers: env.peers, keys: registers, prefix: 'set/' });
    history.push(...final.history);
    const nodes: JepsenReport['nodes'] = {};
    for (const [id, s] of await env.statuses()) {
      nodes[id] = s === null ? null : { commitIndex: s.commitIndex as number, lastApplied: s.lastApplied as number, snapshotIndex: s.snapshotIndex as number };
    }
    t.settle = Date.now();
    const verdict = checkLinearizable(history, { maxStates: 20_000_000 });
    t.check = Date.now();
    const present = new Set(final.present);
    const acked = reports.flatMap((r) => r.set.acked);
    const failed = reports.flatMap((r) => r.set.failed);
    const ops = { read: outcomes(), write: outcomes(), cas: outcomes() };
    for (const r of recorded) ops[r.kind][r.outcome]++;
    const errors: Record<string, number> = {};
    for (const r of reports) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
    const report: Omit<JepsenReport, 'leftover' | 'wallMs'> = {
      seed: options.seed,
      durationS: options.durationS,
      nodeKind: env.nodeKind,
      delayKind: env.lab.delayKind,
      clients: clientProcesses * clientsPerProcess,
      ops,
      errors,
      faults: nemesis.counts,
      bites: nemesis.bites,
      set: { acked: acked.length, lost: acked.filter((key) => !present.has(key)), failedButPresent: failed.filter((key) => present.has(key)) },
      verdict,
      historySize: history.length,
      nodes,
      crashes: [...env.crashes],
    };
    leftover = await env.close();
    const end = Date.now();
    return {
      ...report,
      leftover,
      wallMs: { setup: t.setup - t.start, nemesis: t.nemesis - t.setup, settle: t.settle - t.nemesis, check: t.check - t.settle, total: end - t.start },
    };
  } finally {
    await env.close();
    process.off('exit', onExit);
  }
}

function outcomes(): Record<Outcome, number> {
  return { ok: 0, refused: 0, failed: 0, indeterminate: 0 };
}

/** Faults that bit: a new leader on the other side, and the old leader's write not acknowledged. */
export function bitten(report: JepsenReport): Bite[] {
  return report.bites.filter((b) => b.newLeader !== undefined && b.minorityWrite !== '200');
}

/** One line: operation counts, faults, bite, acknowledged writes, the checker's verdict. */
export function summaryLine(report: JepsenReport): string {
  const kinds = (['read', 'write', 'cas'] as const).map((kind) => {
    const o = report.ops[kind];
    return `${kind} ${o.ok} ok${kind === 'cas' ? ` + ${o.refused} refused` : ''} / ${o.failed} failed / ${o.indeterminate} indeterminate`;
  });
  const faults = Object.entries(report.faults)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  const v = report.verdict;
  const verdict = v.ok ? `linearizable (${v.states} states)` : v.timedOut ? `UNKNOWN: search budget spent (${v.states} states)` : `NOT LINEARIZABLE (key ${v.counterexample?.key})`;
  const bites = bitten(report).length;
  const w = report.wallMs;
  return [
    `jepsen seed ${report.seed}, ${report.durationS} s nemesis, 5 nodes (${report.nodeKind}), ${report.clients} clients`,
    `ops: ${kinds.join('; ')}`,
    `faults: ${faults}`,
    `bite: ${bites}/${report.bites.length} cut-off leaders replaced with their write unacknowledged`,
    `set: ${report.set.acked - report.set.lost.length}/${report.set.acked} acknowledged writes present${report.set.failedButPresent.length > 0 ? `, ${report.set.failedButPresent.length} failed ones present` : ''}`,
    `log: ${Object.entries(report.nodes)
      .map(([id, n]) => (n === null ? `${id} -` : `${id} commit ${n.commitIndex} snapshot ${n.snapshotIndex}`))
      .join(', ')}`,
    `crashes: ${report.crashes.length}`,
    `history ${report.historySize} ops: ${verdict}`,
    `wall: setup ${sec(w.setup)}, nemesis ${sec(w.nemesis)}, settle ${sec(w.settle)}, check ${sec(w.check)}, total ${sec(w.total)}`,
  ].join(' | ');
}

function sec(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
