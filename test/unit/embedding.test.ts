/**
 * The README's embedding example, run: an agent's own XState machine invokes a raftNodeMachine,
 * wires its effects to an in-process bus, and reacts to leaderChanged and apply. (Memory only:
 * for durable nodes use createRaftNode, which performs persist before send.) The README's block
 * itself is run by test/readme; this copy also checks that XState warns about nothing.
 */
import { describe, expect, it, vi } from 'vitest';
// --- README example (keep in sync) ---------------------------------------------------------
import { assign, createActor, sendTo, setup, type AnyActorRef } from 'xstate';
import { raftNodeMachine, type RaftEffect } from '../../src/index.js';

const bus = new Map<string, AnyActorRef>(); // node id → that agent's raft child

const agentMachine = setup({
  types: {
    input: {} as { id: string; peers: string[] },
    context: {} as { id: string; peers: string[]; coordinator: string | null; decisions: unknown[] },
    events: {} as { type: 'raft.leader'; leaderId: string | null } | { type: 'raft.applied'; commands: unknown[] } | { type: 'decide'; what: string },
  },
  actors: { raft: raftNodeMachine },
}).createMachine({
  context: ({ input }) => ({ ...input, coordinator: null, decisions: [] }),
  invoke: { id: 'raft', src: 'raft', input: ({ context }) => ({ id: context.id, peers: context.peers, seed: context.id.length * 7 + context.id.charCodeAt(1) }) },
  entry: ({ self, context }) => {
    const raft = self.getSnapshot().children.raft as AnyActorRef;
    bus.set(context.id, raft);
    raft.on('send', (e: Extract<RaftEffect, { type: 'send' }>) => bus.get(e.to)?.send(e.message));
    raft.on('leaderChanged', (e: Extract<RaftEffect, { type: 'leaderChanged' }>) => self.send({ type: 'raft.leader', leaderId: e.leaderId }));
    raft.on('apply', (e: Extract<RaftEffect, { type: 'apply' }>) =>
      self.send({ type: 'raft.applied', commands: e.entries.map((entry) => entry.command).filter((c) => typeof c === 'string') }),
    );
  },
  on: {
    'raft.leader': { actions: assign({ coordinator: ({ event }) => event.leaderId }) },
    'raft.applied': { actions: assign({ decisions: ({ context, event }) => [...context.decisions, ...event.commands] }) },
    // Only the coordinator proposes; the others hear every decision through `apply`.
    // sendTo, not a custom action calling send(): the raft child would then run its own actions
    // inside ours, and XState (development build) warns about each assign/emit/raise it makes.
    decide: {
      guard: ({ context }) => context.coordinator === context.id,
      actions: sendTo('raft', ({ event }) => ({ type: 'client.propose', commands: [event.what] })),
    },
  },
});

const peers = ['a1', 'a2', 'a3'];
const agents = peers.map((id) => createActor(agentMachine, { input: { id, peers } }).start());
// --- end of README example --------------------------------------------------------------------

describe('embedding raftNodeMachine in an agent machine (README example)', () => {
  it('the agents agree on a coordinator and on the decisions it makes', async () => {
    const warn = vi.spyOn(console, 'warn');
    await expect.poll(() => agents.every((a) => a.getSnapshot().context.coordinator !== null), { timeout: 5000, interval: 50 }).toBe(true);
    const coordinator = agents[0]?.getSnapshot().context.coordinator;
    for (const a of agents) expect(a.getSnapshot().context.coordinator).toBe(coordinator);
    for (const a of agents) a.send({ type: 'decide', what: 'ship it' });
    await expect.poll(() => agents.every((a) => a.getSnapshot().context.decisions.includes('ship it')), { timeout: 5000, interval: 50 }).toBe(true);
    for (const a of agents) expect(a.getSnapshot().context.decisions).toEqual(['ship it']);
    for (const a of agents) a.stop();
    // vitest resolves xstate's development build, which warns when a custom action runs builtins.
    expect(warn.mock.calls.map((args) => String(args[0]))).toEqual([]);
    warn.mockRestore();
  });
});
