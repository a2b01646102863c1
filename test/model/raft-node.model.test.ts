/**
 * Model-based tests of the node statechart (DESIGN.md, "Model-based tests").
 *
 * Paths come from `raftNodeMachine` itself: @xstate/graph walks the abstract model in
 * raft-model.ts (shortest paths to every abstract state of several scopes — fresh, restarted,
 * reads, followers, snapshots, membership and transfer, a joining node — every edge of smaller
 * ones, and every simple path of two small ones), in both configurations the node runs in: with
 * pre-vote and check-quorum (the default) and without either. Each path is replayed on a real
 * actor; after every step the state must be the one the path predicts and no node invariant may be
 * broken. Coverage of the chart's states and transitions is measured from the replays and must be
 * complete.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { raftNodeMachine } from '../../machines/raft-node.js';
import { withConfigHeader } from '../../src/core/configuration.js';
import { formatViolations } from '../../src/sim/node-invariants.js';
import { ChartCoverage } from './coverage.js';
import { shortestPaths, simplePaths, withoutPrefixes, type ModelPath } from './paths.js';
import { describeEvent, LEARNER, NODE, PEERS, roleOf, serializeRaftState, COMMAND, type ModelScope } from './raft-model.js';
import { ReplayedNode } from './replay.js';
import { COMMITTED_TRUNCATION, expectedReports, judgeStep, TWO_LEADERS } from './reports.js';

const cluster = { id: NODE, peers: PEERS };

/**
 * The two configurations: the default one (pre-vote and check-quorum on, as createRaftNode runs a
 * node), and Raft without either (as ConsensusProtocol runs it: a follower's timeout starts a real
 * election, a leader keeps leading until it sees a higher term).
 */
const DEFAULT_CONFIG = { preVote: true, checkQuorum: true } as const;
const WITHOUT_PRE_VOTE = { preVote: false, checkQuorum: false } as const;

/**
 * A node starting empty, default configuration: pre-votes, elections, replication, commit, reads,
 * a leader that keeps or loses its quorum, within two terms above 0 and three entries.
 */
const FRESH: ModelScope = {
  name: 'fresh node',
  input: { ...cluster, ...DEFAULT_CONFIG },
  maxTermOffset: 2,
  maxLogLength: 3,
  // One confirmation round: check-quorum doubles the leader states, and two rounds would double
  // them again (READS explores two).
  maxReadSeq: 1,
  maxPendingReads: 1,
  secondLeader: true,
  detail: 'full',
};

/**
 * A node restarted from storage mid-life, without pre-vote or check-quorum: it has voted for n2 in
 * term 2 and holds uncommitted entries of terms 1 and 2 — as a leader it must commit them only
 * through an entry of its own term (Figure 8); as a follower its timeout starts a real election.
 */
const RESTARTED: ModelScope = {
  name: 'restarted node, without pre-vote',
  input: {
    ...cluster,
    ...WITHOUT_PRE_VOTE,
    persisted: {
      currentTerm: 2,
      votedFor: 'n2',
      log: [
        { term: 1, index: 1, command: COMMAND },
        { term: 2, index: 2, command: COMMAND },
      ],
    },
  },
  maxTermOffset: 2,
  maxLogLength: 4,
  maxReadSeq: 0,
  maxPendingReads: 0,
  detail: 'full',
};

/**
 * ReadIndex over two confirmation rounds, on the restarted node without pre-vote: as a leader it
 * holds reads until its first entry of its term commits (which also commits the older entries),
 * and an answer to one round does not confirm the next.
 */
const READS: ModelScope = {
  name: 'restarted node, reads, without pre-vote',
  input: RESTARTED.input,
  maxTermOffset: 2,
  maxLogLength: 3,
  maxReadSeq: 2,
  maxPendingReads: 1,
  detail: 'full',
};

/**
 * Followers, pre-candidates and candidates over more terms, default configuration: log matching,
 * conflicts, truncation, votes and pre-votes (exploration stops at leader).
 */
const FOLLOWER: ModelScope = {
  name: 'follower and candidate',
  input: { ...cluster, ...DEFAULT_CONFIG },
  maxTermOffset: 3,
  maxLogLength: 4,
  maxReadSeq: 0,
  maxPendingReads: 0,
  stopAtLeader: true,
  detail: 'full',
};

/**
 * Every edge of a smaller graph (one term up, three entries), default configuration: each (state,
 * event) pair the model offers is replayed — among them every leader state's election timeout,
 * with and without an answer from a follower since the last check.
 */
const EVERY_EDGE: ModelScope = {
  name: 'fresh node, every edge',
  input: { ...cluster, ...DEFAULT_CONFIG },
  maxTermOffset: 1,
  maxLogLength: 3,
  maxReadSeq: 1,
  maxPendingReads: 1,
  everyEdge: true,
  secondLeader: true,
  detail: 'full',
};

/**
 * Simple paths (every order of events that visits no state twice) over one event of each kind, one
 * term up: without pre-vote, up to two entries; with it, up to one (a pre-candidate doubles every
 * follower state, and the simple paths through them grow about tenfold per entry allowed).
 */
const SIMPLE: ModelScope = {
  name: 'fresh node, simple paths, without pre-vote',
  input: { ...cluster, ...WITHOUT_PRE_VOTE },
  maxTermOffset: 1,
  maxLogLength: 2,
  maxReadSeq: 0,
  maxPendingReads: 0,
  detail: 'core',
};

const SIMPLE_PRE_VOTE: ModelScope = {
  name: 'fresh node, simple paths',
  input: { ...cluster, ...DEFAULT_CONFIG },
  maxTermOffset: 1,
  maxLogLength: 1,
  maxReadSeq: 0,
  maxPendingReads: 0,
  detail: 'core',
};

/**
 * A node restarted from a snapshot (up to index 2, term 1) with one entry after it: compaction of
 * what it applies, snapshots from leaders (whole, in chunks, out of order, ones it already holds),
 * AppendEntries reaching back into its snapshot, and as a leader, a follower that needs compacted
 * entries — sent the snapshot, then entries after it.
 */
const SNAPSHOTS: ModelScope = {
  name: 'restarted from a snapshot',
  input: {
    ...cluster,
    ...DEFAULT_CONFIG,
    persisted: { currentTerm: 1, votedFor: null, log: [{ term: 1, index: 3, command: COMMAND }], snapshot: { index: 2, term: 1, data: 'j:0' } },
  },
  maxTermOffset: 1,
  maxLogLength: 4,
  maxReadSeq: 0,
  maxPendingReads: 0,
  snapshots: true,
  detail: 'full',
};

/** Every edge of the snapshot scope within one term and one entry after the snapshot: the cross edges (a higher term in a chunk or an answer, a chunk to a (pre-)candidate). */
const SNAPSHOTS_EVERY_EDGE: ModelScope = { ...SNAPSHOTS, name: 'restarted from a snapshot, every edge', maxLogLength: 3, everyEdge: true };

/**
 * Membership and leadership transfer, default configuration: a node restarted from a snapshot (up
 * to index 1, term 1) that carries the configuration n1, n2, n3 with the learner n4 — so as leader
 * it writes a no-op, not the bootstrap configuration, and a change asked before that no-op commits
 * is held back (the 2015 bug) and appended once it has. Changes in flight, invalid ones, promoting
 * the learner, removing a voter and removing itself (handing over once that commits), transfers
 * started, refused and abandoned; as a follower, configuration entries about itself (in force at
 * once, undone when replaced), TimeoutNow (campaign at once, as a voter only).
 */
const MEMBERSHIP: ModelScope = {
  name: 'membership and transfer',
  input: {
    ...cluster,
    ...DEFAULT_CONFIG,
    persisted: { currentTerm: 1, votedFor: null, log: [], snapshot: { index: 1, term: 1, data: withConfigHeader({ voters: PEERS, learners: [LEARNER] }, 'j:0') } },
  },
  maxTermOffset: 1,
  maxLogLength: 3,
  maxReadSeq: 0,
  maxPendingReads: 0,
  membership: true,
  detail: 'core',
};

/**
 * Every edge of the membership scope up to the no-op (index 2): the edges back to a state seen
 * before — a transfer abandoned on its timeout, a change refused — that no shortest path takes.
 */
const MEMBERSHIP_EVERY_EDGE: ModelScope = { ...MEMBERSHIP, name: 'membership and transfer, every edge', maxLogLength: 2, everyEdge: true };

/** A new, empty server (`join: true`): no configuration, so it never campaigns until an entry makes it a voter. */
const JOINING: ModelScope = {
  name: 'joining node',
  input: { ...cluster, ...DEFAULT_CONFIG, join: true },
  maxTermOffset: 1,
  maxLogLength: 3,
  maxReadSeq: 0,
  maxPendingReads: 0,
  stopAtLeader: true,
  membership: true,
  detail: 'core',
};

interface Failure {
  readonly path: ModelPath;
  /** Index of the failing event in path.events. */
  readonly at: number;
  readonly message: string;
}

function formatFailure(f: Failure): string {
  const steps = f.path.events.slice(0, f.at + 1).map((e, i) => `  ${i + 1}. ${describeEvent(e)}`);
  return `${f.path.scope.name} (${f.path.generator} path), step ${f.at + 1}:\n${f.message}\nevents:\n${steps.join('\n')}`;
}

const coverage = new ChartCoverage(raftNodeMachine);
const stateMismatches: Failure[] = [];
const invariantFailures: Failure[] = [];
const missingReports: Failure[] = [];
/** How many steps gave the node an impossible input, by the report it must make and by the role it was in. */
const impossibleInputs = new Map<string, number>();
const count = (key: string) => impossibleInputs.set(key, (impossibleInputs.get(key) ?? 0) + 1);
let replayed = 0;

function replay(path: ModelPath): void {
  const node = new ReplayedNode(path.scope.input, { onMicrostep: coverage.observe });
  let at = -1;
  try {
    const predicted = (i: number) => path.states[i] as string;
    if (serializeRaftState(node.snapshot, path.scope) !== predicted(0)) {
      stateMismatches.push({ path, at: -1, message: `initial state ${serializeRaftState(node.snapshot, path.scope)}, predicted ${predicted(0)}` });
      return;
    }
    if (node.started.violations.length > 0) {
      invariantFailures.push({ path, at: -1, message: formatViolations(node.started.violations) });
      return;
    }
    path.events.forEach((event, i) => {
      at = i;
      const step = node.send(event);
      const actual = serializeRaftState(step.next, path.scope);
      if (actual !== predicted(i + 1)) {
        stateMismatches.push({ path, at: i, message: `state ${actual}\npredicted ${predicted(i + 1)}` });
      }
      const expected = expectedReports(step.prev, event);
      for (const rule of expected) {
        count(rule);
        count(`${rule} (${roleOf(step.prev)})`);
      }
      const { unexpected, missing } = judgeStep(step.violations, expected);
      if (unexpected.length > 0) invariantFailures.push({ path, at: i, message: formatViolations(unexpected) });
      if (missing.length > 0) missingReports.push({ path, at: i, message: `the node did not report: ${missing.join('; ')}` });
    });
  } catch (error) {
    // The actor failed (an action threw): a broken step like any other, reported with its path.
    invariantFailures.push({ path, at, message: `the actor failed: ${String(error)}` });
  } finally {
    node.stop();
    replayed++;
  }
}

/** The first few failures in full, and how many there were. */
function summary(failures: readonly Failure[]) {
  return { failures: failures.length, first: failures.slice(0, 3).map(formatFailure) };
}
const none = { failures: 0, first: [] };

describe('raftNodeMachine, model-based (paths generated by @xstate/graph, replayed on a real actor)', () => {
  beforeAll(() => {
    const generated = [
      ...shortestPaths(FRESH),
      ...shortestPaths(RESTARTED),
      ...shortestPaths(READS),
      ...shortestPaths(FOLLOWER),
      ...shortestPaths(EVERY_EDGE),
      ...shortestPaths(SNAPSHOTS),
      ...shortestPaths(SNAPSHOTS_EVERY_EDGE),
      ...shortestPaths(MEMBERSHIP),
      ...shortestPaths(MEMBERSHIP_EVERY_EDGE),
      ...shortestPaths(JOINING),
      ...simplePaths(SIMPLE),
      ...simplePaths(SIMPLE_PRE_VOTE),
    ];
    for (const path of withoutPrefixes(generated)) replay(path);
    const r = coverage.report;
    console.log(`model coverage: states ${r.states[0]}/${r.states[1]}, transitions ${r.transitions[0]}/${r.transitions[1]}, paths ${replayed}`);
  }, 300_000);

  it('replays generated paths (shortest paths with their self-loops, every edge of a small graph, simple paths)', () => {
    expect(replayed).toBeGreaterThan(1000);
  });

  it('after every step the actor is in the state the path predicts', () => {
    expect(summary(stateMismatches)).toEqual(none);
  });

  it('no step breaks a node invariant (term, vote, log, commit, apply, durability)', () => {
    expect(summary(invariantFailures)).toEqual(none);
  });

  it('the node reports the impossible inputs it is given (a second leader in its term, to a leader or a pre-candidate; a rewrite of a committed entry)', () => {
    expect(summary(missingReports)).toEqual(none);
    // The model does offer both impossible inputs, so the check above is not vacuous.
    expect(impossibleInputs.get(`${TWO_LEADERS} (leader)`) ?? 0).toBeGreaterThan(0);
    // A pre-candidate still knows the leader of its term, so it reports a second one too.
    expect(impossibleInputs.get(`${TWO_LEADERS} (preCandidate)`) ?? 0).toBeGreaterThan(0);
    expect(impossibleInputs.get(COMMITTED_TRUNCATION) ?? 0).toBeGreaterThan(0);
  });

  it('every state and every transition of the chart is reached by some path', () => {
    const r = coverage.report;
    expect({ missedStates: r.missedStates, missedTransitions: r.missedTransitions }).toEqual({ missedStates: [], missedTransitions: [] });
  });
});
