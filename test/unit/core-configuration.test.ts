/**
 * Cluster membership as pure data (src/core/configuration.ts): single-server changes (thesis §4.1),
 * the configurations a log holds (in force when appended, undone when truncated, the base moved by
 * compaction), and the configuration header a snapshot carries. Each test is named after the rule
 * it protects.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_COMMAND_TYPE,
  changedConfiguration,
  configAt,
  configCommand,
  configOf,
  historyAfterAppend,
  historyAfterCompaction,
  historyAfterTruncation,
  historyOf,
  inForce,
  isConfigCommand,
  isRaftCommand,
  isMember,
  isVoter,
  otherVoters,
  PROMOTE_MAX_LAG,
  replicationTargets,
  sameMembers,
  snapshotConfiguration,
  snapshotStateText,
  withConfigHeader,
  type ConfigHistory,
  type Configuration,
  type LearnerProgress,
} from '../../src/core/configuration.js';
import type { LogEntry, LogIndex, Term } from '../../src/core/types.js';

const ABC: Configuration = { voters: ['a', 'b', 'c'], learners: [] };
const ABC_D: Configuration = { voters: ['a', 'b', 'c'], learners: ['d'] };

function configEntry(index: LogIndex, config: Configuration, term: Term = 1): LogEntry<unknown> {
  return { term, index, command: configCommand(config) };
}

function commandEntry(index: LogIndex, term: Term = 1): LogEntry<unknown> {
  return { term, index, command: `c${index}` };
}

/** Whatever the outcome, its configuration (a refusal fails the test with its reason). */
function accepted(outcome: ReturnType<typeof changedConfiguration>): Configuration {
  if (!outcome.ok) throw new Error(`refused: ${outcome.reason}`);
  return outcome.config;
}

function refusal(outcome: ReturnType<typeof changedConfiguration>): string {
  if (outcome.ok) throw new Error(`accepted: ${JSON.stringify(outcome.config)}`);
  return outcome.reason;
}

const caughtUp = (matchIndex: LogIndex, leaderLastIndex: LogIndex): LearnerProgress => ({ caughtUp: true, matchIndex, leaderLastIndex });

describe('configuration entries: the whole configuration, recognised by its type', () => {
  it('a configuration entry carries voters, learners and addresses, and nothing else becomes one', () => {
    const command = configCommand({ voters: ['a'], learners: ['b'], addresses: { a: 'h:1' } });
    expect(command).toEqual({ type: CONFIG_COMMAND_TYPE, voters: ['a'], learners: ['b'], addresses: { a: 'h:1' } });
    expect(isConfigCommand(command)).toBe(true);
    expect(configOf(command)).toEqual({ voters: ['a'], learners: ['b'], addresses: { a: 'h:1' } });
    // No addresses: none is written (not even `addresses: undefined`).
    expect(Object.keys(configCommand(ABC))).toEqual(['type', 'voters', 'learners']);
    expect(Object.keys(configOf(configCommand(ABC)))).toEqual(['voters', 'learners']);
    for (const other of [null, undefined, 'raft.config', 42, { type: 'noop' }, { voters: ['a'], learners: [] }]) expect(isConfigCommand(other)).toBe(false);
  });
});

describe('who is who in a configuration', () => {
  it('a learner is a member but not a voter; a stranger is neither', () => {
    expect([isVoter(ABC_D, 'a'), isMember(ABC_D, 'a')]).toEqual([true, true]);
    expect([isVoter(ABC_D, 'd'), isMember(ABC_D, 'd')]).toEqual([false, true]);
    expect([isVoter(ABC_D, 'x'), isMember(ABC_D, 'x')]).toEqual([false, false]);
  });

  it('a node counts only the other voters as its peers, and replicates to them and then to the learners', () => {
    expect(otherVoters(ABC_D, 'a')).toEqual(['b', 'c']);
    expect(replicationTargets(ABC_D, 'a')).toEqual(['b', 'c', 'd']);
    // A leader that is not a voter (it removed itself) still replicates to every voter.
    expect(otherVoters(ABC_D, 'x')).toEqual(['a', 'b', 'c']);
    expect(replicationTargets({ voters: ['b', 'c'], learners: ['a'] }, 'a')).toEqual(['b', 'c']);
  });

  it('sameMembers compares voters and learners as sets, ignoring order and addresses', () => {
    expect(sameMembers({ voters: ['c', 'a', 'b'], learners: ['d'] }, { ...ABC_D, addresses: { a: 'h:1' } })).toBe(true);
    expect(sameMembers(ABC, ABC_D)).toBe(false);
    expect(sameMembers({ voters: ['a', 'b'], learners: ['c'] }, { voters: ['a', 'b', 'c'], learners: [] })).toBe(false);
  });

  // Regression: the comparison once checked one direction only, so a list that named a server twice
  // matched a list of as many distinct servers.
  it('sameMembers does not take a list naming a server twice for one naming two servers', () => {
    expect(sameMembers({ voters: ['a', 'a'], learners: [] }, { voters: ['a', 'b'], learners: [] })).toBe(false);
  });
});

describe('single-server changes (thesis §4.1): one server at a time, each refused with a reason when it cannot apply', () => {
  it('a new server joins as a learner, with its address', () => {
    expect(accepted(changedConfiguration(ABC, { type: 'addLearner', id: 'd', address: 'h:4' }))).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'], addresses: { d: 'h:4' } });
    expect(accepted(changedConfiguration({ ...ABC, addresses: { a: 'h:1' } }, { type: 'addLearner', id: 'd' }))).toEqual({ ...ABC_D, addresses: { a: 'h:1' } });
    expect(accepted(changedConfiguration(ABC, { type: 'addLearner', id: 'd' }))).toEqual(ABC_D);
  });

  it('adding a server that is already a member is refused', () => {
    expect(refusal(changedConfiguration(ABC_D, { type: 'addLearner', id: 'a' }))).toMatch(/a is already a voter/);
    expect(refusal(changedConfiguration(ABC_D, { type: 'addLearner', id: 'd' }))).toMatch(/d is already a learner/);
  });

  it('promote turns a caught-up learner into a voter, keeping its address', () => {
    const config = { ...ABC_D, addresses: { d: 'h:4' } };
    expect(accepted(changedConfiguration(config, { type: 'promote', id: 'd' }, caughtUp(10, 10)))).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [], addresses: { d: 'h:4' } });
  });

  it('promote is refused while the learner lags by more than PROMOTE_MAX_LAG or the leader has not heard where its log stands', () => {
    const promote = { type: 'promote', id: 'd' } as const;
    const last = PROMOTE_MAX_LAG + 50;
    // Exactly at the bound: allowed.
    expect(accepted(changedConfiguration(ABC_D, promote, caughtUp(50, last))).voters).toContain('d');
    // One entry more behind: refused, with how far behind it is.
    expect(refusal(changedConfiguration(ABC_D, promote, caughtUp(49, last)))).toMatch(new RegExp(`${PROMOTE_MAX_LAG + 1} entries behind`));
    // The leader still probes (it does not know where the learner's log meets its own), even if matchIndex looks close.
    expect(refusal(changedConfiguration(ABC_D, promote, { caughtUp: false, matchIndex: last, leaderLastIndex: last }))).toMatch(/has not yet heard where its log stands/);
    // No progress at all.
    expect(refusal(changedConfiguration(ABC_D, promote))).toMatch(/lags behind/);
  });

  it('promote names a learner: a voter or a stranger is refused', () => {
    expect(refusal(changedConfiguration(ABC_D, { type: 'promote', id: 'a' }, caughtUp(1, 1)))).toMatch(/a is already a voter/);
    expect(refusal(changedConfiguration(ABC_D, { type: 'promote', id: 'x' }, caughtUp(1, 1)))).toMatch(/x is not a learner/);
  });

  it('removing a voter or a learner drops it, and its address', () => {
    const config = { ...ABC_D, addresses: { a: 'h:1', b: 'h:2', d: 'h:4' } };
    expect(accepted(changedConfiguration(config, { type: 'removeServer', id: 'b' }))).toEqual({ voters: ['a', 'c'], learners: ['d'], addresses: { a: 'h:1', d: 'h:4' } });
    expect(accepted(changedConfiguration(config, { type: 'removeServer', id: 'd' }))).toEqual({ voters: ['a', 'b', 'c'], learners: [], addresses: { a: 'h:1', b: 'h:2' } });
    expect(accepted(changedConfiguration(ABC_D, { type: 'removeServer', id: 'a' }))).toEqual({ voters: ['b', 'c'], learners: ['d'] });
  });

  it('removing the last voter is refused (a learner may still be removed beside it)', () => {
    const lone = { voters: ['a'], learners: ['d'] };
    expect(refusal(changedConfiguration(lone, { type: 'removeServer', id: 'a' }))).toMatch(/last voter/);
    expect(accepted(changedConfiguration(lone, { type: 'removeServer', id: 'd' }))).toEqual({ voters: ['a'], learners: [] });
  });

  it('removing a server that is not a member is refused', () => {
    expect(refusal(changedConfiguration(ABC, { type: 'removeServer', id: 'x' }))).toMatch(/x is not a member/);
  });

  it('every accepted change moves exactly one server (any two majorities of the old and new voters overlap)', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const configArb = fc
      .tuple(fc.subarray(ids, { minLength: 1 }), fc.subarray(ids))
      .map(([voters, learners]) => ({ voters, learners: learners.filter((l) => !voters.includes(l)) }));
    const changeArb = fc.tuple(fc.constantFrom('addLearner', 'promote', 'removeServer' as const), fc.constantFrom(...ids, 'x'));
    fc.assert(
      fc.property(configArb, changeArb, fc.nat({ max: 2 * PROMOTE_MAX_LAG }), fc.boolean(), (config, [type, id], lag, heard) => {
        const outcome = changedConfiguration(config, { type, id } as Parameters<typeof changedConfiguration>[1], { caughtUp: heard, matchIndex: 0, leaderLastIndex: lag });
        if (!outcome.ok) return;
        const before = new Set(config.voters);
        const after = new Set(outcome.config.voters);
        const moved = [...before].filter((v) => !after.has(v)).length + [...after].filter((v) => !before.has(v)).length;
        expect(moved).toBeLessThanOrEqual(1);
        expect(outcome.config.voters.length).toBeGreaterThanOrEqual(1);
        // Nobody is both a voter and a learner.
        expect(outcome.config.learners.filter((l) => after.has(l))).toEqual([]);
        // Old and new majorities overlap: |majority(old)| + |majority(new)| > |old ∪ new|.
        const union = new Set([...before, ...after]).size;
        expect(Math.floor(before.size / 2) + 1 + Math.floor(after.size / 2) + 1).toBeGreaterThan(union);
      }),
    );
  });
});

describe('the configurations a log holds: in force when appended, undone when truncated', () => {
  const base: ConfigHistory = [{ index: 0, config: ABC }];

  it('a configuration entry is in force as soon as it is appended, not when it commits', () => {
    const history = historyAfterAppend(base, [commandEntry(1), configEntry(2, ABC_D), commandEntry(3)]);
    expect(history).toEqual([
      { index: 0, config: ABC },
      { index: 2, config: ABC_D },
    ]);
    expect(inForce(history)).toEqual({ index: 2, config: ABC_D });
  });

  it('entries that change no configuration leave the history as it was (the same object)', () => {
    expect(historyAfterAppend(base, [commandEntry(1), commandEntry(2)])).toBe(base);
    expect(historyAfterAppend(base, [])).toBe(base);
  });

  it('the last of several configuration entries appended together is in force', () => {
    const abcd: Configuration = { voters: ['a', 'b', 'c', 'd'], learners: [] };
    const history = historyAfterAppend(base, [configEntry(1, ABC_D), configEntry(2, abcd)]);
    expect(inForce(history)).toEqual({ index: 2, config: abcd });
    expect(history).toHaveLength(3);
  });

  it('a configuration entry truncated away is undone: the one before it is in force again', () => {
    const history = historyAfterAppend(base, [configEntry(2, ABC_D), configEntry(4, { voters: ['a', 'b', 'c', 'd'], learners: [] })]);
    expect(historyAfterTruncation(history, 4)).toEqual([
      { index: 0, config: ABC },
      { index: 2, config: ABC_D },
    ]);
    expect(inForce(historyAfterTruncation(history, 3))).toEqual({ index: 2, config: ABC_D });
    expect(historyAfterTruncation(history, 2)).toEqual(base);
  });

  it('truncating only entries after the configuration in force changes nothing (the same object)', () => {
    const history = historyAfterAppend(base, [configEntry(2, ABC_D)]);
    expect(historyAfterTruncation(history, 3)).toBe(history);
  });

  it('the base (the bootstrap list or the snapshot’s) is never truncated away', () => {
    const fromSnapshot: ConfigHistory = [{ index: 5, config: ABC_D }];
    expect(historyAfterTruncation(fromSnapshot, 5)).toEqual(fromSnapshot);
    expect(historyAfterTruncation(base, 0)).toEqual(base);
  });

  it('appending entries and truncating them again restores the history (property)', () => {
    const configs = [ABC, ABC_D, { voters: ['a', 'b'], learners: [] }];
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.constantFrom(...configs), { nil: undefined }), { maxLength: 8 }),
        fc.array(fc.option(fc.constantFrom(...configs), { nil: undefined }), { maxLength: 8 }),
        (kept, dropped) => {
          const entries = (plan: (Configuration | undefined)[], first: number) => plan.map((c, i) => (c === undefined ? commandEntry(first + i) : configEntry(first + i, c)));
          const before = historyAfterAppend(base, entries(kept, 1));
          const after = historyAfterAppend(before, entries(dropped, kept.length + 1));
          expect(historyAfterTruncation(after, kept.length + 1)).toEqual(before);
        },
      ),
    );
  });

  it('the configuration in force at an index is set by the last configuration entry at or before it', () => {
    const history = historyAfterAppend(base, [configEntry(3, ABC_D), configEntry(6, ABC)]);
    expect(configAt(history, 2)).toEqual({ index: 0, config: ABC });
    expect(configAt(history, 3)).toEqual({ index: 3, config: ABC_D });
    expect(configAt(history, 5)).toEqual({ index: 3, config: ABC_D });
    expect(configAt(history, 9)).toEqual({ index: 6, config: ABC });
    // Before the base: the base (nothing older is known).
    expect(configAt([{ index: 5, config: ABC_D }], 2)).toEqual({ index: 5, config: ABC_D });
  });

  it('compaction makes the configuration at the snapshot’s index the base and keeps the later ones', () => {
    const history = historyAfterAppend(base, [configEntry(3, ABC_D), configEntry(6, ABC)]);
    expect(historyAfterCompaction(history, 4)).toEqual([
      { index: 3, config: ABC_D },
      { index: 6, config: ABC },
    ]);
    expect(historyAfterCompaction(history, 6)).toEqual([{ index: 6, config: ABC }]);
    expect(historyAfterCompaction(history, 2)).toEqual(history);
    // Compaction never changes the configuration in force.
    for (const index of [0, 1, 3, 5, 6, 8]) expect(inForce(historyAfterCompaction(history, index)).config).toEqual(inForce(history).config);
  });

  it('a restarted log’s history is its base followed by the configuration entries it holds', () => {
    expect(historyOf({ index: 4, config: ABC }, [commandEntry(5), configEntry(6, ABC_D)])).toEqual([
      { index: 4, config: ABC },
      { index: 6, config: ABC_D },
    ]);
    expect(historyOf({ index: 0, config: ABC }, [])).toEqual(base);
  });
});

describe('a snapshot carries the configuration at its index', () => {
  it('a snapshot carries the configuration at its index: the header round-trips, and the state machine’s text is untouched', () => {
    const config = { voters: ['a', 'b'], learners: ['d'], addresses: { a: 'h:1' } };
    const text = withConfigHeader(config, 'j:{"x":1}\nmore');
    expect(text.startsWith('c:')).toBe(true);
    expect(snapshotConfiguration(text)).toEqual(config);
    expect(snapshotStateText(text)).toBe('j:{"x":1}\nmore');
    // The header holds members and addresses only: a command's type does not leak in.
    expect(JSON.parse(text.slice(2, text.indexOf('\n')))).toEqual(config);
    expect(snapshotConfiguration(withConfigHeader(ABC, ''))).toEqual(ABC);
    expect(snapshotStateText(withConfigHeader(ABC, ''))).toBe('');
  });

  it('a snapshot written before membership changes existed carries no configuration, and its text is all state', () => {
    for (const old of ['j:{}', 'b:AAAA', '']) {
      expect(snapshotConfiguration(old)).toBeUndefined();
      expect(snapshotStateText(old)).toBe(old);
    }
  });

  it('a malformed header is no configuration (never a half-read one)', () => {
    for (const bad of [
      'c:{"voters":["a"]',
      'c:not json\nj:{}',
      'c:{"voters":"a","learners":[]}\nj:{}',
      'c:{"voters":[""],"learners":[]}\nj:{}',
      'c:{"voters":["a"]}\nj:{}',
      'c:{"voters":[1],"learners":[]}\n',
    ]) {
      expect(snapshotConfiguration(bad), bad).toBeUndefined();
    }
    // Addresses that are not a map of strings are dropped, the members kept.
    expect(snapshotConfiguration('c:{"voters":["a"],"learners":[],"addresses":{"a":1}}\nj:{}')).toEqual({ voters: ['a'], learners: [] });
    // A header without its newline holds no state text.
    expect(snapshotStateText('c:{"voters":["a"],"learners":[]}')).toBe('');
  });
});

describe('configuration edges', () => {
  it("Raft's own commands (a configuration, the leader's no-op) are recognised by their type; nothing else is one", () => {
    expect(isRaftCommand({ type: 'raft.noop' })).toBe(true);
    expect(isRaftCommand(configCommand(ABC))).toBe(true);
    for (const other of [null, undefined, 'raft.noop', 'raft.config', 7, { type: 'put' }, {}]) expect(isRaftCommand(other), String(other)).toBe(false);
  });

  it('sameMembers: a list with a server more or another server is not the same membership', () => {
    expect(sameMembers({ voters: ['a', 'b'], learners: [] }, { voters: ['a'], learners: [] })).toBe(false);
    expect(sameMembers({ voters: ['a', 'b'], learners: [] }, { voters: ['a', 'c'], learners: [] })).toBe(false);
    expect(sameMembers({ voters: ['a'], learners: ['d', 'e'] }, { voters: ['a'], learners: ['d', 'f'] })).toBe(false);
  });

  it('promoting one learner keeps the other learners', () => {
    const config: Configuration = { voters: ['a', 'b', 'c'], learners: ['d', 'e'] };
    const promoted = changedConfiguration(config, { type: 'promote', id: 'e' }, { caughtUp: true, matchIndex: 5, leaderLastIndex: 5 });
    expect(promoted).toStrictEqual({ ok: true, config: { voters: ['a', 'b', 'c', 'e'], learners: ['d'] } });
  });

  it('a configuration without addresses gains none: adding a learner without one, or reading a header without them', () => {
    expect(changedConfiguration(ABC, { type: 'addLearner', id: 'd' })).toStrictEqual({ ok: true, config: { voters: ['a', 'b', 'c'], learners: ['d'] } });
    expect(snapshotConfiguration(withConfigHeader(ABC, 'state'))).toStrictEqual({ voters: ['a', 'b', 'c'], learners: [] });
  });

  it('only a `c:` header followed by its newline carries a configuration', () => {
    // Valid JSON after some other two-character prefix is state text, not a header.
    expect(snapshotConfiguration('j:{"voters":["a"],"learners":[]}\nmore')).toBeUndefined();
    // Without the newline there is no header, even if the text minus its last character would parse.
    expect(snapshotConfiguration('c:{"voters":["a"],"learners":[]}}')).toBeUndefined();
    expect(snapshotConfiguration('c:{"voters":["a"],"learners":[]}\n')).toEqual({ voters: ['a'], learners: [] });
    expect(snapshotStateText('c:{"voters":["a"],"learners":[]}\nstate')).toBe('state');
    expect(snapshotStateText('c:x')).toBe('');
  });

  it('a header naming a server twice, or whose JSON is not an object with lists of names, is no configuration', () => {
    for (const bad of [
      'c:{"voters":["a","b"],"learners":["b"]}\n',
      'c:{"voters":["a","a"],"learners":[]}\n',
      'c:null\n',
      'c:"voters"\n',
      'c:{"voters":null,"learners":[]}\n',
      'c:{"voters":["a"],"learners":"b"}\n',
      'c:{"voters":["a",""],"learners":[]}\n',
      'c:{"voters":["a"],"learners":[2]}\n',
      'c:{"voters":[["a"]],"learners":[]}\n',
    ]) {
      expect(snapshotConfiguration(bad), bad).toBeUndefined();
    }
  });

  it('addresses are kept only as a map of names to strings', () => {
    const members = { voters: ['a'], learners: [] };
    for (const addresses of ['"h:1"', 'null', '["h:1"]', '{"a":"h:1","b":2}']) {
      expect(snapshotConfiguration(`c:{"voters":["a"],"learners":[],"addresses":${addresses}}\n`), addresses).toStrictEqual(members);
    }
    expect(snapshotConfiguration('c:{"voters":["a"],"learners":[],"addresses":{"a":"h:1"}}\n')).toStrictEqual({ ...members, addresses: { a: 'h:1' } });
  });
});
