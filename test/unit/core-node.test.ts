import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCommittable } from '../../src/core/commit.js';
import { applyCommitted, hardState, initialContext, mayCampaign, votersCount, withConfigs, type EffectSink, type RaftContext, type RaftEffect } from '../../src/core/node.js';
import { randomInt, seedRng } from '../../src/core/random.js';
import { configCommand, historyAfterCompaction, withConfigHeader, type ConfigHistory, type Configuration } from '../../src/core/configuration.js';
import type { LogEntry, Term } from '../../src/core/types.js';

function entries(terms: readonly Term[]): LogEntry<string>[] {
  return terms.map((term, i) => ({ term, index: i + 1, command: `c${i + 1}@${term}` }));
}

/** A sink that records every effect; the commit guard is the real one (followers never consult it). */
function recordingSink(): EffectSink & { effects: RaftEffect<unknown>[]; guardCalls: number } {
  const sink = {
    effects: [] as RaftEffect<unknown>[],
    guardCalls: 0,
    emit(effect: RaftEffect<unknown>) {
      sink.effects.push(effect);
    },
    isCommittable(entryTerm: Term | undefined, currentTerm: Term) {
      sink.guardCalls++;
      return isCommittable(entryTerm, currentTerm);
    },
  };
  return sink;
}

/** n1 of a three-node cluster, restarted from `terms`, with commitIndex/lastApplied set. */
function nodeWithLog(terms: readonly Term[], patch: Partial<RaftContext<unknown>> = {}): RaftContext<unknown> {
  const base = initialContext<unknown>({
    id: 'n1',
    peers: ['n1', 'n2', 'n3'],
    persisted: { currentTerm: Math.max(0, ...terms), votedFor: null, log: entries(terms) },
  });
  return { ...base, ...patch };
}

/** The first `count` election timeouts a context's generator would draw. */
function draws(ctx: RaftContext<unknown>, count = 5): number[] {
  const out: number[] = [];
  let state = ctx.rng;
  for (let i = 0; i < count; i++) {
    const [value, next] = randomInt(state, ctx.electionTimeout[0], ctx.electionTimeout[1]);
    out.push(value);
    state = next;
  }
  return out;
}

describe('initialContext: a node as it starts (or restarts)', () => {
  it('peers are the other voters: the node itself is excluded and duplicates are dropped', () => {
    expect(initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'] }).peers).toEqual(['n2', 'n3']);
    expect(initialContext({ id: 'n1', peers: ['n2', 'n3', 'n2', 'n1', 'n3'] }).peers).toEqual(['n2', 'n3']);
    // `peers` may or may not list the node itself: the cluster is the same either way.
    expect(initialContext({ id: 'n1', peers: ['n2', 'n3'] }).peers).toEqual(['n2', 'n3']);
  });

  it('a single-node cluster has no peers and one voter', () => {
    const ctx = initialContext({ id: 'n1', peers: ['n1'] });
    expect(ctx.peers).toEqual([]);
    expect(votersCount(ctx)).toBe(1);
  });

  it('the voter count is the peers plus the node itself, however the peer list was written', () => {
    expect(votersCount(initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'] }))).toBe(3);
    expect(votersCount(initialContext({ id: 'n1', peers: ['n2', 'n3', 'n2', 'n4', 'n5'] }))).toBe(5);
  });

  it('a restart restores currentTerm, votedFor and the log from storage (Figure 2, persistent state)', () => {
    const log = entries([1, 1, 3, 3]);
    const ctx = initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'], persisted: { currentTerm: 5, votedFor: 'n2', log } });
    expect(ctx.currentTerm).toBe(5);
    expect(ctx.votedFor).toBe('n2');
    expect(ctx.log.toArray()).toEqual(log);
    expect(ctx.log.lastIndex).toBe(4);
    expect(ctx.log.lastTerm).toBe(3);
  });

  it('a restart keeps no volatile state: commitIndex and lastApplied start at 0, no leader, no leader bookkeeping', () => {
    const ctx = initialContext({
      id: 'n1',
      peers: ['n1', 'n2', 'n3'],
      persisted: { currentTerm: 5, votedFor: 'n1', log: entries([1, 2, 5]) },
    });
    expect(ctx.commitIndex).toBe(0);
    expect(ctx.lastApplied).toBe(0);
    expect(ctx.leaderId).toBeNull();
    expect(ctx.heardFromLeader).toBe(false);
    expect(ctx.votes).toEqual([]);
    expect(ctx.nextIndex).toEqual({});
    expect(ctx.matchIndex).toEqual({});
    expect(ctx.replication).toEqual({});
    expect(ctx.recentlyActive).toEqual([]);
    expect(ctx.readSeq).toBe(0);
    expect(ctx.ackedSeq).toEqual({});
    expect(ctx.reads).toEqual([]);
  });

  it('a node with nothing persisted starts at term 0, with no vote and an empty log', () => {
    const ctx = initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'] });
    expect(ctx.currentTerm).toBe(0);
    expect(ctx.votedFor).toBeNull();
    expect(ctx.log.lastIndex).toBe(0);
    expect(ctx.log.lastTerm).toBe(0);
  });

  it('a persisted log that is not numbered 1, 2, 3, … is refused, not silently restored', () => {
    const gap: LogEntry<string>[] = [
      { term: 1, index: 1, command: 'a' },
      { term: 1, index: 3, command: 'c' },
    ];
    expect(() => initialContext({ id: 'n1', peers: ['n2'], persisted: { currentTerm: 1, votedFor: null, log: gap } })).toThrow(RangeError);
  });

  it('defaults: election timeout [150, 300], heartbeat 50, pre-vote and check-quorum on, 256 entries per message', () => {
    const ctx = initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'] });
    expect(ctx.electionTimeout).toEqual([150, 300]);
    expect(ctx.heartbeatInterval).toBe(50);
    expect(ctx.preVote).toBe(true);
    expect(ctx.checkQuorum).toBe(true);
    expect(ctx.maxEntriesPerMessage).toBe(256);
  });

  it('explicit options override the defaults, including false and 0-like values', () => {
    const ctx = initialContext({
      id: 'n1',
      peers: ['n1', 'n2', 'n3'],
      electionTimeout: [10, 20],
      heartbeatInterval: 3,
      maxEntriesPerMessage: 1,
      preVote: false,
      checkQuorum: false,
    });
    expect(ctx.electionTimeout).toEqual([10, 20]);
    expect(ctx.heartbeatInterval).toBe(3);
    expect(ctx.maxEntriesPerMessage).toBe(1);
    expect(ctx.preVote).toBe(false);
    expect(ctx.checkQuorum).toBe(false);
  });

  it('the election-timeout generator is a function of the id: the same id draws the same timeouts (a seed is a bug report)', () => {
    const a = initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'] });
    const b = initialContext({ id: 'n1', peers: ['n2', 'n3'] });
    expect(a.rng).toBe(b.rng);
    expect(draws(a)).toEqual(draws(b));
  });

  it('different ids start different generators, so nodes do not time out in lockstep (split votes, §5.2)', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'a', 'b', 'node-10', 'node-01'];
    const states = ids.map((id) => initialContext({ id, peers: ids }).rng);
    expect(new Set(states).size).toBe(ids.length);
    const n1 = initialContext({ id: 'n1', peers: ids });
    const n2 = initialContext({ id: 'n2', peers: ids });
    expect(draws(n1, 10)).not.toEqual(draws(n2, 10));
  });

  it('an explicit seed replaces the id-derived one, seed 0 included', () => {
    expect(initialContext({ id: 'n1', peers: [], seed: 42 }).rng).toBe(initialContext({ id: 'n2', peers: [], seed: 42 }).rng);
    expect(initialContext({ id: 'n1', peers: [], seed: 42 }).rng).toBe(seedRng(42));
    const zero = initialContext({ id: 'n1', peers: [], seed: 0 });
    expect(zero.rng).toBe(seedRng(0));
    expect(zero.rng).not.toBe(initialContext({ id: 'n1', peers: [] }).rng);
  });
});

describe('hardState: what must reach disk before a message leaves (Figure 2)', () => {
  it('is exactly currentTerm and votedFor', () => {
    const ctx = nodeWithLog([1, 2], { currentTerm: 7, votedFor: 'n3', commitIndex: 2 });
    expect(hardState(ctx)).toEqual({ currentTerm: 7, votedFor: 'n3' });
    expect(Object.keys(hardState(ctx)).sort()).toEqual(['currentTerm', 'votedFor']);
  });
});

describe('applyCommitted: the state machine sees each committed entry once, in log order (Figure 2, "All Servers")', () => {
  it('emits exactly the entries lastApplied+1..commitIndex, in order, and records them applied', () => {
    const ctx = nodeWithLog([1, 1, 2, 2, 2], { commitIndex: 4, lastApplied: 1 });
    const sink = recordingSink();
    const next = applyCommitted(ctx, sink);
    expect(sink.effects).toEqual([{ type: 'apply', entries: ctx.log.slice(2, 4) }]);
    expect(sink.effects[0]).toMatchObject({ entries: [{ index: 2 }, { index: 3 }, { index: 4 }] });
    expect(next.lastApplied).toBe(4);
    expect(next.commitIndex).toBe(4);
  });

  it('entries past commitIndex are not applied, even when the log holds them', () => {
    const ctx = nodeWithLog([1, 1, 2, 2, 2], { commitIndex: 2, lastApplied: 0 });
    const sink = recordingSink();
    applyCommitted(ctx, sink);
    const applied = sink.effects.flatMap((e) => (e.type === 'apply' ? e.entries.map((entry) => entry.index) : []));
    expect(applied).toEqual([1, 2]);
  });

  it('applies nothing a second time: a caught-up node emits nothing and keeps its context', () => {
    const ctx = nodeWithLog([1, 1, 2], { commitIndex: 3, lastApplied: 1 });
    const sink = recordingSink();
    const once = applyCommitted(ctx, sink);
    const twice = applyCommitted(once, sink);
    expect(sink.effects).toHaveLength(1);
    expect(twice).toBe(once);
  });

  it('a node that has applied everything committed emits nothing', () => {
    const ctx = nodeWithLog([1, 1, 2], { commitIndex: 2, lastApplied: 2 });
    const sink = recordingSink();
    expect(applyCommitted(ctx, sink)).toBe(ctx);
    expect(sink.effects).toEqual([]);
  });

  it('applying is not a commit decision: the commit guard is never consulted', () => {
    const sink = recordingSink();
    applyCommitted(nodeWithLog([1, 2, 3], { commitIndex: 3 }), sink);
    expect(sink.guardCalls).toBe(0);
  });

  it('over any sequence of commit advances every entry up to commitIndex is applied exactly once, in order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 10 }), fc.array(fc.nat({ max: 12 }), { maxLength: 12 }), (steps, commits) => {
        let t = 1;
        const terms = steps.map((s) => (t += s));
        let ctx = nodeWithLog(terms);
        const sink = recordingSink();
        let highest = 0;
        for (const c of commits) {
          // commitIndex only grows and never passes the log (the callers' rules guarantee both).
          highest = Math.max(highest, Math.min(c, terms.length));
          ctx = applyCommitted({ ...ctx, commitIndex: highest }, sink);
          expect(ctx.lastApplied).toBe(highest);
        }
        const applied = sink.effects.flatMap((e) => (e.type === 'apply' ? e.entries : []));
        expect(applied).toEqual(entries(terms).slice(0, highest));
        expect(sink.effects.every((e) => e.type === 'apply' && e.entries.length > 0)).toBe(true);
      }),
    );
  });
});

describe('initialContext: the configuration a node starts with', () => {
  it('the bootstrap configuration carries the addresses it was given, as a copy', () => {
    const addresses = { n1: 'h1:1', n2: 'h2:2' };
    const ctx = initialContext({ id: 'n1', peers: ['n2'], addresses });
    expect(ctx.config).toEqual({ voters: ['n2', 'n1'], learners: [], addresses: { n1: 'h1:1', n2: 'h2:2' } });
    expect(ctx.config.addresses).not.toBe(addresses);
    expect(initialContext({ id: 'n1', peers: ['n2'] }).config).toEqual({ voters: ['n2', 'n1'], learners: [] });
  });

  it("a snapshot's configuration, at the snapshot's index, wins over the bootstrap list", () => {
    const carried: Configuration = { voters: ['n1', 'n4'], learners: ['n5'] };
    const ctx = initialContext({
      id: 'n1',
      peers: ['n1', 'n2', 'n3'],
      persisted: { currentTerm: 2, votedFor: null, log: [{ term: 2, index: 8, command: 'x' }], snapshot: { index: 7, term: 2, data: withConfigHeader(carried, 'state') } },
    });
    expect(ctx.configs).toEqual([{ index: 7, config: carried }]);
    expect([ctx.peers, ctx.replicas]).toEqual([['n4'], ['n4', 'n5']]);
    expect([ctx.log.firstIndex, ctx.log.lastIndex, ctx.commitIndex]).toEqual([8, 8, 7]);
  });

  it('a snapshot written before membership changes (no configuration header) leaves the bootstrap list in force', () => {
    const ctx = initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'], persisted: { currentTerm: 2, votedFor: null, log: [], snapshot: { index: 7, term: 2, data: 'j:{}' } } });
    expect(ctx.configs).toEqual([{ index: 0, config: { voters: ['n1', 'n2', 'n3'], learners: [] } }]);
    expect(ctx.commitIndex).toBe(7);
  });

  it('a configuration entry in the persisted log wins over the bootstrap list', () => {
    const config: Configuration = { voters: ['n1', 'n2'], learners: ['n3'] };
    const ctx = initialContext({
      id: 'n1',
      peers: ['n1', 'n2', 'n3'],
      persisted: { currentTerm: 1, votedFor: null, log: [{ term: 1, index: 1, command: configCommand(config) }] },
    });
    expect(ctx.config).toEqual(config);
    expect(ctx.peers).toEqual(['n2']);
  });

  it('message size defaults: 1 MiB of entries per AppendEntries and 1 MiB per snapshot chunk; explicit values win', () => {
    const ctx = initialContext({ id: 'n1', peers: ['n2'] });
    expect([ctx.maxBytesPerMessage, ctx.snapshotChunkBytes]).toEqual([1024 * 1024, 1024 * 1024]);
    const set = initialContext({ id: 'n1', peers: ['n2'], maxBytesPerMessage: 10, snapshotChunkBytes: 20 });
    expect([set.maxBytesPerMessage, set.snapshotChunkBytes]).toEqual([10, 20]);
  });

  it('the default seed is the FNV-1a hash of the id, so a recorded run replays on any version', () => {
    expect(initialContext({ id: 'n1', peers: [] }).rng).toBe(seedRng(70638592));
  });
});

describe('withConfigs: what follows from the configuration in force', () => {
  it('the same history is the same context; a compacted history with the same configuration in force keeps peers and replicas', () => {
    const ctx = initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'] });
    expect(withConfigs(ctx, ctx.configs)).toBe(ctx);
    const compacted = historyAfterCompaction(ctx.configs, 5);
    const next = withConfigs(ctx, compacted);
    expect(next.configs).toBe(compacted);
    expect([next.config, next.peers, next.replicas]).toEqual([ctx.config, ['n2', 'n3'], ['n2', 'n3']]);
  });
});

describe('mayCampaign (thesis §4.2.2): who may stand for election', () => {
  const three: Configuration = { voters: ['n1', 'n2', 'n3'], learners: [] };
  const withoutN1: Configuration = { voters: ['n2', 'n3'], learners: ['n1'] };
  const history: ConfigHistory = [
    { index: 0, config: three },
    { index: 4, config: withoutN1 },
  ];

  it('a voter of the configuration in force may', () => {
    expect(mayCampaign({ id: 'n2', configs: history, config: withoutN1, commitIndex: 0 })).toBe(true);
  });

  it('a voter removed by a configuration entry not yet committed here may: it may hold the log the others need', () => {
    expect(mayCampaign({ id: 'n1', configs: history, config: withoutN1, commitIndex: 3 })).toBe(true);
  });

  it('once its removal is committed it may not', () => {
    expect(mayCampaign({ id: 'n1', configs: history, config: withoutN1, commitIndex: 4 })).toBe(false);
  });

  it('a server that was not a voter of the configuration before either may not', () => {
    const learnerThroughout: ConfigHistory = [
      { index: 0, config: { voters: ['n2', 'n3'], learners: ['n1'] } },
      { index: 4, config: { voters: ['n2', 'n3'], learners: ['n1', 'n4'] } },
    ];
    expect(mayCampaign({ id: 'n1', configs: learnerThroughout, config: inForceOf(learnerThroughout), commitIndex: 0 })).toBe(false);
  });

  it('a server with no earlier configuration than one that makes it a learner may not', () => {
    const only: ConfigHistory = [{ index: 4, config: withoutN1 }];
    expect(mayCampaign({ id: 'n1', configs: only, config: withoutN1, commitIndex: 0 })).toBe(false);
  });
});

function inForceOf(history: ConfigHistory): Configuration {
  return (history[history.length - 1] as ConfigHistory[number]).config;
}
