/**
 * The machine on a real actor with a virtual clock, for the machine-*.test.ts rule tests: a node
 * (n1 of n1–n3 by default; election timeout 100 ms, heartbeat 20 ms, no pre-vote) whose emitted
 * effects are collected in order.
 */
import { createActor } from 'xstate';
import { raftNodeMachine, type RaftEffect, type RaftNodeInput } from '../../machines/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';

export function node(input: Partial<RaftNodeInput> = {}) {
  const clock = new VirtualClock();
  const effects: RaftEffect[] = [];
  const actor = createActor(raftNodeMachine, {
    input: { id: 'n1', peers: ['n1', 'n2', 'n3'], electionTimeout: [100, 100], heartbeatInterval: 20, preVote: false, ...input },
    clock,
  });
  actor.on('*', (effect) => effects.push(effect as RaftEffect));
  actor.start();
  const context = () => actor.getSnapshot().context;
  /** What the node did in reaction to the events since the last call (and forget it). */
  const drain = () => effects.splice(0, effects.length);
  return { actor, clock, effects, drain, context, role: () => actor.getSnapshot().value, status: () => actor.getSnapshot().status };
}
