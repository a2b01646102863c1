/**
 * Inspection: every node of a cluster is inspectable when an inspector is given, what the inspector
 * sees is sanitized (a log summary, never the whole log), and nothing is inspected without one.
 */
import { createServer } from 'node:net';
import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { afterEach, describe, expect, it } from 'vitest';
import type { Actor, AnyStateMachine } from 'xstate';
import { initialContext } from '../../machines/raft-node.js';
import { SeededRandom } from '../../src/core/random.js';
import type { LogEntry, NodeId } from '../../src/core/types.js';
import {
  createCapturingInspector,
  createInspector,
  LOG_TAIL,
  sanitizeContext,
  sanitizeEvent,
  sanitizeSnapshot,
  startInspectorServer,
  type InspectObserver,
} from '../../src/inspect/inspect.js';
import { systemClock, type Clock } from '../../src/runtime/clock.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { MemoryNetwork } from '../../src/transport/memory.js';

const IDS: readonly NodeId[] = ['n1', 'n2', 'n3'];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A 3-node cluster of real RaftNodes on the in-memory network, like Simulation's, with `inspect`. */
function cluster(clock: Clock, inspect?: InspectObserver): RaftNode[] {
  const network = new MemoryNetwork(clock, new SeededRandom(7));
  const nodes = IDS.map((id, i) =>
    createRaftNode({
      id,
      peers: IDS,
      transport: network.transport(id),
      storage: new MemoryStorage(),
      stateMachine: { apply: (command: unknown) => command, query: () => undefined },
      clock,
      random: 100 + i,
      electionTimeout: [50, 100],
      heartbeatInterval: 20,
      ...(inspect !== undefined ? { inspect } : {}),
    }),
  );
  cleanups.push(() => nodes.forEach((node) => node.stop()));
  return nodes;
}

/** Elect a leader and commit `count` commands on every node, in virtual time. */
function elect(clock: VirtualClock, nodes: RaftNode[], count: number): RaftNode {
  const until = (ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) clock.advance(20);
    expect(ok()).toBe(true);
  };
  until(() => nodes.some((n) => n.status().role === 'leader'));
  const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
  for (let i = 0; i < count; i++) leader.submit({ op: 'put', key: `cmd-${i}`, value: i });
  const last = leader.status().lastLogIndex;
  until(() => nodes.every((n) => n.status().lastApplied === last));
  return leader;
}

/** Every array anywhere in `value` (to prove no log-sized array reaches the inspector). */
function arrays(value: unknown): unknown[][] {
  if (Array.isArray(value)) return [value, ...value.flatMap(arrays)];
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(arrays);
  return [];
}

function isLogSummary(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).sort().join() === 'lastIndex,lastTerm,length,tail';
}

/** A summary of a log (or a batch) holds exactly its last LOG_TAIL entries (fewer if it is shorter), in order. */
function expectTailOnly(summary: unknown): void {
  expect(isLogSummary(summary), JSON.stringify(summary)).toBe(true);
  const { length, lastIndex, tail } = summary as { length: number; lastIndex: number; tail: LogEntry[] };
  const first = lastIndex - Math.min(length, LOG_TAIL) + 1;
  expect(tail.map((entry) => entry.index)).toEqual(Array.from({ length: lastIndex - first + 1 }, (_, i) => first + i));
}

describe('inspection of a cluster, captured in process', () => {
  it('produces actor, event, snapshot and microstep events for every node when an inspector is given', () => {
    const clock = new VirtualClock();
    const capture = createCapturingInspector();
    const nodes = cluster(clock, capture.inspect);
    elect(clock, nodes, 3);
    const sessions = new Set(nodes.map((n) => n.actor.sessionId));
    expect(
      capture.events
        .filter((e) => e.type === '@xstate.actor')
        .map((e) => e.sessionId)
        .sort(),
    ).toEqual([...sessions].sort());
    for (const node of nodes) {
      const own = capture.events.filter((e) => e.sessionId === node.actor.sessionId);
      expect(new Set(own.map((e) => e.type))).toEqual(new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot', '@xstate.microstep']));
      expect(own.filter((e) => e.type === '@xstate.snapshot').every((e) => e.nodeId === node.id)).toBe(true);
      // The RPCs it received and the transitions it took are there, by chart transition id.
      expect(own.some((e) => e.type === '@xstate.event' && e.event?.type.startsWith('rpc.'))).toBe(true);
      expect(own.flatMap((e) => e.transitions ?? []).length).toBeGreaterThan(0);
    }
    const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
    const taken = capture.events.filter((e) => e.nodeId === leader.id).flatMap((e) => e.transitions ?? []);
    expect(taken).toContain('candidate:always:0'); // candidate → leader on a vote quorum
  });

  it('passes sanitized snapshots and events: the log as length, last index and term, and a tail', () => {
    const clock = new VirtualClock();
    const capture = createCapturingInspector();
    const nodes = cluster(clock, capture.inspect);
    const leader = elect(clock, nodes, 40);
    const snapshots = capture.events.filter((e) => e.snapshot !== undefined);
    expect(snapshots.length).toBeGreaterThan(0);
    for (const e of snapshots) {
      expectTailOnly((e.snapshot?.context as { log: unknown }).log);
      for (const a of arrays(e.snapshot)) expect(a.length).toBeLessThanOrEqual(16);
    }
    // The latest snapshot of the leader summarizes its whole log: 40 commands after the no-op.
    const last = snapshots.filter((e) => e.nodeId === leader.id).at(-1);
    const log = (last?.snapshot?.context as { log: { length: number; lastIndex: number; lastTerm: number; tail: LogEntry[] } }).log;
    expect(log).toMatchObject({ length: 41, lastIndex: 41, lastTerm: leader.status().term });
    expect(log.tail.map((entry) => entry.index)).toEqual([37, 38, 39, 40, 41]);
    // AppendEntries carried batches: the inspector saw summaries, not the entries.
    const appends = capture.events.filter((e) => e.type === '@xstate.event' && e.event?.type === 'rpc.appendEntries');
    expect(appends.length).toBeGreaterThan(0);
    for (const e of appends) expectTailOnly((e.event as { entries?: unknown }).entries);
  });

  it('inspects nothing without an inspector: the actors get no inspection hook', () => {
    const clock = new VirtualClock();
    const capture = createCapturingInspector();
    const nodes = cluster(clock);
    elect(clock, nodes, 3);
    // RaftNode passes `inspect` to createActor only when given one.
    for (const node of nodes) expect((node.actor as unknown as Actor<AnyStateMachine>).options.inspect).toBeUndefined();
    expect(capture.events).toEqual([]);
  });

  it('keeps at most `limit` events, and only the types asked for', () => {
    const clock = new VirtualClock();
    const capture = createCapturingInspector({ types: ['@xstate.snapshot'], limit: 10 });
    elect(clock, cluster(clock, capture.inspect), 3);
    expect(capture.events).toHaveLength(10);
    expect(capture.events.every((e) => e.type === '@xstate.snapshot')).toBe(true);
    capture.clear();
    expect(capture.events).toEqual([]);
  });
});

describe('sanitizing for inspection', () => {
  const entries = (n: number, command = (i: number): unknown => ({ op: 'put', key: `k${i}` })): LogEntry[] =>
    Array.from({ length: n }, (_, i) => ({ term: 1 + Math.floor(i / 1000), index: i + 1, command: command(i) }));
  const context = initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'], persisted: { currentTerm: 10, votedFor: 'n1', log: entries(10_000) } });

  it('summarizes a 10 000-entry log as length, last index and term and the last 5 entries', () => {
    const sanitized = sanitizeContext(context) as Record<string, unknown>;
    expect(sanitized.log).toEqual({ length: 10_000, lastIndex: 10_000, lastTerm: 10, tail: entries(10_000).slice(-5) });
    expect(sanitized).toMatchObject({ id: 'n1', currentTerm: 10, votedFor: 'n1', peers: ['n2', 'n3'], commitIndex: 0 });
    expect(JSON.stringify(sanitized).length).toBeLessThan(2000);
    expect(context.log.length).toBe(10_000); // the input is untouched
  });

  it('is idempotent', () => {
    const once = sanitizeContext(context);
    expect(sanitizeContext(once)).toEqual(once);
    const snapshot = sanitizeSnapshot({ status: 'active', value: 'leader', context, children: {}, machine: {} });
    expect(sanitizeSnapshot(snapshot)).toEqual(snapshot);
    expect(Object.keys(snapshot)).toEqual(['status', 'value', 'context']);
  });

  it('summarizes an AppendEntries batch and other long arrays, and cuts long commands and strings', () => {
    const append = {
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 3,
      leaderId: 'n1',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: entries(300, (i) => (i === 299 ? 'x'.repeat(10_000) : i)),
      leaderCommit: 0,
      seq: 0,
    };
    const sanitized = sanitizeEvent(append) as unknown as { entries: { length: number; lastIndex: number; tail: { command: unknown }[] } };
    expect(sanitized.entries).toMatchObject({ length: 300, lastIndex: 300, lastTerm: 1 });
    expect(sanitized.entries.tail.map((e) => e.command).slice(0, 4)).toEqual([295, 296, 297, 298]);
    expect(sanitized.entries.tail[4]?.command).toMatchObject({ chars: 10_002 });
    expect(JSON.stringify(sanitized).length).toBeLessThan(1200);
    expect(sanitizeEvent(sanitized as never)).toEqual(sanitized);

    const propose = sanitizeEvent({ type: 'client.propose', commands: Array.from({ length: 100 }, (_, i) => i), requestId: 'p1' });
    expect(propose).toEqual({ type: 'client.propose', commands: { length: 100, tail: [95, 96, 97, 98, 99] }, requestId: 'p1' });
    expect(sanitizeEvent({ type: 'client.read', requestIds: ['r1', 'r2'] })).toEqual({ type: 'client.read', requestIds: ['r1', 'r2'] });
    expect((sanitizeEvent({ type: 'note', text: 'y'.repeat(1000) }) as { text: string }).text.length).toBeLessThanOrEqual(256);
  });
});

describe('the Stately inspector over WebSocket', () => {
  it("sends every node's sanitized events to a local inspector server, named by node", async () => {
    const port = await freePort();
    const server = await startInspectorServer({ port });
    cleanups.push(() => server.stop());
    expect(server).toMatchObject({ pageUrl: `http://localhost:${port}`, wsUrl: `ws://localhost:${port}` });
    // The receiver stands for the inspector page: the server relays to it what the nodes send.
    const received: StatelyInspectionEvent[] = [];
    createWebSocketReceiver({ server: server.wsUrl }).subscribe((event) => void received.push(event));
    await waitFor(() => true, 200);
    const inspector = createInspector({ url: server.wsUrl });
    cleanups.push(() => inspector.stop());
    const nodes = cluster(systemClock, inspector.inspect);
    await waitFor(() => nodes.some((n) => n.status().role === 'leader'), 5000);
    const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
    for (let i = 0; i < 8; i++) leader.submit({ op: 'put', key: `cmd-${i}` });
    const ok = await waitFor(
      () =>
        IDS.every((id) => received.some((e) => e.type === '@xstate.actor' && e.name === id)) &&
        received.some((e) => e.type === '@xstate.snapshot' && contextOf(e)?.log?.length === 9),
      5000,
    );
    expect(ok, `received ${received.length} events`).toBe(true);
    expect(inspector.state).toBe('open');
    // Each node is its own session, prefixed with its id (session ids restart in every process).
    for (const id of IDS) expect(received.some((e) => e.sessionId.startsWith(`${id}/x:`))).toBe(true);
    const snapshots = received.filter((e) => e.type !== '@xstate.event');
    expect(snapshots.length).toBeGreaterThan(0);
    for (const e of snapshots) expectTailOnly(contextOf(e)?.log);
    for (const e of received) if (e.type !== '@xstate.actor' && e.event.type === 'rpc.appendEntries') expectTailOnly(e.event.entries);
    inspector.stop();
    expect(inspector.state).toBe('stopped');
  });

  it('retries an unreachable server, says so once, and stops retrying on stop()', async () => {
    const port = await freePort();
    const errors: Error[] = [];
    const inspector = createInspector({ url: `ws://127.0.0.1:${port}`, reconnectDelay: 20, onError: (e) => errors.push(e) });
    cleanups.push(() => inspector.stop());
    expect(await waitFor(() => inspector.attempts >= 3, 3000)).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain(`ws://127.0.0.1:${port}`);
    // Events while disconnected are accepted (and held, up to maxDeferredEvents).
    const clock = new VirtualClock();
    elect(clock, cluster(clock, inspector.inspect), 1);
    inspector.stop();
    const attempts = inspector.attempts;
    await waitFor(() => false, 150);
    expect(inspector.attempts).toBe(attempts);
    expect(inspector.state).toBe('stopped');
  });
});

function contextOf(event: StatelyInspectionEvent): { log?: { length?: number } } | undefined {
  return 'snapshot' in event ? (event.snapshot as { context?: { log?: { length?: number } } }).context : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
