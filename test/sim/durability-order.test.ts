/**
 * The durability contract against re-entrant callers (issue 8, hole 5): nothing is applied,
 * answered or sent before the batch that holds it is on disk, whatever a listener does while the
 * runtime performs a batch.
 */
import { describe, expect, it } from 'vitest';
import type { LogEntry, LogIndex, RpcMessage } from '../../src/core/types.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { PersistBatch } from '../../src/storage/storage.js';
import { MemoryNetwork } from '../../src/transport/memory.js';

/** MemoryStorage that remembers which indexes are durable, so the state machine can check each apply. */
class WatchedStorage extends MemoryStorage {
  readonly durable = new Set<LogIndex>();
  override write(batch: PersistBatch): void {
    super.write(batch);
    if (batch.truncateFrom !== undefined) for (const i of [...this.durable]) if (i >= batch.truncateFrom) this.durable.delete(i);
    for (const entry of batch.entries) this.durable.add(entry.index);
  }
}

function oneVoter(listen: (node: RaftNode) => void) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const storage = new WatchedStorage();
  const appliedBeforeDurable: number[] = [];
  const applied: unknown[] = [];
  const node = createRaftNode({
    id: 'n1',
    peers: ['n1'],
    transport: network.transport('n1'),
    storage,
    clock,
    stateMachine: {
      apply: (command, entry: LogEntry) => {
        if (!storage.durable.has(entry.index)) appliedBeforeDurable.push(entry.index);
        applied.push(command);
        return command;
      },
      query: () => undefined,
    },
  });
  listen(node);
  return { node, clock, storage, applied, appliedBeforeDurable };
}

describe('nothing is applied before the batch that holds it is durable', () => {
  it('an entry submitted by a leader listener, in a one-voter cluster, is applied only after it is written', () => {
    const run = oneVoter((node) => {
      node.on('leader', ({ leaderId }) => {
        if (leaderId === 'n1') node.submit('from the leader listener');
      });
      node.on('role', ({ role }) => {
        if (role === 'leader') node.submit('from the role listener');
      });
    });
    run.clock.advance(2000);
    expect(run.node.status().role).toBe('leader');
    expect(run.applied).toEqual(['from the role listener', 'from the leader listener']);
    expect(run.appliedBeforeDurable).toEqual([]);
    run.node.stop();
  });

  it('an entry submitted by an applied listener is applied only after it is written', () => {
    let chain = 0;
    const run = oneVoter((node) => {
      node.on('applied', () => {
        if (chain++ < 5) node.submit(`chained ${chain}`);
      });
    });
    run.clock.advance(1000);
    run.node.submit('first');
    run.clock.advance(1000);
    expect(run.applied).toEqual(['first', 'chained 1', 'chained 2', 'chained 3', 'chained 4', 'chained 5']);
    expect(run.appliedBeforeDurable).toEqual([]);
    run.node.stop();
  });

  it('a message a listener causes leaves only after the batch that it depends on is written', () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock);
    const storages = new Map<string, WatchedStorage>();
    const ids = ['n1', 'n2', 'n3'];
    const violations: string[] = [];
    const nodes = ids.map((id, i) => {
      const storage = new WatchedStorage();
      storages.set(id, storage);
      const transport = network.transport(id);
      const send = transport.send.bind(transport);
      // A follower acknowledges only entries it has written; a leader says committed only what it
      // has written itself (its new entries may leave before its write: test/sim/parallel-write.test.ts).
      transport.send = (to: string, message: RpcMessage) => {
        if (message.type === 'rpc.appendEntriesResult' && message.success) {
          for (let i = 1; i <= message.matchIndex; i++) if (!storage.durable.has(i)) violations.push(`${id} acknowledged ${i} before writing it`);
        }
        if (message.type === 'rpc.appendEntries') {
          for (let i = 1; i <= message.leaderCommit; i++) if (!storage.durable.has(i)) violations.push(`${id} sent leaderCommit ${message.leaderCommit} before writing ${i}`);
        }
        send(to, message);
      };
      const node = createRaftNode({ id, peers: ids, transport, storage, clock, random: i + 1, stateMachine: { apply: (c) => c, query: () => undefined } });
      node.on('role', ({ role }) => {
        if (role === 'leader') node.submit(`elected ${id}`);
      });
      return node;
    });
    clock.advance(3000);
    expect(nodes.some((n) => n.status().role === 'leader')).toBe(true);
    expect(violations).toEqual([]);
    for (const n of nodes) n.stop();
  });
});
