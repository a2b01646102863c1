/**
 * The exploration catches each rule the simulator's mutant tests break (mutants.ts), at the depth
 * stated here: breadth-first, so no shorter schedule of that scope breaks a rule. Where the scope is
 * not one that explore.test.ts explores with the real machine, the real machine is explored in it
 * too, to the same depth, and breaks nothing: the violation is the mutant's. EXPLORE_DEEP=1 also runs
 * the cases too deep for CI.
 */
import { describe, expect, it } from 'vitest';
import type { RaftNodeMachine } from '../../machines/raft-node.js';
import { explore, type ExploreOptions } from './explore.js';
import { RULE_MUTANTS } from '../model/mutants.js';
import { describeViolation, replaySchedule } from './replay.js';
import { AFTER_FIRST_TERM, FIGURE_8_SCOPE } from './starts.js';

const WITHOUT_PRE_VOTE = { input: { preVote: false, checkQuorum: false } } as const;

interface Case {
  readonly mutant: keyof typeof RULE_MUTANTS;
  readonly scope: string;
  readonly options: Omit<ExploreOptions, 'machine'>;
  /** The rules a schedule of this depth may break first. */
  readonly rule: RegExp;
  /** explore.test.ts explores this scope (or one with larger bounds) to at least this depth with the real machine. */
  readonly coveredByExploreTest?: true;
  /** Run only with EXPLORE_DEEP=1. */
  readonly deep?: true;
}

const CASES: readonly Case[] = [
  {
    mutant: 'grants a second vote in a term',
    scope: 'from empty disks, defaults',
    options: { depth: 10 },
    rule: /at most one vote per term/,
    coveredByExploreTest: true,
  },
  {
    mutant: 'commits an entry of an earlier term by counting replicas',
    scope: 'from Figure 8 at (b), pre-vote off',
    options: { ...FIGURE_8_SCOPE, depth: 8 },
    rule: /a leader commits only entries of its current term/,
    coveredByExploreTest: true,
  },
  {
    mutant: 'accepts entries without the log matching check',
    scope: 'from Figure 8 at (b), pre-vote off',
    options: { ...FIGURE_8_SCOPE, depth: 4 },
    // The follower appends the leader's entry after an entry of another term — or past the end of
    // its log, which the log itself refuses (the machine throws).
    rule: /log matching|the node machine failed: .* log entry has index/,
    coveredByExploreTest: true,
  },
  {
    mutant: 'votes for a candidate whose log is behind',
    scope: 'from empty disks, pre-vote off, no proposal, read, restart or duplicate',
    options: { ...WITHOUT_PRE_VOTE, depth: 9, bounds: { maxProposals: 0, maxReads: 0, maxRestarts: 0, maxDuplicates: 0 } },
    rule: /leader completeness/,
  },
  {
    mutant: "takes a reply to another term's request for an answer to its own",
    scope: 'after a first term, n3 cut off, pre-vote off, no proposal or duplicate, ≤ 2 messages in flight',
    options: {
      ...WITHOUT_PRE_VOTE,
      disks: AFTER_FIRST_TERM,
      isolated: ['n3'],
      depth: 12,
      bounds: { maxDuplicates: 0, maxProposals: 0, maxInFlight: 2 },
    },
    // The old round's answer counts in the new term's rounds: the machine reports a round it never ran.
    rule: /a follower rejects only entries the leader sent/,
  },
  {
    mutant: 'serves reads without confirming it still leads',
    scope: 'after a first term, pre-vote off, no proposal, restart or duplicate, ≤ 4 messages in flight',
    options: {
      ...WITHOUT_PRE_VOTE,
      disks: AFTER_FIRST_TERM,
      depth: 13,
      bounds: { maxDuplicates: 0, maxProposals: 0, maxRestarts: 0, maxInFlight: 4 },
    },
    // n1 answers at its commit index while n2, elected in the next term, has committed past it. About
    // 230 000 states: deep only (its schedule is replayed in CI by replay.test.ts).
    rule: /no read is served stale/,
    deep: true,
  },
];

describe('the exploration catches broken rules (the simulator’s mutants)', { timeout: 600_000 }, () => {
  for (const { mutant, scope, options, rule, coveredByExploreTest, deep } of CASES) {
    it.runIf(deep !== true || process.env.EXPLORE_DEEP === '1')(`catches a node that ${mutant}, at depth ${options.depth} (${scope})`, () => {
      const machine: RaftNodeMachine = RULE_MUTANTS[mutant];
      const found = explore({ ...options, machine });
      expect(found.violation, 'a schedule that breaks a rule').toBeDefined();
      expect(`${found.violation?.rule}: ${found.violation?.detail}`).toMatch(rule);
      expect(found.depth, describeViolation(found)).toBe(options.depth);
      // The schedule printed replays to the same violation.
      const replayed = replaySchedule(found.violation?.actions ?? [], { ...options, machine });
      expect(replayed.violation?.rule).toBe(found.violation?.rule);
      expect(replayed.violation?.step).toBe(options.depth);
      if (coveredByExploreTest !== true) {
        const real = explore(options);
        expect(real.violation, describeViolation(real)).toBeUndefined();
      }
    });
  }
});
