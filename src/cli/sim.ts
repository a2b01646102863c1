import { randomRun, type Fault, type MembershipCounts } from '../sim/random-run.js';

export interface SimCommandOptions {
  seed: number;
  seeds: number;
  nodes: number;
  duration: number;
  faults: Fault[];
  clients?: number;
  snapshotThreshold?: number;
  /** The membership nemesis: servers added, removed, promoted, replaced, and leadership transferred as the run goes. */
  membership?: boolean;
  /** Agents working a task queue (claims, fenced writes, a coordinator lease), crashing and pausing past their TTLs. */
  agents?: number;
  /** Where a progress line goes, one per 10% of the seeds (the CLI passes stderr, on a terminal only). */
  progress?: (line: string) => void;
}

/**
 * `xstate-raft sim`: run one seed, or many, and report; returns the exit code. Every seed checks
 * Raft's safety after every step and the clients' KV history for linearizability at its end; the
 * last line sums up the batch.
 */
export async function runSimCommand(options: SimCommandOptions, out: (line: string) => void = console.log): Promise<number> {
  const started = performance.now();
  let passed = 0;
  let virtualMs = 0;
  const violations = { safety: 0, linearizability: 0, liveness: 0 };
  const ops = { reads: 0, writes: 0, cas: 0, unknown: 0 };
  const snapshots = { taken: 0, installed: 0 };
  const agents = { claims: 0, completed: 0, expiries: 0, staleRefused: 0, crashes: 0, pauses: 0 };
  const changes: MembershipCounts = { added: 0, addedAsLearner: 0, removed: 0, removedLeader: 0, promoted: 0, transferred: 0, replaced: 0, failed: {} };
  for (let i = 0; i < options.seeds; i++) {
    const seed = options.seed + i;
    const result = await randomRun({
      seed,
      nodes: options.nodes,
      duration: options.duration,
      faults: options.faults,
      ...(options.clients !== undefined ? { clients: options.clients } : {}),
      ...(options.snapshotThreshold !== undefined ? { snapshotThreshold: options.snapshotThreshold } : {}),
      ...(options.membership ? { membership: true } : {}),
      ...(options.agents ? { agents: options.agents } : {}),
    });
    if (result.agents !== undefined)
      for (const key of Object.keys(agents) as (keyof typeof agents)[]) agents[key] += key === 'expiries' ? result.agents.history.expiries : result.agents[key];
    if (result.membership !== undefined) {
      for (const key of ['added', 'addedAsLearner', 'removed', 'removedLeader', 'promoted', 'transferred', 'replaced'] as const) changes[key] += result.membership[key];
      for (const [name, n] of Object.entries(result.membership.failed)) changes.failed[name] = (changes.failed[name] ?? 0) + n;
    }
    virtualMs += result.virtualMs;
    for (const key of ['reads', 'writes', 'cas', 'unknown'] as const) ops[key] += result.operations[key];
    snapshots.taken += result.snapshots.taken;
    snapshots.installed += result.snapshots.installed;
    if (result.ok) {
      passed++;
      if (options.seeds === 1) {
        const o = result.operations;
        out(
          `seed ${seed}: ok — ${o.reads} reads, ${o.writes} writes, ${o.cas} cas checked linearizable (${o.unknown} of unknown outcome), ` +
            `${result.committed} committed, ${result.terms} terms, ${result.steps} steps checked, ${(result.virtualMs / 1000).toFixed(1)} s virtual` +
            (result.membership !== undefined
              ? `; ends with voters ${result.membership.final.voters.join(',')}, learners ${result.membership.final.learners.join(',') || 'none'}`
              : ''),
        );
      }
    } else {
      const failure = result.failure as NonNullable<typeof result.failure>;
      violations[failure.kind]++;
      out(`seed ${seed}: VIOLATION ${failure.rule}: ${failure.detail}\n  replay: ${result.replay}`);
    }
    // A line per tenth of the batch (only for batches of 10 seeds or more).
    const tenth = Math.floor(((i + 1) * 10) / options.seeds);
    if (options.progress !== undefined && options.seeds >= 10 && tenth > Math.floor((i * 10) / options.seeds)) {
      options.progress(`sim: ${tenth * 10}% — ${i + 1}/${options.seeds} seeds, ${i + 1 - passed} failed so far`);
    }
  }
  const wallMs = performance.now() - started;
  out(
    `${passed}/${options.seeds} seeds passed; ${violations.safety} safety violations, ${violations.linearizability} linearizability violations` +
      `${violations.liveness > 0 ? `, ${violations.liveness} liveness failures` : ''}; ` +
      `operations checked: ${ops.reads} reads / ${ops.writes} writes / ${ops.cas} cas (${ops.unknown} of unknown outcome); ` +
      `snapshots: ${snapshots.taken} taken, ${snapshots.installed} installed; ` +
      (options.membership ? `${describeChanges(changes)}; ` : '') +
      (options.agents
        ? `agents: ${agents.claims} claims, ${agents.completed} completed once, ${agents.expiries} expired, ${agents.staleRefused} stale tokens refused, ${agents.crashes} crashes, ${agents.pauses} pauses; `
        : '') +
      `${options.nodes} nodes, faults ${options.faults.join(',') || 'none'}; ` +
      `${(virtualMs / 1000).toFixed(0)} virtual s in ${(wallMs / 1000).toFixed(1)} wall s (${(virtualMs / wallMs).toFixed(1)} virtual s per wall s)`,
  );
  return passed === options.seeds ? 0 : 1;
}

/** "membership: 40 added (9 as learners), 31 removed (8 leaders), … ; failed under faults: …". */
function describeChanges(c: MembershipCounts): string {
  const failed = Object.entries(c.failed)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => `${n} ${name}`)
    .join(', ');
  return (
    `membership: ${c.added} added (${c.addedAsLearner} as learners), ${c.removed} removed (${c.removedLeader} leaders), ${c.promoted} promoted, ` +
    `${c.replaced} crashed servers replaced, ${c.transferred} leadership transfers; failed under faults: ${failed || 'none'}`
  );
}
