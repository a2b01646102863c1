/**
 * A schedule the explorer prints is a unit test: replaySchedule runs it step by step with every
 * check (replay.ts). Here: an election and a commit with the real machine, and the counterexample
 * the exploration found for a node that grants a second vote in a term, pasted as printed.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterAction } from './cluster.js';
import { RULE_MUTANTS } from '../model/mutants.js';
import { replaySchedule } from './replay.js';
import { AFTER_FIRST_TERM } from './starts.js';

const WITHOUT_PRE_VOTE = { input: { preVote: false, checkQuorum: false } } as const;

describe('replaying an explored schedule', () => {
  it('elects n1 and commits its first entry, breaking no rule', () => {
    const requestVote = { type: 'rpc.requestVote', from: 'n1', term: 1, candidateId: 'n1', lastLogIndex: 0, lastLogTerm: 0 } as const;
    const appendEntries = {
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 1,
      leaderId: 'n1',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ index: 1, term: 1, command: { type: 'raft.config', voters: ['n1', 'n2', 'n3'], learners: [] } }],
      leaderCommit: 0,
      seq: 0,
    } as const;
    const schedule: ClusterAction[] = [
      { type: 'timeout', node: 'n1', timer: 'raft.election' },
      { type: 'deliver', to: 'n2', message: requestVote },
      { type: 'deliver', to: 'n1', message: { type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true } },
      { type: 'deliver', to: 'n2', message: appendEntries },
      {
        type: 'deliver',
        to: 'n1',
        message: {
          type: 'rpc.appendEntriesResult',
          from: 'n2',
          term: 1,
          matchIndex: 1,
          rejectedIndex: 0,
          conflictTerm: 0,
          conflictIndex: 0,
          success: true,
          requestTerm: 1,
          seq: 0,
        },
      },
    ];
    const { state, violation } = replaySchedule(schedule, WITHOUT_PRE_VOTE);
    expect(violation).toBeUndefined();
    expect(state.nodes.n1?.snapshot.value).toBe('leader');
    expect(state.committed).toBe(1);
  });

  it('a node that grants a second vote in a term breaks "at most one vote per term" at step 4 (as explored: mutants.test.ts)', () => {
    // Printed by the exploration of the mutant from empty disks, pre-vote off, at depth 4.
    const schedule: ClusterAction[] = [
      { type: 'timeout', node: 'n1', timer: 'raft.election' },
      { type: 'drop', to: 'n2', message: { type: 'rpc.requestVote', from: 'n1', term: 1, candidateId: 'n1', lastLogIndex: 0, lastLogTerm: 0 } },
      { type: 'timeout', node: 'n2', timer: 'raft.election' },
      { type: 'deliver', to: 'n1', message: { type: 'rpc.requestVote', from: 'n2', term: 1, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 } },
    ];
    const mutant = replaySchedule(schedule, { ...WITHOUT_PRE_VOTE, machine: RULE_MUTANTS['grants a second vote in a term'] });
    expect(mutant.violation).toMatchObject({ rule: 'at most one vote per term', step: 4 });
    // The real machine refuses n2: it voted for itself in term 1.
    expect(replaySchedule(schedule, WITHOUT_PRE_VOTE).violation).toBeUndefined();
  });

  it('a leader that serves reads without confirming it still leads serves one stale at step 13 (found by EXPLORE_DEEP=1: mutants.test.ts)', () => {
    // n1 leads term 2 and commits its no-op; n2 is elected in term 3 by n3 and commits its own;
    // then n1, which has heard nothing of it, is asked a read.
    const schedule: ClusterAction[] = [
      { type: 'timeout', node: 'n1', timer: 'raft.election' },
      { type: 'deliver', to: 'n2', message: { type: 'rpc.requestVote', from: 'n1', term: 2, candidateId: 'n1', lastLogIndex: 1, lastLogTerm: 1 } },
      { type: 'deliver', to: 'n1', message: { type: 'rpc.requestVoteResult', from: 'n2', term: 2, voteGranted: true } },
      {
        type: 'deliver',
        to: 'n2',
        message: {
          type: 'rpc.appendEntries',
          from: 'n1',
          term: 2,
          leaderId: 'n1',
          prevLogIndex: 1,
          prevLogTerm: 1,
          entries: [{ term: 2, index: 2, command: { type: 'raft.noop' } }],
          leaderCommit: 0,
          seq: 0,
        },
      },
      {
        type: 'deliver',
        to: 'n1',
        message: {
          type: 'rpc.appendEntriesResult',
          from: 'n2',
          term: 2,
          matchIndex: 2,
          rejectedIndex: 0,
          conflictTerm: 0,
          conflictIndex: 0,
          success: true,
          requestTerm: 2,
          seq: 0,
        },
      },
      {
        type: 'deliver',
        to: 'n3',
        message: {
          type: 'rpc.appendEntries',
          from: 'n1',
          term: 2,
          leaderId: 'n1',
          prevLogIndex: 1,
          prevLogTerm: 1,
          entries: [{ term: 2, index: 2, command: { type: 'raft.noop' } }],
          leaderCommit: 0,
          seq: 0,
        },
      },
      {
        type: 'deliver',
        to: 'n1',
        message: {
          type: 'rpc.appendEntriesResult',
          from: 'n3',
          term: 2,
          matchIndex: 2,
          rejectedIndex: 0,
          conflictTerm: 0,
          conflictIndex: 0,
          success: true,
          requestTerm: 2,
          seq: 0,
        },
      },
      { type: 'timeout', node: 'n2', timer: 'raft.election' },
      { type: 'deliver', to: 'n3', message: { type: 'rpc.requestVote', from: 'n2', term: 3, candidateId: 'n2', lastLogIndex: 2, lastLogTerm: 2 } },
      { type: 'deliver', to: 'n2', message: { type: 'rpc.requestVoteResult', from: 'n3', term: 3, voteGranted: true } },
      {
        type: 'deliver',
        to: 'n3',
        message: {
          type: 'rpc.appendEntries',
          from: 'n2',
          term: 3,
          leaderId: 'n2',
          prevLogIndex: 2,
          prevLogTerm: 2,
          entries: [{ term: 3, index: 3, command: { type: 'raft.noop' } }],
          leaderCommit: 0,
          seq: 0,
        },
      },
      {
        type: 'deliver',
        to: 'n2',
        message: {
          type: 'rpc.appendEntriesResult',
          from: 'n3',
          term: 3,
          matchIndex: 3,
          rejectedIndex: 0,
          conflictTerm: 0,
          conflictIndex: 0,
          success: true,
          requestTerm: 3,
          seq: 0,
        },
      },
      { type: 'read', node: 'n1' },
    ];
    const setup = { ...WITHOUT_PRE_VOTE, disks: AFTER_FIRST_TERM };
    const mutant = replaySchedule(schedule, { ...setup, machine: RULE_MUTANTS['serves reads without confirming it still leads'] });
    expect(mutant.violation).toMatchObject({ rule: 'no read is served stale', step: 13 });
    expect(mutant.violation?.detail).toBe('n1 served read r1 at index 2, but index 3 was committed when it was asked');
    // The real machine only starts a confirmation round, which n2 and n3 (in term 3 now) never confirm.
    const real = replaySchedule(schedule, setup);
    expect(real.violation).toBeUndefined();
    expect(real.state.readFloors).toEqual({ r1: 3 });
  });
});
