/**
 * Prometheus metrics of one node (prom-client), served at GET /metrics. Gauges are read from the
 * node when scraped; counters and histograms are fed by the runtime's hooks. Every series carries
 * the node id (`node="n1"`), so a scrape of several nodes in one job stays apart; the process
 * metrics keep prom-client's names under our prefix (`xstate_raft_process_cpu_seconds_total`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RaftNode, SnapshotEvent } from '../runtime/raft-node.js';

/** What /status adds about snapshots and the log. */
export interface SnapshotFigures {
  /** Entries the log holds after the snapshot. */
  logLength: number;
  /** The latest stored snapshot's size in bytes (0 without one). */
  snapshotBytes: number;
  /** How long storing the latest snapshot took (see SnapshotEvent); null until this process stored one. */
  snapshotMs: number | null;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly proposals: Counter<'outcome'>;
  readonly reads: Counter<'outcome'>;
  readonly elections: Counter;
  readonly leaderChanges: Counter;
  readonly batchEntries: Histogram;
  readonly batchMessages: Histogram;
  readonly fsyncSeconds: Histogram;
  readonly requestSeconds: Histogram<'route' | 'status'>;
  readonly snapshots: Counter<'source'>;
  readonly snapshotSeconds: Histogram<'source'>;
  private lastSnapshot: { index: number; bytes: number; ms: number | null };

  constructor(
    private readonly node: Pick<RaftNode, 'status' | 'on'> & { readonly id?: string },
    /**
     * hasLeader: does the node know a leader it heard from lately (see LeaderContact); default: it names one.
     * storedSnapshotBytes: the size of the snapshot the node started from, until it stores another.
     */
    options: { hasLeader?: () => boolean; storedSnapshotBytes?: number } = {},
  ) {
    this.lastSnapshot = { index: node.status().snapshotIndex, bytes: options.storedSnapshotBytes ?? 0, ms: null };
    const registry = this.registry;
    if (node.id !== undefined) registry.setDefaultLabels({ node: node.id });
    collectDefaultMetrics({ register: registry, prefix: 'xstate_raft_' });
    const status = () => node.status();
    const hasLeader = options.hasLeader ?? (() => status().leaderId !== null);
    new Gauge({
      name: 'xstate_raft_has_leader',
      help: '1 if this node knows a leader it heard from within an election timeout, else 0',
      registers: [registry],
      collect() {
        this.set(hasLeader() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'xstate_raft_term',
      help: 'current term',
      registers: [registry],
      collect() {
        this.set(status().term);
      },
    });
    new Gauge({
      name: 'xstate_raft_commit_index',
      help: 'commit index',
      registers: [registry],
      collect() {
        this.set(status().commitIndex);
      },
    });
    new Gauge({
      name: 'xstate_raft_last_applied',
      help: 'last applied index',
      registers: [registry],
      collect() {
        this.set(status().lastApplied);
      },
    });
    new Gauge({
      name: 'xstate_raft_last_log_index',
      help: 'last log index',
      registers: [registry],
      collect() {
        this.set(status().lastLogIndex);
      },
    });
    new Gauge({
      name: 'xstate_raft_snapshot_index',
      help: "the latest snapshot's last included index (0 without one)",
      registers: [registry],
      collect() {
        this.set(status().snapshotIndex);
      },
    });
    new Gauge({
      name: 'xstate_raft_snapshot_term',
      help: "the latest snapshot's last included term (0 without one)",
      registers: [registry],
      collect() {
        this.set(status().snapshotTerm);
      },
    });
    const figures = () => this.snapshotFigures();
    new Gauge({
      name: 'xstate_raft_log_entries',
      help: 'entries the log holds after the snapshot',
      registers: [registry],
      collect() {
        this.set(figures().logLength);
      },
    });
    new Gauge({
      name: 'xstate_raft_snapshot_bytes',
      help: "the latest stored snapshot's size in bytes",
      registers: [registry],
      collect() {
        this.set(figures().snapshotBytes);
      },
    });
    new Gauge({
      name: 'xstate_raft_role',
      help: '1 for the role this node has now',
      labelNames: ['role'],
      registers: [registry],
      collect() {
        const role = status().role;
        for (const r of ['follower', 'preCandidate', 'candidate', 'leader']) this.set({ role: r }, r === role ? 1 : 0);
      },
    });
    this.proposals = new Counter({ name: 'xstate_raft_proposals_total', help: 'client writes by outcome', labelNames: ['outcome'], registers: [registry] });
    this.reads = new Counter({ name: 'xstate_raft_reads_total', help: 'client reads by outcome', labelNames: ['outcome'], registers: [registry] });
    this.elections = new Counter({ name: 'xstate_raft_elections_total', help: 'elections this node started', registers: [registry] });
    this.leaderChanges = new Counter({ name: 'xstate_raft_leader_changes_total', help: 'times this node learned of a new leader (itself included)', registers: [registry] });
    this.batchEntries = new Histogram({ name: 'xstate_raft_batch_entries', help: 'log entries written per batch', buckets: [0, 1, 4, 16, 64, 256, 1024], registers: [registry] });
    this.batchMessages = new Histogram({ name: 'xstate_raft_batch_messages', help: 'messages sent per batch', buckets: [0, 1, 2, 4, 8, 16, 64], registers: [registry] });
    this.fsyncSeconds = new Histogram({
      name: 'xstate_raft_storage_write_seconds',
      help: 'duration of one storage batch write (one fsync)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [registry],
    });
    this.requestSeconds = new Histogram({
      name: 'xstate_raft_client_request_seconds',
      help: 'client API latency',
      labelNames: ['route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    });
    this.snapshots = new Counter({
      name: 'xstate_raft_snapshots_total',
      help: 'snapshots stored: taken by this node, or installed from the leader',
      labelNames: ['source'],
      registers: [registry],
    });
    this.snapshotSeconds = new Histogram({
      name: 'xstate_raft_snapshot_seconds',
      help: "time to store a snapshot: taken, the state machine's snapshot() and the write; installed, the write",
      labelNames: ['source'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2, 10],
      registers: [registry],
    });
    for (const source of ['taken', 'installed'] as const) this.snapshots.inc({ source }, 0);
    node.on('snapshot', (snapshot) => this.observeSnapshot(snapshot));
    node.on('role', ({ role }) => {
      if (role === 'candidate') this.elections.inc();
    });
    node.on('leader', ({ leaderId }) => {
      if (leaderId !== null) this.leaderChanges.inc();
    });
  }

  snapshotFigures(): SnapshotFigures {
    const { lastLogIndex, snapshotIndex } = this.node.status();
    return { logLength: lastLogIndex - snapshotIndex, snapshotBytes: this.lastSnapshot.bytes, snapshotMs: this.lastSnapshot.ms };
  }

  /** The latest stored snapshot's index and size in bytes (index 0: none). */
  storedSnapshot(): { index: number; bytes: number } {
    return { index: this.lastSnapshot.index, bytes: this.lastSnapshot.bytes };
  }

  observeSnapshot(snapshot: SnapshotEvent): void {
    this.lastSnapshot = { index: snapshot.index, bytes: snapshot.bytes, ms: Math.round(snapshot.ms * 1000) / 1000 };
    this.snapshots.inc({ source: snapshot.source });
    this.snapshotSeconds.observe({ source: snapshot.source }, snapshot.ms / 1000);
  }

  observeBatch(batch: { entries: number; messages: number; writeMs: number }): void {
    this.batchEntries.observe(batch.entries);
    this.batchMessages.observe(batch.messages);
    if (batch.entries > 0 || batch.writeMs > 0) this.fsyncSeconds.observe(batch.writeMs / 1000);
  }
}
