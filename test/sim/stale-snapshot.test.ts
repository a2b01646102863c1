/**
 * A stale InstallSnapshot — an older snapshot of the current leader, held back or duplicated by
 * the network — reaches a follower that already holds more: a newer snapshot, or a longer committed
 * log. Raft §7 (Figure 13) and issue 10: a follower installs a snapshot only if it is newer than
 * what it has; it never goes back. Its snapshotIndex, commitIndex, lastApplied and state-machine
 * contents must never decrease, and the cluster goes on agreeing. The simulation's SafetyChecker
 * checks every step; a monitor here checks the four figures after every step too; the randomized
 * run checks the clients' KV history for linearizability.
 *
 * The rule lives inside the machine's `receiveSnapshotChunk` action (a snapshot whose
 * lastIncludedIndex is at or below commitIndex changes nothing), not in a named guard, so the
 * mutant that breaks it replaces that action through `raftNodeMachine.provide({ actions })`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { enqueueActions } from 'xstate';
import { raftNodeMachine } from '../../machines/raft-node.js';
import { hardState } from '../../src/core/node.js';
import { acceptChunk } from '../../src/core/snapshot.js';
import type { InstallSnapshot, NodeId, RpcMessage } from '../../src/core/types.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { drain, KvWorkload } from '../../src/sim/kv-workload.js';
import { SafetyViolation } from '../../src/sim/safety.js';
import { Simulation } from '../../src/sim/simulation.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { awaitLeader, one, others } from './harness.js';

// ---------------------------------------------------------------- the network holds messages back

interface Held {
  from: NodeId;
  to: NodeId;
  message: RpcMessage;
}

/**
 * Messages the network holds back: while `hold` matches a message it is kept instead of sent;
 * `release` hands the kept ones to the network again, so they arrive late (after whatever was sent
 * meanwhile), as a delayed or duplicated copy would.
 */
function holdBack(sim: Simulation) {
  const network = sim.network;
  const send = network.send.bind(network);
  let rule: ((h: Held) => boolean) | undefined;
  const held: Held[] = [];
  network.send = (from, to, message) => {
    if (rule?.({ from, to, message })) held.push({ from, to, message });
    else send(from, to, message);
  };
  return {
    held,
    hold(match: ((h: Held) => boolean) | undefined): void {
      rule = match;
    },
    /** Deliver (late) every held message that `match`es, `copies` times each; keep the others. */
    release(match: (h: Held) => boolean, copies = 1): number {
      const out = held.filter(match);
      for (let i = held.length - 1; i >= 0; i--) if (match(held[i] as Held)) held.splice(i, 1);
      for (let c = 0; c < copies; c++) for (const h of out) send(h.from, h.to, h.message);
      return out.length;
    },
  };
}

const isSnapshotTo = (to: NodeId) => (h: Held) => h.to === to && h.message.type === 'rpc.installSnapshot';

// ---------------------------------------------------------------- nothing ever goes back

interface Figures {
  snapshotIndex: number;
  commitIndex: number;
  /** The runtime's (what the state machine holds) and the machine's (what it decided). */
  lastApplied: number;
  machineLastApplied: number;
  /** Entries in the node's state machine (sim.applied: those applied and those held from a snapshot). */
  contents: number;
}

/**
 * After every step (before the SafetyChecker's own checks, so both see a broken step), each running
 * node's snapshotIndex, commitIndex, lastApplied and state-machine contents must be at least what
 * they were (within one incarnation: a restart rebuilds volatile state from storage).
 */
function neverGoesBack(sim: Simulation) {
  const last = new Map<NodeId, Figures & { node: unknown }>();
  const regressions: string[] = [];
  const check = sim.checker.afterStep.bind(sim.checker);
  sim.checker.afterStep = (now, live) => {
    for (const id of sim.ids) {
      const node = live(id);
      if (node === undefined) continue;
      const s = node.status();
      const applied = sim.applied(id);
      const figures: Figures = {
        snapshotIndex: s.snapshotIndex,
        commitIndex: s.commitIndex,
        lastApplied: s.lastApplied,
        machineLastApplied: node.actor.getSnapshot().context.lastApplied,
        contents: applied.length,
      };
      const before = last.get(id);
      if (before !== undefined && before.node === node) {
        for (const key of ['snapshotIndex', 'commitIndex', 'lastApplied', 'machineLastApplied', 'contents'] as const) {
          if (figures[key] < before[key]) regressions.push(`${id}: ${key} went from ${before[key]} to ${figures[key]} (virtual time ${sim.now()} ms)`);
        }
      }
      last.set(id, { ...figures, node });
    }
    check(now, live);
  };
  return regressions;
}

/**
 * A KV state machine per node (the latest incarnation's), so the contents can be compared.
 * Simulation's default state machine snapshots `null`; the KV one snapshots its keys and dedup table.
 */
function kvCluster(seed: number, options: { machine?: typeof raftNodeMachine; snapshotThreshold?: number } = {}) {
  const kvs = new Map<NodeId, KvStateMachine>();
  const sim = new Simulation({
    nodes: 3,
    seed,
    replay: `npx vitest run test/sim/stale-snapshot.test.ts (seed ${seed})`,
    stateMachine: (id) => {
      const kv = new KvStateMachine();
      kvs.set(id, kv);
      return kv;
    },
    ...(options.machine ? { machine: options.machine } : {}),
    ...(options.snapshotThreshold !== undefined ? { snapshotThreshold: options.snapshotThreshold } : {}),
  });
  return { sim, kvs };
}

const put = (i: number) => ({ type: 'put', key: `k${i % 7}`, value: i });

function agree(sim: Simulation, from: number, n: number, expected: number): void {
  for (let i = from; i < from + n; i++) one(sim, put(i), expected);
}

/** Take a snapshot on `id` now and let it reach storage. */
function snapshotNow(sim: Simulation, id: NodeId): void {
  void sim.snapshot(id);
  sim.run(20);
}

// ---------------------------------------------------------------- the scenarios

/**
 * The follower F has a longer committed log than the snapshot that reaches it. F was away while
 * the leader L committed entries; on its return L brings it up to date with AppendEntries, but
 * F's acknowledgements are held back, so L, still probing F, compacts its log and starts sending F
 * its snapshot — held back too. Then F's acknowledgements arrive, L replicates on, F commits past
 * the snapshot, and only then do the InstallSnapshot copies arrive: each names an index F has long
 * committed and applied, from the leader of F's own term. Returns what the scenario saw.
 */
function staleAgainstCommittedLog(sim: Simulation) {
  const leader = awaitLeader(sim);
  const [f] = others(sim, leader) as [NodeId];
  const net = holdBack(sim);
  agree(sim, 0, 1, 3);
  sim.disconnect(f);
  agree(sim, 1, 20, 2);
  // F's successful AppendEntries replies are held back; everything else flows.
  net.hold((h) => h.from === f && h.to === leader && h.message.type === 'rpc.appendEntriesResult' && h.message.success);
  sim.connect(f);
  const caughtUp = sim.runUntil(() => (sim.status(f)?.commitIndex ?? 0) >= (sim.status(leader)?.commitIndex ?? 1), { timeout: 3000 });
  expect(caughtUp, 'F catches up through AppendEntries').toBe(true);
  expect(sim.status(f)?.snapshotIndex).toBe(0);
  // L compacts while it still thinks F is behind: what it sends F next is its snapshot (held back).
  net.hold((h) => (h.from === f && h.to === leader && h.message.type === 'rpc.appendEntriesResult' && h.message.success) || isSnapshotTo(f)(h));
  snapshotNow(sim, leader);
  const snapshotIndex = sim.status(leader)?.snapshotIndex ?? 0;
  expect(snapshotIndex, 'L compacted').toBeGreaterThan(20);
  sim.run(300);
  const staleCopies = net.held.filter(isSnapshotTo(f)).length;
  expect(staleCopies, 'L sent F its snapshot').toBeGreaterThan(0);
  // F's acknowledgements arrive late: L learns F holds everything, and replicates on.
  net.hold(isSnapshotTo(f));
  net.release((h) => h.message.type === 'rpc.appendEntriesResult');
  agree(sim, 21, 10, 3);
  const before = sim.status(f);
  expect(before?.commitIndex, 'F committed past the snapshot it is about to receive').toBeGreaterThan(snapshotIndex);
  expect(before?.snapshotIndex, 'F never needed a snapshot').toBeLessThan(snapshotIndex);
  // Now the InstallSnapshot copies arrive, twice over: from the leader of F's own term, so they
  // reach the follower's InstallSnapshot rule (not the stale-term refusal).
  expect(net.held.filter(isSnapshotTo(f)).map((h) => h.message.term)).toEqual(Array(staleCopies).fill(before?.term));
  net.hold(undefined);
  net.release(isSnapshotTo(f), 2);
  sim.run(300);
  return { leader, f, snapshotIndex, staleCopies, before };
}

describe('a stale InstallSnapshot never takes a follower back', () => {
  it("a snapshot older than the follower's committed log changes nothing, and the cluster goes on agreeing", () => {
    for (const seed of [301, 302, 303]) {
      const { sim, kvs } = kvCluster(seed);
      const regressions = neverGoesBack(sim);
      const { leader, f, before } = staleAgainstCommittedLog(sim);
      const after = sim.status(f);
      expect(after?.snapshotIndex, `seed ${seed}`).toBe(before?.snapshotIndex);
      expect(after?.commitIndex).toBeGreaterThanOrEqual(before?.commitIndex ?? Infinity);
      expect(after?.lastApplied).toBeGreaterThanOrEqual(before?.lastApplied ?? Infinity);
      expect(sim.leader()).toBe(leader);
      agree(sim, 31, 5, 3);
      sim.run(300);
      expect(regressions, `seed ${seed}`).toEqual([]);
      expect(sim.reportedErrors()).toEqual([]);
      const dumps = sim.ids.map((id) => JSON.stringify(kvs.get(id)?.dump()));
      expect(new Set(dumps).size, 'every node holds the same KV contents').toBe(1);
      sim.stop();
    }
  });

  it('a duplicate of an older snapshot arriving after a newer one was installed changes nothing', () => {
    for (const seed of [311, 312, 313]) {
      const { sim, kvs } = kvCluster(seed);
      const regressions = neverGoesBack(sim);
      const leader = awaitLeader(sim);
      const [f] = others(sim, leader) as [NodeId];
      const net = holdBack(sim);
      // Round 1: F away, L compacts, F installs snapshot 1 — and a copy of it is kept back.
      sim.disconnect(f);
      agree(sim, 0, 15, 2);
      snapshotNow(sim, leader);
      const first = sim.status(leader)?.snapshotIndex ?? 0;
      const kept: Held[] = [];
      net.hold((h) => {
        if (isSnapshotTo(f)(h)) kept.push(h);
        return false; // sent as well: the network will deliver the kept copy a second time, later
      });
      sim.connect(f);
      agree(sim, 15, 3, 3);
      expect(sim.status(f)?.snapshotIndex, `seed ${seed}: F installed snapshot 1`).toBe(first);
      expect(kept.length).toBeGreaterThan(0);
      // Round 2: again, F installs a newer snapshot.
      net.hold(undefined);
      sim.disconnect(f);
      agree(sim, 18, 15, 2);
      snapshotNow(sim, leader);
      const second = sim.status(leader)?.snapshotIndex ?? 0;
      sim.connect(f);
      agree(sim, 33, 3, 3);
      expect(sim.status(f)?.snapshotIndex, 'F installed snapshot 2').toBe(second);
      expect(second).toBeGreaterThan(first);
      // The duplicates of snapshot 1 arrive now, in F's own term.
      const before = sim.status(f);
      expect(kept.map((h) => h.message.term)).toEqual(Array(kept.length).fill(before?.term));
      for (const h of kept) sim.network.send(h.from, h.to, h.message);
      sim.run(300);
      expect(sim.status(f)?.snapshotIndex).toBe(before?.snapshotIndex);
      expect(sim.status(f)?.lastApplied).toBeGreaterThanOrEqual(before?.lastApplied ?? Infinity);
      agree(sim, 36, 5, 3);
      sim.run(300);
      expect(regressions).toEqual([]);
      expect(sim.reportedErrors()).toEqual([]);
      expect(new Set(sim.ids.map((id) => JSON.stringify(kvs.get(id)?.dump()))).size).toBe(1);
      sim.stop();
    }
  });

  describe('under a duplicating, reordering network with snapshots every 5 entries', () => {
    const original = MemoryTransport.prototype.receive;
    afterEach(() => {
      MemoryTransport.prototype.receive = original;
    });

    it("stale InstallSnapshots do arrive, nothing goes back, and the clients' KV history is linearizable", async () => {
      // Counts InstallSnapshot chunks that arrive at a follower which has already committed past them.
      let stale = 0;
      let current: Simulation | undefined;
      MemoryTransport.prototype.receive = function (this: MemoryTransport, message: RpcMessage) {
        if (message.type === 'rpc.installSnapshot' && current !== undefined) {
          const s = current.status(this.id);
          if (s !== undefined && s.term === message.term && message.lastIncludedIndex <= s.commitIndex) stale++;
        }
        original.call(this, message);
      };
      for (const seed of [321, 322]) {
        const { sim } = kvCluster(seed, { snapshotThreshold: 5 });
        current = sim;
        const regressions = neverGoesBack(sim);
        const workload = new KvWorkload(sim, seed * 131 + 3, { clients: 3 });
        const advance = async (ms: number) => {
          for (let t = 0; t < ms; t += 10) {
            sim.run(10);
            await drain();
          }
        };
        workload.start();
        // Now and then a follower is cut off long enough for the leader to compact past it; all
        // along, messages are duplicated and held back for 200–2000 ms.
        sim.setNetwork({ duplicate: 0.3, longReorder: 0.2, reorder: 0.3, delay: [1, 20] });
        for (let round = 0; round < 6; round++) {
          const leader = sim.leader();
          const away = leader === undefined ? undefined : sim.random.pick(others(sim, leader));
          if (away !== undefined) sim.disconnect(away);
          await advance(700);
          if (away !== undefined) sim.connect(away);
          await advance(700);
        }
        sim.setNetwork({ duplicate: 0, longReorder: 0, reorder: 0, delay: [1, 5] });
        let done = false;
        void workload.stop().then(() => (done = true));
        for (let waited = 0; !done && waited < 30_000; waited += 10) await advance(10);
        expect(done, `seed ${seed}: the clients finish`).toBe(true);
        await advance(2000);
        const leader = sim.leader() as NodeId;
        const target = sim.status(leader)?.lastApplied;
        for (const id of sim.ids) expect(sim.status(id)?.lastApplied, `seed ${seed} ${id}`).toBe(target);
        expect(regressions, `seed ${seed}`).toEqual([]);
        expect(workload.check().ok, `seed ${seed}: linearizable`).toBe(true);
        expect(sim.snapshots.installed, `seed ${seed}: InstallSnapshot happened`).toBeGreaterThan(0);
        sim.stop();
      }
      expect(stale, 'stale InstallSnapshot chunks reached followers').toBeGreaterThan(0);
    });
  });
});

// ---------------------------------------------------------------- the mutant

/**
 * The InstallSnapshot receiver as the real machine has it, except for the rule under test: it
 * installs a snapshot if it is newer than the follower's own snapshot, even when the follower has
 * already committed (and applied) past it — the plausible misreading of "install only if newer".
 */
const acceptsStaleSnapshots = raftNodeMachine.provide({
  actions: {
    receiveSnapshotChunk: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rpc.installSnapshot') return;
      const request: InstallSnapshot = event;
      const answer = (offset: number, installed: boolean) =>
        enqueue.emit({
          type: 'send',
          to: request.leaderId,
          message: {
            type: 'rpc.installSnapshotResult',
            from: context.id,
            term: context.currentTerm,
            requestTerm: request.term,
            lastIncludedIndex: request.lastIncludedIndex,
            offset,
            installed,
            seq: request.seq,
          },
        });
      if (request.lastIncludedIndex <= context.log.snapshotIndex) {
        answer(request.offset + request.data.length, true);
        return;
      }
      const outcome = acceptChunk(context.incomingSnapshot, request);
      if (outcome.kind !== 'complete') {
        answer(outcome.offset, false);
        enqueue.assign({ incomingSnapshot: outcome.incoming });
        return;
      }
      const { snapshot } = outcome;
      const installed = context.log.installSnapshot(snapshot.index, snapshot.term);
      enqueue.emit({ type: 'persist', hardState: hardState(context), snapshot, entries: [], ...(installed.discardedAfter ? { truncateFrom: snapshot.index + 1 } : {}) });
      enqueue.emit({ type: 'restore', snapshot });
      answer(snapshot.data.length, true);
      enqueue.assign({ log: installed.log, snapshot, incomingSnapshot: undefined, commitIndex: Math.max(context.commitIndex, snapshot.index), lastApplied: snapshot.index });
    }),
  },
});

describe('the checks catch a follower that installs a stale snapshot (mutant)', () => {
  it('the safety checker stops the run at the stale install, and the follower is seen going back', () => {
    const { sim } = kvCluster(301, { machine: acceptsStaleSnapshots });
    const regressions = neverGoesBack(sim);
    let violation: unknown;
    try {
      staleAgainstCommittedLog(sim);
    } catch (error) {
      violation = error;
    }
    expect(violation).toBeInstanceOf(SafetyViolation);
    expect((violation as SafetyViolation).rule).toBe('entries are applied in order, once');
    expect((violation as SafetyViolation).detail).toMatch(/restored a snapshot at \d+ after applying \d+/);
    expect(
      regressions.some((r) => /astApplied went from/.test(r)),
      regressions.join('\n'),
    ).toBe(true);
    sim.stop();
  });

  it('the real machine survives the same schedule (the mutant test is not vacuous)', () => {
    const { sim } = kvCluster(301);
    const regressions = neverGoesBack(sim);
    expect(() => staleAgainstCommittedLog(sim)).not.toThrow();
    expect(regressions).toEqual([]);
    sim.stop();
  });
});
