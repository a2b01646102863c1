/**
 * The leader's write in parallel with replication (issue 13; Raft thesis §10.2.1; the top of
 * src/runtime/raft-node.ts). A leader's batch that only appends to its log sends its
 * AppendEntries first and is written on the next turn; everything else keeps the durability
 * order. Checked on every message and every apply of three nodes, through elections, a stream of
 * proposals and crashes of the leader in the window between its messages and its write:
 *
 * - a leader does send entries it has not written yet (the parallel path is taken);
 * - no message tells anyone an index is committed (leaderCommit) unless a majority of the voters
 *   hold that entry on disk, and no node applies an entry before that either;
 * - a follower acknowledges entries (matchIndex M) only once it holds them through M on disk;
 * - a vote is granted, and a RequestVote sent, only once that term and vote are on disk;
 * - every proposal answered as committed is in every node's log at the end, at its index.
 */
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../src/core/random.js';
import type { LogEntry, LogIndex, NodeId, RpcMessage, Term } from '../../src/core/types.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { BackgroundMemoryStorage } from '../../src/sim/background-storage.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { MemoryNetwork } from '../../src/transport/memory.js';

const IDS = ['n1', 'n2', 'n3'];
const TIMING = { electionTimeout: [300, 600] as const, heartbeatInterval: 100 };

/** The term of `index` in what `storage` holds on disk (the snapshot's for its own index), or undefined. */
function durableTerm(storage: MemoryStorage, index: LogIndex): Term | undefined {
  const { snapshot, entries } = storage.load();
  if (snapshot !== undefined && index <= snapshot.index) return index === snapshot.index ? snapshot.term : -1;
  return entries.find((entry) => entry.index === index)?.term;
}

function durableLast(storage: MemoryStorage): LogIndex {
  const { snapshot, entries } = storage.load();
  return entries.at(-1)?.index ?? snapshot?.index ?? 0;
}

/**
 * `background`: every node on a disk that writes in the background (BackgroundMemoryStorage, the
 * writer thread's stand-in), each group's write taking 2–20 virtual ms; a crash drops what it had
 * not written yet.
 */
async function run(seed: number, crashes: number, background = false) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  // What each node's disk holds (the background storage's `disk`).
  const storages = new Map(IDS.map((id) => [id, new MemoryStorage()]));
  const delays = new SeededRandom(seed + 100);
  const writers = new Map<NodeId, BackgroundMemoryStorage>();
  const nodes = new Map<NodeId, RaftNode>();
  const violations: string[] = [];
  let sentBeforeWritten = 0;
  const logOf = (id: NodeId) => nodes.get(id)?.log() ?? [];

  /** A majority of the voters hold `index` with the term the sender's log has there. */
  const majorityHolds = (from: NodeId, index: LogIndex): boolean => {
    if (index === 0) return true;
    const term = logOf(from).find((e) => e.index === index)?.term;
    const holders = IDS.filter((id) => {
      const t = durableTerm(storages.get(id) as MemoryStorage, index);
      return t === -1 || (t !== undefined && t === term);
    });
    return holders.length * 2 > IDS.length;
  };

  const boot = (id: NodeId, random: number) => {
    const storage = storages.get(id) as MemoryStorage;
    const writer = background ? new BackgroundMemoryStorage(clock, () => delays.int(2, 20), storage) : undefined;
    if (writer !== undefined) writers.set(id, writer);
    const transport = network.transport(id);
    const send = transport.send.bind(transport);
    transport.send = (to: NodeId, message: RpcMessage) => {
      const hard = storage.load().hardState;
      switch (message.type) {
        case 'rpc.appendEntries':
          if (message.entries.some((e: LogEntry) => durableTerm(storage, e.index) !== e.term)) sentBeforeWritten++;
          if (!majorityHolds(id, message.leaderCommit)) violations.push(`${id} sent leaderCommit ${message.leaderCommit} before a majority wrote it`);
          break;
        case 'rpc.appendEntriesResult':
          if (message.success && durableLast(storage) < message.matchIndex) violations.push(`${id} acknowledged ${message.matchIndex} holding ${durableLast(storage)} on disk`);
          break;
        case 'rpc.requestVoteResult':
          if (message.voteGranted && message.preVote !== true && (hard.currentTerm !== message.term || hard.votedFor !== to)) {
            violations.push(`${id} granted its vote in term ${message.term} to ${to} before writing it`);
          }
          break;
        case 'rpc.requestVote':
          if (message.preVote !== true && (hard.currentTerm !== message.term || hard.votedFor !== id))
            violations.push(`${id} asked for votes in term ${message.term} before writing its own`);
          break;
      }
      send(to, message);
    };
    const node = createRaftNode({
      id,
      peers: IDS,
      transport,
      storage: writer ?? storage,
      clock,
      random,
      ...TIMING,
      stateMachine: {
        apply: (command, entry: LogEntry) => {
          if (durableTerm(storage, entry.index) !== entry.term) violations.push(`${id} applied ${entry.index} before writing it`);
          if (!majorityHolds(id, entry.index)) violations.push(`${id} applied ${entry.index} before a majority wrote it`);
          return command;
        },
        query: () => undefined,
      },
    });
    nodes.set(id, node);
  };
  IDS.forEach((id, i) => boot(id, seed * 10 + i));

  const leader = () => [...nodes.values()].find((n) => n.status().role === 'leader');
  const acknowledged = new Map<LogIndex, unknown>();
  let crashed = 0;
  for (let round = 0; round < 200; round++) {
    const current = leader();
    if (current !== undefined) {
      for (let k = 0; k < 3; k++) {
        const command = { round, k };
        current.propose(command).then(
          (result) => acknowledged.set(result.index, command),
          () => undefined,
        );
      }
    }
    // One timer at a time, so a crash can land between a leader's messages and its write.
    for (let step = 0; step < 40; step++) {
      const before = sentBeforeWritten;
      // In the background: more proposals while the writes of the first are pending — at step 3,
      // and when the leader has counted itself toward a commit its own disk does not hold yet
      // (the window in which its next AppendEntries must wait for that write).
      const window = current !== undefined && current.status().commitIndex > durableLast(storages.get(current.id) as MemoryStorage);
      if (background && (step === 3 || window) && current !== undefined && current.status().role === 'leader') {
        const command = { round, k: 3 };
        current.propose(command).then(
          (result) => acknowledged.set(result.index, command),
          () => undefined,
        );
      }
      clock.step();
      if (crashed < crashes && current !== undefined && sentBeforeWritten > before && current.status().role === 'leader' && round % 20 === 10) {
        current.stop();
        writers.get(current.id)?.crash();
        const id = current.id;
        nodes.delete(id);
        crashed++;
        clock.advance(50);
        boot(id, seed * 10 + 5 + crashed);
        break;
      }
    }
    clock.advance(5);
    // Let the answers' promise callbacks run.
    await new Promise((resolve) => setImmediate(resolve));
  }
  clock.advance(3000);
  return { nodes, violations, sentBeforeWritten, acknowledged, crashed, logOf, writers };
}

describe("the leader's write in parallel with replication", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: the leader sends before it writes; nothing is acknowledged, committed, told or applied before a majority's disks hold it; every answered proposal survives the leader's crash in that window`, async () => {
      const { nodes, violations, sentBeforeWritten, acknowledged, crashed, logOf } = await run(seed, 3);
      expect(violations).toEqual([]);
      expect(sentBeforeWritten).toBeGreaterThan(0);
      expect(crashed).toBeGreaterThan(0);
      expect(acknowledged.size).toBeGreaterThan(100);
      for (const id of IDS) {
        const log = new Map(logOf(id).map((e) => [e.index, e.command]));
        for (const [index, command] of acknowledged) expect(log.get(index), `${id} at ${index}`).toEqual(command);
      }
      for (const node of nodes.values()) node.stop();
    });
  }
});

describe('on a storage that writes in the background (Storage.submit: the SQLite writer thread)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: writes of 2–20 ms group what queued meanwhile; nothing is sent, acknowledged, told or applied before its write (and a majority's, for a commit); every answered proposal survives a crash that drops unwritten batches`, async () => {
      const { nodes, violations, sentBeforeWritten, acknowledged, crashed, logOf, writers } = await run(seed, 3, true);
      expect(violations).toEqual([]);
      expect(sentBeforeWritten).toBeGreaterThan(0);
      expect(crashed).toBeGreaterThan(0);
      expect(acknowledged.size).toBeGreaterThan(100);
      // The writer did group batches (fewer fsyncs than batches).
      const groups = [...writers.values()].reduce((n, w) => n + w.groups, 0);
      const batches = [...writers.values()].reduce((n, w) => n + w.batches, 0);
      expect(batches).toBeGreaterThan(groups);
      for (const id of IDS) {
        const log = new Map(logOf(id).map((e) => [e.index, e.command]));
        for (const [index, command] of acknowledged) expect(log.get(index), `${id} at ${index}`).toEqual(command);
      }
      for (const node of nodes.values()) node.stop();
    });
  }
});

describe('a clean stop on a storage that writes in the background', () => {
  it('stop({ flush: true }) waits for every submitted write and performs it: the last entry is on disk and its messages left', () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock);
    const disks = new Map(IDS.map((id) => [id, new MemoryStorage()]));
    /** Indexes of the entries each node has sent in AppendEntries. */
    const sentEntries = new Map<NodeId, LogIndex[]>(IDS.map((id) => [id, []]));
    const nodes = IDS.map((id, i) => {
      const transport = network.transport(id);
      const send = transport.send.bind(transport);
      transport.send = (to: NodeId, message: RpcMessage) => {
        if (message.type === 'rpc.appendEntries') sentEntries.get(id)?.push(...message.entries.map((e: LogEntry) => e.index));
        send(to, message);
      };
      return createRaftNode({
        id,
        peers: IDS,
        transport,
        storage: new BackgroundMemoryStorage(clock, () => 50, disks.get(id) as MemoryStorage),
        clock,
        random: i + 1,
        stateMachine: { apply: (c) => c, query: () => undefined },
      });
    });
    clock.advance(3000);
    const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
    const first = leader.submit({ first: true });
    clock.advance(1); // its write (50 ms) is pending
    const last = leader.submit({ last: true });
    expect(last.index).toBe(first.index + 1);
    expect(durableLast(disks.get(leader.id) as MemoryStorage)).toBeLessThan(first.index);
    leader.stop({ flush: true });
    expect(durableLast(disks.get(leader.id) as MemoryStorage)).toBe(last.index);
    // The batch that waited behind the pending write was performed: its AppendEntries left.
    expect(sentEntries.get(leader.id)).toContain(last.index);
    for (const n of nodes) n.stop();
  });
});

describe('when the parallel write does not apply', () => {
  /** n1 the only voter, n2 its learner; every AppendEntries n1 sends is checked against n1's own disk. */
  function singleVoter() {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock);
    const storages = { n1: new MemoryStorage(), n2: new MemoryStorage() };
    const violations: string[] = [];
    const errors: string[] = [];
    const boot = (id: 'n1' | 'n2', random: number): RaftNode => {
      const storage = storages[id];
      const transport = network.transport(id);
      const send = transport.send.bind(transport);
      transport.send = (to: NodeId, message: RpcMessage) => {
        // One voter: it alone is the majority, so it must hold what it says is committed.
        if (message.type === 'rpc.appendEntries' && durableLast(storage) < message.leaderCommit) {
          violations.push(`${id} sent leaderCommit ${message.leaderCommit} holding ${durableLast(storage)} on disk`);
        }
        send(to, message);
      };
      return createRaftNode({
        id,
        peers: id === 'n1' ? ['n1'] : [],
        ...(id === 'n2' ? { join: true } : {}),
        transport,
        storage,
        clock,
        random,
        ...TIMING,
        onError: (error) => errors.push(`${id}: ${(error as Error).message}`),
        stateMachine: { apply: (command) => command, query: () => undefined },
      });
    };
    return { clock, storages, violations, errors, boot };
  }

  it('a leader that is the only voter (with a learner) commits its entries at once: it writes them before it says so, and a crash loses nothing the learner applied', async () => {
    const { clock, storages, violations, errors, boot } = singleVoter();
    let n1 = boot('n1', 1);
    const n2 = boot('n2', 2);
    clock.advance(2000);
    const added = n1.addLearner('n2');
    clock.advance(1000);
    await added;
    const answered = n1.propose({ x: 1 }).then(
      () => true,
      () => false,
    );
    for (let i = 0; i < 50; i++) clock.step();
    n1.stop(); // wherever the proposal got to
    clock.advance(100);
    n1 = boot('n1', 7);
    clock.advance(3000);
    await answered;
    expect(violations).toEqual([]);
    expect(errors).toEqual([]);
    expect(n2.log().map((e) => [e.index, e.term])).toEqual(
      n1
        .log()
        .map((e) => [e.index, e.term])
        .slice(0, n2.log().length),
    );
    expect(durableLast(storages.n1)).toBeGreaterThanOrEqual(n2.status().commitIndex);
    n1.stop();
    n2.stop();
  });

  it('stop({ flush: true }) on a leader writes the batch it finishes: the entry it just sent is on its disk', () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock);
    const storages = new Map(IDS.map((id) => [id, new MemoryStorage()]));
    const nodes = IDS.map((id, i) =>
      createRaftNode({
        id,
        peers: IDS,
        transport: network.transport(id),
        storage: storages.get(id) as MemoryStorage,
        clock,
        random: i + 1,
        stateMachine: { apply: (c) => c, query: () => undefined },
      }),
    );
    clock.advance(3000);
    const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
    const { index } = leader.submit({ last: true });
    leader.stop({ flush: true });
    expect(durableLast(storages.get(leader.id) as MemoryStorage)).toBe(index);
    for (const n of nodes) n.stop();
  });
});
