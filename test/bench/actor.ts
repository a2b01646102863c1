/**
 * npm run bench:actor — events per second through one node actor, against a baseline: a trivial
 * XState machine whose only transition assigns a counter (the floor cost of actor.send).
 * Prints medians of 7 runs, all measured in this one process.
 */
import { assign, createActor, setup } from 'xstate';
import { raftNodeMachine } from '../../machines/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';

const N = 20_000;
const RUNS = 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function measure(label: string, setupRun: () => (i: number) => void): number {
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const step = setupRun();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) step(i);
    rates.push(N / ((performance.now() - t0) / 1000));
  }
  const m = median(rates);
  console.log(`${label.padEnd(58)} ${Math.round(m).toLocaleString('en-US').padStart(10)} events/s  (${(1e6 / m).toFixed(2)} µs/event)`);
  return m;
}

const counter = setup({ types: { events: {} as { type: 'inc' } } }).createMachine({
  context: { n: 0 },
  on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
});

console.log(`node ${process.version}, ${N} events per run, median of ${RUNS} runs`);
const baseline = measure('baseline: trivial machine, one assign per event', () => {
  const actor = createActor(counter).start();
  return () => actor.send({ type: 'inc' });
});

const follower = measure('follower: AppendEntries with 1 new entry (append + reply)', () => {
  const actor = createActor(raftNodeMachine, { input: { id: 'n2', peers: ['n1', 'n2', 'n3'] }, clock: new VirtualClock() }).start();
  actor.on('*', () => {});
  return (i) =>
    actor.send({
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 1,
      leaderId: 'n1',
      prevLogIndex: i,
      prevLogTerm: i === 0 ? 0 : 1,
      entries: [{ term: 1, index: i + 1, command: i }],
      leaderCommit: i,
      seq: 0,
    });
});

const heartbeat = measure('follower: heartbeat (empty AppendEntries)', () => {
  const actor = createActor(raftNodeMachine, { input: { id: 'n2', peers: ['n1', 'n2', 'n3'] }, clock: new VirtualClock() }).start();
  actor.on('*', () => {});
  return () => actor.send({ type: 'rpc.appendEntries', from: 'n1', term: 1, leaderId: 'n1', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, seq: 0 });
});

const leader = measure('leader: one client.propose + one ack (per pair of events)', () => {
  const actor = createActor(raftNodeMachine, { input: { id: 'n1', peers: ['n1', 'n2', 'n3'], preVote: false }, clock: new VirtualClock() }).start();
  actor.on('*', () => {});
  actor.send({ type: 'timeout.election' });
  actor.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true });
  return (i) => {
    actor.send({ type: 'client.propose', commands: [i] });
    actor.send({
      type: 'rpc.appendEntriesResult',
      from: 'n2',
      term: 1,
      requestTerm: 1,
      success: true,
      matchIndex: i + 2,
      rejectedIndex: 0,
      conflictTerm: 0,
      conflictIndex: 0,
      seq: 0,
    });
  };
});

console.log('');
console.log(
  `ratio to baseline: follower append ${(baseline / follower).toFixed(1)}×, heartbeat ${(baseline / heartbeat).toFixed(1)}×, leader propose+ack ${(baseline / leader).toFixed(1)}× the cost of a trivial event`,
);
