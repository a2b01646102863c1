/**
 * What a leader does with its context (Figure 2, "Rules for Servers, Leaders"): send each
 * follower what it lacks, advance commitIndex by the current-term majority rule, and serve
 * ReadIndex reads once a heartbeat round confirms it still leads. Pure functions of the context
 * that report their effects to a sink; the statechart's actions call them.
 */
import { entriesThatFit } from './log.js';
import { quorumIndex } from './quorum.js';
import { confirmedRound, partitionReadyReads } from './read.js';
import { initialProgress, nextAppend, nextSnapshotChunk, type Progress } from './replication.js';
import type { AppendEntries, AppendEntriesResult, InstallSnapshot, InstallSnapshotResult, LogEntry, LogIndex, NodeId } from './types.js';
import { historyAfterAppend, replicationTargets } from './configuration.js';
import { applyCommitted, hardState, isSelfVoter, withConfigs, type EffectSink, type RaftContext } from './node.js';

type Ctx = RaftContext<unknown>;

export function progressOf(ctx: Ctx, peer: NodeId): Progress {
  const r = ctx.replication[peer] ?? { mode: 'probe', probeSent: false };
  return { nextIndex: ctx.nextIndex[peer] ?? ctx.log.lastIndex + 1, matchIndex: ctx.matchIndex[peer] ?? 0, ...r };
}

export function withProgress(ctx: Ctx, peer: NodeId, p: Progress): Pick<Ctx, 'nextIndex' | 'matchIndex' | 'replication'> {
  const { nextIndex, matchIndex, ...replication } = p;
  return {
    nextIndex: { ...ctx.nextIndex, [peer]: nextIndex },
    matchIndex: { ...ctx.matchIndex, [peer]: matchIndex },
    replication: { ...ctx.replication, [peer]: replication },
  };
}

export function appendEntriesMessage(ctx: Ctx, from: LogIndex, to: LogIndex): AppendEntries<unknown> {
  return {
    type: 'rpc.appendEntries',
    from: ctx.id,
    term: ctx.currentTerm,
    leaderId: ctx.id,
    prevLogIndex: from - 1,
    prevLogTerm: ctx.log.termAt(from - 1) ?? 0,
    entries: ctx.log.slice(from, to),
    leaderCommit: ctx.commitIndex,
    seq: ctx.readSeq,
  };
}

/** One chunk of the leader's snapshot (§7), in the leader's term and current confirmation round. */
export function installSnapshotMessage(ctx: Ctx, offset: number, data: string, done: boolean): InstallSnapshot {
  const snapshot = ctx.snapshot as NonNullable<Ctx['snapshot']>;
  return {
    type: 'rpc.installSnapshot',
    from: ctx.id,
    term: ctx.currentTerm,
    leaderId: ctx.id,
    lastIncludedIndex: snapshot.index,
    lastIncludedTerm: snapshot.term,
    offset,
    data,
    done,
    seq: ctx.readSeq,
  };
}

/**
 * Leader: send each follower what it is missing (heartbeat: to every follower, even if empty) —
 * entries, or, when it needs entries compacted behind the snapshot, the snapshot's next chunk.
 * Returns the context after the sends (nextIndex advances in replicate mode).
 */
export function replicate(ctx: Ctx, sink: EffectSink, heartbeat: boolean, only?: NodeId): Ctx {
  let next = ctx;
  const targets = replicationTargetsNow(ctx);
  if (heartbeat) informRemoved(ctx, targets, sink);
  for (const peer of only === undefined ? targets : targets.includes(only) ? [only] : []) {
    const progress = progressOf(next, peer);
    if (progress.nextIndex <= next.log.snapshotIndex) {
      // A compacted log always has its snapshot.
      const send = nextSnapshotChunk(progress, next.snapshot as NonNullable<Ctx['snapshot']>, Math.min(next.snapshotChunkBytes, next.maxBytesPerMessage), heartbeat);
      if (send === undefined) continue;
      // A keepalive is an empty AppendEntries at the snapshot's last entry. A follower that lacks
      // it refuses it, and the refusal changes nothing in snapshot mode; one that holds it (the
      // answer to the last chunk was lost, say) accepts, and replication goes on from there.
      // Either way it has heard from its leader (its election timer restarts; the answer confirms reads).
      const message =
        send.kind === 'chunk' ? installSnapshotMessage(next, send.offset, send.data, send.done) : appendEntriesMessage(next, next.log.snapshotIndex + 1, next.log.snapshotIndex);
      sink.emit({ type: 'send', to: peer, message });
      next = { ...next, ...withProgress(next, peer, send.progress) };
      continue;
    }
    // Cap each message by count and by size, so it always fits the transport's body limit.
    const fits = entriesThatFit(next.log, progress.nextIndex, next.maxEntriesPerMessage, next.maxBytesPerMessage);
    const plan = nextAppend(progress, next.log.lastIndex, fits, heartbeat);
    if (plan === undefined) continue;
    sink.emit({ type: 'send', to: peer, message: appendEntriesMessage(next, plan.from, plan.to) });
    next = { ...next, ...withProgress(next, peer, plan.progress) };
  }
  return next;
}

/**
 * Leader: advance commitIndex by the current-term majority rule, apply, and admit/serve reads. The
 * majority is of the voters of the configuration in force: learners never count, and a leader that
 * is removing itself does not count its own log.
 */
export function advanceLeaderCommit(ctx: Ctx, sink: EffectSink): Ctx {
  const own = isSelfVoter(ctx) ? [ctx.log.lastIndex] : [];
  const n = quorumIndex([...own, ...ctx.peers.map((peer) => ctx.matchIndex[peer] ?? 0)]);
  const committable = n > ctx.commitIndex && sink.isCommittable(ctx.log.termAt(n), ctx.currentTerm);
  const commitIndex = committable ? n : ctx.commitIndex;
  // Reads wait only while no entry of the term is committed: only a commit can admit them.
  const next = admitWaitingReads(applyCommitted({ ...ctx, commitIndex }, sink), sink);
  return serveConfirmedReads(next, sink);
}

export function hasCommittedInTerm(ctx: Ctx): boolean {
  return ctx.log.termAt(ctx.commitIndex) === ctx.currentTerm;
}

/** Reads that waited for the leader's first commit of its term get an index and a confirmation round. */
export function admitWaitingReads(ctx: Ctx, sink: EffectSink): Ctx {
  if (!hasCommittedInTerm(ctx) || !ctx.reads.some((r) => r.seq === 0)) return ctx;
  const readSeq = ctx.readSeq + 1;
  const reads = ctx.reads.map((r) => (r.seq === 0 ? { ...r, index: ctx.commitIndex, seq: readSeq } : r));
  return replicate({ ...ctx, readSeq, reads }, sink, true);
}

export function serveConfirmedReads(ctx: Ctx, sink: EffectSink): Ctx {
  const [ready, waiting] = partitionReadyReads(ctx.reads, confirmedRound(ctx.ackedSeq, ctx.peers, isSelfVoter(ctx) ? ctx.readSeq : undefined));
  for (const read of ready) sink.emit({ type: 'readReady', requestIds: read.requestIds, index: read.index });
  return ready.length === 0 ? ctx : { ...ctx, reads: waiting };
}

/** Leader: a follower answered (success or not): it is alive and recognizes us in this term. */
export function heardFrom(ctx: Ctx, reply: { readonly from: NodeId; readonly seq: number }): Ctx {
  // Only voters count toward check-quorum and ReadIndex rounds.
  if (!ctx.peers.includes(reply.from)) return ctx;
  return {
    ...ctx,
    ackedSeq: { ...ctx.ackedSeq, [reply.from]: Math.max(ctx.ackedSeq[reply.from] ?? 0, reply.seq) },
    recentlyActive: ctx.recentlyActive.includes(reply.from) ? ctx.recentlyActive : [...ctx.recentlyActive, reply.from],
  };
}

/**
 * Leader: is this AppendEntries reply one an honest voter could send? Not from a member we replicate to: ignore.
 * About an index or a round the leader never sent (in its own term a leader's log and its rounds
 * only grow): report it as an impossible input. Either way the reply then changes nothing.
 */
export function isPlausibleReply(ctx: Ctx, reply: AppendEntriesResult, sink: EffectSink): boolean {
  if (!isReplyFromTarget(ctx, reply.from)) return false;
  const index = reply.success ? reply.matchIndex : reply.rejectedIndex;
  if (index <= ctx.log.lastIndex && reply.seq <= ctx.readSeq) return true;
  sink.emit({
    type: 'invariantViolation',
    rule: reply.success ? 'a follower matches only entries the leader sent' : 'a follower rejects only entries the leader sent',
    detail: `${reply.from} ${reply.success ? 'reports matchIndex' : 'rejects prevLogIndex'} ${index} (round ${reply.seq}) but the log ends at ${ctx.log.lastIndex} (round ${ctx.readSeq})`,
  });
  return false;
}

/** Leader: is this InstallSnapshot reply one an honest voter could send (about a snapshot within our log, of a round we sent)? */
export function isPlausibleSnapshotReply(ctx: Ctx, reply: InstallSnapshotResult, sink: EffectSink): boolean {
  if (!isReplyFromTarget(ctx, reply.from)) return false;
  if (reply.lastIncludedIndex <= ctx.log.lastIndex && reply.seq <= ctx.readSeq) return true;
  sink.emit({
    type: 'invariantViolation',
    rule: 'a follower answers only snapshots the leader sent',
    detail: `${reply.from} answers about a snapshot at ${reply.lastIncludedIndex} (round ${reply.seq}) but the log ends at ${ctx.log.lastIndex} (round ${ctx.readSeq})`,
  });
  return false;
}

/**
 * Leader: append commands as entries of the current term, persist them, send them, commit if we
 * may. A configuration entry among them is in force from here on: the majority that commits it
 * is already the new configuration's, and new members are sent the log from now.
 */
export function appendCommands(ctx: Ctx, commands: readonly unknown[], sink: EffectSink): { ctx: Ctx; entries: LogEntry<unknown>[] } {
  const first = ctx.log.lastIndex + 1;
  const entries = commands.map((command, i) => ({ term: ctx.currentTerm, index: first + i, command }));
  const next = reconfigure(ctx, { ...ctx, log: ctx.log.append(entries) }, historyAfterAppend(ctx.configs, entries), sink);
  sink.emit({ type: 'persist', hardState: hardState(next), entries });
  return { ctx: replicate(advanceLeaderCommit(next, sink), sink, false), entries };
}

/**
 * `next` with `configs` as its configuration history; announces the configuration in force when it
 * changed from `before`'s. On a leader, a server that enters the replicas starts from fresh
 * progress: what was known of an earlier server of that id (removed, then added again as a new,
 * empty machine) says nothing about this one.
 */
export function reconfigure(before: Ctx, next: Ctx, configs: Ctx['configs'], sink: EffectSink): Ctx {
  const after = withConfigs(next, configs);
  if (after.config === before.config) return after;
  const record = after.configs[after.configs.length - 1] as Ctx['configs'][number];
  sink.emit({ type: 'configChanged', config: record.config, index: record.index });
  if (after.leaderId !== after.id) return after;
  const entering = after.replicas.filter((id) => !before.replicas.includes(id));
  const nextIndex = { ...after.nextIndex };
  const matchIndex = { ...after.matchIndex };
  const replication = { ...after.replication };
  const ackedSeq = { ...after.ackedSeq };
  const fresh = initialProgress(after.log.lastIndex);
  for (const id of entering) {
    nextIndex[id] = fresh.nextIndex;
    matchIndex[id] = fresh.matchIndex;
    replication[id] = { mode: fresh.mode, probeSent: fresh.probeSent };
    delete ackedSeq[id];
  }
  return { ...after, nextIndex, matchIndex, replication, ackedSeq, recentlyActive: after.recentlyActive.filter((id) => !entering.includes(id)) };
}

/**
 * Who the leader sends to now: the replicas of the configuration in force and, while that
 * configuration is not yet committed, the servers it removes — so a removed server receives the
 * entry that removes it, and from then on, no longer a voter of its own configuration, never
 * campaigns. They never count toward anything.
 */
export function replicationTargetsNow(ctx: Ctx): readonly NodeId[] {
  const latest = ctx.configs[ctx.configs.length - 1] as Ctx['configs'][number];
  if (latest.index <= ctx.commitIndex) return ctx.replicas;
  return [...ctx.replicas, ...removedByLatest(ctx)];
}

/** The servers the latest configuration entry removed (at most one, with single-server changes). */
export function removedByLatest(ctx: Ctx): readonly NodeId[] {
  const { configs } = ctx;
  if (configs.length < 2) return [];
  return replicationTargets((configs[configs.length - 2] as Ctx['configs'][number]).config, ctx.id).filter((id) => !ctx.replicas.includes(id));
}

/**
 * Once its removal is committed, a removed server that holds the entry removing it is told so by
 * an empty AppendEntries at its matchIndex on each heartbeat (until the next change): it commits
 * the removal and, a voter of no configuration it may still need, never campaigns again. Nothing
 * else is sent to it, and it counts for nothing.
 */
function informRemoved(ctx: Ctx, targets: readonly NodeId[], sink: EffectSink): void {
  const latest = ctx.configs[ctx.configs.length - 1] as Ctx['configs'][number];
  for (const id of removedByLatest(ctx)) {
    const matchIndex = ctx.matchIndex[id] ?? 0;
    if (targets.includes(id) || matchIndex < latest.index) continue;
    sink.emit({ type: 'send', to: id, message: appendEntriesMessage(ctx, matchIndex + 1, matchIndex) });
  }
}

/** A reply the leader takes: from a server it replicates to, or one it informs of its removal. */
function isReplyFromTarget(ctx: Ctx, from: NodeId): boolean {
  return ctx.replicas.includes(from) || removedByLatest(ctx).includes(from);
}

/**
 * Leadership transfer (thesis §3.10): once the target holds every entry of the leader's log, tell
 * it to campaign now. Sent once per transfer.
 */
export function sendTimeoutNowIfCaughtUp(ctx: Ctx, sink: EffectSink): Ctx {
  const transfer = ctx.transfer;
  if (transfer === undefined || transfer.timeoutNowSent || (ctx.matchIndex[transfer.to] ?? 0) < ctx.log.lastIndex) return ctx;
  sink.emit({ type: 'send', to: transfer.to, message: { type: 'rpc.timeoutNow', from: ctx.id, term: ctx.currentTerm, leaderId: ctx.id } });
  return { ...ctx, transfer: { ...transfer, timeoutNowSent: true } };
}

/** The voter (other than the leader) whose log reaches furthest, the first such in the configuration's order. */
export function mostUpToDateVoter(ctx: Ctx): NodeId | undefined {
  let best: NodeId | undefined;
  for (const peer of ctx.peers) if (best === undefined || (ctx.matchIndex[peer] ?? 0) > (ctx.matchIndex[best] ?? 0)) best = peer;
  return best;
}
