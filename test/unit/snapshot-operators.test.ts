/**
 * The operator surface of snapshots, without node processes: `node --snapshot-threshold` and
 * `cluster --snapshot-threshold` are validated and reach the node's options (and every node's
 * command line), the runtime's `snapshot` event says what was stored (taken here or installed from
 * the leader, its size, in the node's own clock), and the metrics and /status figures follow it.
 */
import { describe, expect, it } from 'vitest';
import { CommanderError, type Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { DEFAULT_SNAPSHOT_THRESHOLD, type RaftNodeEvents, type SnapshotEvent } from '../../src/runtime/raft-node.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import { ProcessCluster } from '../../src/server/process-cluster.js';
import { Simulation } from '../../src/sim/simulation.js';
import { awaitLeader, one, others } from '../sim/harness.js';

const NODE_ARGS = ['--listen', '127.0.0.1:7001', '--peers', 'n1=127.0.0.1:7001', '--data', '/tmp/unused'];

/** Parse `argv` with the real program, the `command`'s action replaced by one that records its options. */
async function parsed(command: 'node' | 'cluster', argv: string[]): Promise<{ opts?: Record<string, unknown>; error?: string }> {
  const program = buildProgram();
  const sub = program.commands.find((c) => c.name() === command) as Command;
  let opts: Record<string, unknown> | undefined;
  let error = '';
  sub.action((options: Record<string, unknown>) => void (opts = options));
  sub.configureOutput({ writeErr: (text) => void (error += text), writeOut: () => undefined });
  try {
    await program.parseAsync([command, ...argv], { from: 'user' });
  } catch (caught) {
    if (!(caught instanceof CommanderError)) throw caught;
    return { error };
  }
  return { ...(opts ? { opts } : {}) };
}

describe('--snapshot-threshold', () => {
  it("node passes a positive whole number on to the node, and defaults to the runtime's threshold", async () => {
    expect((await parsed('node', [...NODE_ARGS, '--snapshot-threshold', '500'])).opts?.snapshotThreshold).toBe(500);
    expect((await parsed('node', NODE_ARGS)).opts?.snapshotThreshold).toBe(DEFAULT_SNAPSHOT_THRESHOLD);
  });

  it('node and cluster refuse zero, a negative number, a fraction and a word, saying what they expect', async () => {
    for (const command of ['node', 'cluster'] as const) {
      for (const [value, reason] of [
        ['0', /expected a number from 1 to/],
        ['-5', /expected a number from 1 to/],
        ['2.5', /expected a whole number, got "2.5"/],
        ['many', /expected a whole number, got "many"/],
      ] as const) {
        const { opts, error } = await parsed(command, [...(command === 'node' ? NODE_ARGS : []), '--snapshot-threshold', value]);
        expect(opts, `${command} ${value}`).toBeUndefined();
        expect(error, `${command} ${value}`).toMatch(/--snapshot-threshold/);
        expect(error, `${command} ${value}`).toMatch(reason);
      }
    }
  });

  it("cluster passes it on to every node it starts, on the node's command line", async () => {
    expect((await parsed('cluster', ['--snapshot-threshold', '300'])).opts?.snapshotThreshold).toBe(300);
    // A "node" that prints its command line instead of running.
    const lines: string[] = [];
    const exited: string[] = [];
    const cluster = new ProcessCluster({
      size: 2,
      host: '127.0.0.1',
      ports: [1, 2],
      dataDir: '/tmp/unused',
      snapshotThreshold: 300,
      command: { command: process.execPath, args: ['-e', 'console.log(JSON.stringify(process.argv.slice(1)))'] },
      onLine: (_id, line) => lines.push(line),
      onExit: (id) => exited.push(id),
    });
    cluster.startAll();
    await expect.poll(() => exited.length, { timeout: 20_000 }).toBe(2);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const argv = JSON.parse(line) as string[];
      expect(argv[argv.indexOf('--snapshot-threshold') + 1]).toBe('300');
    }
  });
});

describe('the snapshot event', () => {
  it("reports each stored snapshot: taken by the leader (its size, its duration by the node's clock) and installed on a follower that was away", () => {
    const sim = new Simulation({ nodes: 3, seed: 301, snapshotThreshold: 10 });
    const leader = awaitLeader(sim);
    const [away] = others(sim, leader) as [string];
    const events = new Map<string, SnapshotEvent[]>(sim.ids.map((id) => [id, []]));
    for (const id of sim.ids) sim.node(id)?.on('snapshot', (event) => events.get(id)?.push(event));
    sim.disconnect(away);
    for (let i = 0; i < 40; i++) one(sim, `c${i}`, 2);
    sim.connect(away);
    for (let i = 40; i < 45; i++) one(sim, `c${i}`, 3);

    const taken = events.get(leader) ?? [];
    expect(taken.length).toBeGreaterThanOrEqual(3);
    for (const event of taken) {
      expect(event.source).toBe('taken');
      expect(event.bytes).toBeGreaterThan(0);
      // Virtual time does not pass while the node works: the duration is the clock's, not the wall's.
      expect(event.ms).toBe(0);
    }
    expect(taken.map((e) => e.index)).toEqual([...taken.map((e) => e.index)].sort((a, b) => a - b));
    expect(taken.at(-1)?.index).toBe(sim.status(leader)?.snapshotIndex);

    const installed = (events.get(away) ?? []).filter((e) => e.source === 'installed');
    expect(installed.length).toBeGreaterThanOrEqual(1);
    const first = installed[0] as SnapshotEvent;
    // The follower stored the leader's snapshot: same index, term and size.
    expect(taken.find((e) => e.index === first.index)).toMatchObject({ index: first.index, term: first.term, bytes: first.bytes });
  });
});

describe('snapshot metrics and /status figures', () => {
  /** A node that only has a status (`log`: change it to move the node on) and the events NodeMetrics listens to. */
  function fakeNode(log: { lastLogIndex: number; snapshotIndex: number; snapshotTerm: number }) {
    const listeners = new Map<string, ((payload: never) => void)[]>();
    return {
      id: 'n1',
      log,
      status: () => ({
        id: 'n1',
        role: 'leader' as const,
        term: 3,
        leaderId: 'n1',
        commitIndex: log.lastLogIndex,
        lastApplied: log.lastLogIndex,
        firstLogIndex: log.snapshotIndex + 1,
        voters: ['a'],
        learners: [],
        ...log,
      }),
      on<K extends keyof RaftNodeEvents<unknown, unknown>>(event: K, listener: (payload: RaftNodeEvents<unknown, unknown>[K]) => void) {
        listeners.set(event, [...(listeners.get(event) ?? []), listener as (payload: never) => void]);
        return () => undefined;
      },
      emit(event: string, payload: unknown) {
        for (const listener of listeners.get(event) ?? []) listener(payload as never);
      },
    };
  }

  it('the gauges show the snapshot index and term, the log length after it and the latest size; the counter and histogram count each by source', async () => {
    const node = fakeNode({ lastLogIndex: 1300, snapshotIndex: 1000, snapshotTerm: 2 });
    const metrics = new NodeMetrics(node, { storedSnapshotBytes: 777 });
    expect(metrics.snapshotFigures()).toEqual({ logLength: 300, snapshotBytes: 777, snapshotMs: null });
    node.emit('snapshot', { index: 1200, term: 2, bytes: 4096, ms: 12.5, source: 'taken' } satisfies SnapshotEvent);
    node.emit('snapshot', { index: 1250, term: 3, bytes: 5000, ms: 3, source: 'installed' } satisfies SnapshotEvent);
    node.log.snapshotIndex = 1250;
    node.log.snapshotTerm = 3;
    expect(metrics.snapshotFigures()).toEqual({ logLength: 50, snapshotBytes: 5000, snapshotMs: 3 });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^xstate_raft_snapshot_index\{node="n1"\} 1250$/m);
    expect(text).toMatch(/^xstate_raft_snapshot_term\{node="n1"\} 3$/m);
    expect(text).toMatch(/^xstate_raft_log_entries\{node="n1"\} 50$/m);
    expect(text).toMatch(/^xstate_raft_snapshot_bytes\{node="n1"\} 5000$/m);
    expect(text).toMatch(/^xstate_raft_snapshots_total\{source="taken",node="n1"\} 1$/m);
    expect(text).toMatch(/^xstate_raft_snapshots_total\{source="installed",node="n1"\} 1$/m);
    expect(text).toMatch(/^xstate_raft_snapshot_seconds_sum\{node="n1",source="taken"\} 0\.0125$/m);
    expect(text).toMatch(/^xstate_raft_snapshot_seconds_count\{node="n1",source="installed"\} 1$/m);
  });
});
