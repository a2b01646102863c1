/**
 * Raft's safety properties (§5.2–5.4, Figure 3), checked across a whole simulated cluster after
 * every step, incrementally (each check costs what the step changed, not the size of the logs):
 *
 * - Election Safety: at most one leader per term.
 * - Leader Append-Only: a leader never overwrites or deletes entries in its log.
 * - Log Matching: two entries with the same index and term hold the same command and follow
 *   the same history (checked by induction: same command and same previous term).
 * - Leader Completeness: a leader's log holds every entry committed before its term.
 * - State Machine Safety: no two nodes apply different commands at one index.
 * - Terms never decrease (also across restarts); commitIndex never decreases; each node
 *   applies entries in index order, each once (per incarnation).
 *
 * Majorities are those of the configuration in force on the node concerned (thesis §4.1: a
 * configuration entry takes effect when appended), voters only — learners never count:
 *
 * - A leader is a voter of its configuration — or of the committed one, when its own latest,
 *   uncommitted entry removes it (thesis §4.2.2: it may still be needed to commit its removal) —
 *   and a majority of the voters of the configuration in force on it durably voted for it in its term.
 * - An entry a leader commits is held by a majority of the voters of its configuration (the one
 *   in force before or after the step: a step changes it by one server at most), counting what a
 *   node that is down holds on its disk.
 *
 * Nodes come and go: a new server starts empty (its own watch, from term 0), a removed one keeps
 * running and is still checked; the rules above that compare nodes do so by index and term, never
 * by a fixed list of nodes.
 */
import type { RaftEffect, RaftNodeSnapshot } from '../../machines/raft-node.js';
import { configAt, inForce, type ConfigHistory, type Configuration } from '../core/configuration.js';
import type { LogEntry, LogIndex, NodeId, Term } from '../core/types.js';
import type { RaftNode } from '../runtime/raft-node.js';
import type { PersistedState } from '../storage/storage.js';
import { NodeInvariantChecker, type NodeView } from './node-invariants.js';

export class SafetyViolation extends Error {
  constructor(
    readonly rule: string,
    readonly detail: string,
    readonly seed: number,
    readonly time: number,
    readonly replay: string,
    /** The step (delivered message, timer, or end of a batch) after which the rule was found broken. */
    readonly step: number,
  ) {
    super(`safety violation: ${rule}: ${detail} (seed ${seed}, step ${step}, virtual time ${time} ms)\n  replay: ${replay}`);
    this.name = 'SafetyViolation';
  }
}

interface NodeWatch {
  maxTerm: Term;
  commitIndex: number;
  appliedIndex: number;
  /** Set while the node leads: its term and how long its log was at the last check. */
  leading: { term: Term; lastIndex: number; lastTerm: Term } | undefined;
  becameLeader: boolean;
  persisted: LogEntry[];
  /** Per-node rules (DESIGN.md), checked on the node's context before and after each step. */
  readonly rules: NodeInvariantChecker;
  view: NodeView | undefined;
  effects: RaftEffect[];
  /** The configuration in force on the node at the last check. */
  config: Configuration | undefined;
}

/**
 * What the checker reads of a running node: its actor's snapshot. A RaftNode is one; so is a bare
 * machine snapshot held by an explorer (test/explore).
 */
export interface WatchedNode {
  readonly actor: { getSnapshot(): RaftNodeSnapshot };
}

/** A running node, or undefined while it is down. */
type LiveNodes<N extends WatchedNode> = (id: NodeId) => N | undefined;
/** What a node's disk holds, to look at a node that is down. */
type StoredStates = (id: NodeId) => PersistedState | undefined;

/** `N`: what the simulation hands the checker of a running node (a RaftNode; an explorer passes bare snapshots). */
export class SafetyChecker<N extends WatchedNode = RaftNode> {
  private readonly watches = new Map<NodeId, NodeWatch>();
  private readonly leaders = new Map<Term, NodeId>();
  /** index → the entry committed there (from what nodes applied). */
  private readonly committed = new Map<number, LogEntry>();
  private maxCommitted = 0;
  /** `${index}/${term}` → command and previous entry's term, the first time anyone held it. */
  private readonly entriesSeen = new Map<string, { command: unknown; prevTerm: Term | undefined }>();
  /** term → candidate → the nodes that durably voted for it in that term (persisted votedFor). */
  private readonly votes = new Map<Term, Map<NodeId, Set<NodeId>>>();
  steps = 0;

  constructor(
    readonly replay: string,
    private readonly seed: number,
  ) {}

  started(id: NodeId, node: N): void {
    const watch = this.watch(id);
    const { context } = node.actor.getSnapshot();
    // A node restarted from a snapshot starts with it committed and applied.
    watch.commitIndex = context.commitIndex;
    watch.appliedIndex = context.lastApplied;
    watch.leading = undefined;
    watch.becameLeader = false;
    watch.persisted = [];
    watch.rules.restarted();
    watch.view = viewOf(node);
    watch.config = context.config;
    const term = context.currentTerm;
    if (term < watch.maxTerm) this.fail('terms never decrease', `${id} restarted at term ${term} after reaching ${watch.maxTerm}`);
  }

  crashed(id: NodeId): void {
    const watch = this.watch(id);
    watch.leading = undefined;
    watch.persisted = [];
    watch.view = undefined;
    watch.effects = [];
    watch.config = undefined;
  }

  observe(id: NodeId, effect: RaftEffect): void {
    const watch = this.watch(id);
    watch.effects.push(effect);
    switch (effect.type) {
      case 'roleChanged':
        if (effect.role === 'leader') {
          const other = this.leaders.get(effect.term);
          if (other !== undefined && other !== id) this.fail('at most one leader per term', `${other} and ${id} both won term ${effect.term}`);
          this.leaders.set(effect.term, id);
          watch.becameLeader = true;
        } else {
          watch.leading = undefined;
        }
        break;
      case 'persist':
        if (watch.leading !== undefined && effect.truncateFrom !== undefined) {
          this.fail('leaders only append', `${id}, leader of term ${watch.leading.term}, truncated its log from ${effect.truncateFrom}`);
        }
        for (const entry of effect.entries) watch.persisted.push(entry);
        if (effect.hardState.votedFor !== null) this.recordVote(effect.hardState.currentTerm, effect.hardState.votedFor, id);
        break;
      case 'apply':
        for (const entry of effect.entries) this.checkApply(id, watch, entry);
        break;
      case 'restore': {
        // A snapshot from the leader: it must end on the entry committed there, and move forward.
        const { index, term } = effect.snapshot;
        if (index < watch.appliedIndex) this.fail('entries are applied in order, once', `${id} restored a snapshot at ${index} after applying ${watch.appliedIndex}`);
        const known = this.committed.get(index);
        if (known !== undefined && known.term !== term) {
          this.fail('state machine safety', `${id} installed a snapshot ending at index ${index} of term ${term}, but ${describe(known)} was applied there`);
        }
        watch.appliedIndex = Math.max(watch.appliedIndex, index);
        break;
      }
      case 'invariantViolation':
        this.fail(effect.rule, `${id} reported: ${effect.detail}`);
        break;
      default:
        break;
    }
  }

  /**
   * Called after every step of the simulation with a way to reach each running node, and what the
   * disk of a node that is down holds (without it, a node that is down counts as holding nothing).
   */
  afterStep(now: number, live: LiveNodes<N>, stored?: StoredStates): void {
    this.steps++;
    this.now = now;
    if (this.violation) throw this.violation;
    for (const [id, watch] of this.watches) {
      const node = live(id);
      if (node === undefined) continue;
      const { context } = node.actor.getSnapshot();
      const log = context.log;
      const view = viewOf(node);
      // Before the per-node rules: what the voters' logs really hold is the stronger evidence.
      // Also in the step in which a leader commits its own removal and steps down (same term).
      const ledThisStep = view.role === 'leader' || (watch.view?.role === 'leader' && watch.view.currentTerm === context.currentTerm);
      if (ledThisStep && context.commitIndex > watch.commitIndex) {
        this.checkCommitQuorum(id, context.commitIndex, log.termAt(context.commitIndex) as Term, [watch.config, context.config], live, stored);
      }
      if (watch.view !== undefined && (watch.effects.length > 0 || view.log !== watch.view.log || view.role !== watch.view.role)) {
        for (const v of watch.rules.check(watch.view, view, watch.effects)) this.fail(v.rule, `${id}: ${v.detail}`);
      }
      watch.view = view;
      watch.effects = [];
      if (context.currentTerm < watch.maxTerm) this.fail('terms never decrease', `${id} went from term ${watch.maxTerm} to ${context.currentTerm}`);
      watch.maxTerm = context.currentTerm;
      if (context.commitIndex < watch.commitIndex) this.fail('commitIndex never decreases', `${id} went from ${watch.commitIndex} to ${context.commitIndex}`);
      if (context.commitIndex > log.lastIndex) this.fail('commitIndex ≤ last log index', `${id} commitIndex ${context.commitIndex} > ${log.lastIndex}`);
      watch.commitIndex = context.commitIndex;
      watch.config = context.config;

      for (const entry of watch.persisted) this.checkLogMatching(id, entry, log.termAt(entry.index - 1), log.termAt(entry.index));
      watch.persisted = [];

      if (watch.becameLeader) {
        watch.becameLeader = false;
        this.checkElectedByItsVoters(id, context.currentTerm, context.configs, context.commitIndex);
        // Entries behind the leader's snapshot are committed ones (checked as they were applied).
        this.checkLeaderCompleteness(id, context.currentTerm, log.snapshotIndex, (i) => log.termAt(i));
        watch.leading = { term: context.currentTerm, lastIndex: log.lastIndex, lastTerm: log.lastTerm };
      } else if (watch.leading !== undefined) {
        const was = watch.leading;
        if (node.actor.getSnapshot().value === 'leader' && context.currentTerm === was.term) {
          if (log.lastIndex < was.lastIndex || (was.lastIndex >= log.snapshotIndex && log.termAt(was.lastIndex) !== was.lastTerm)) {
            this.fail('leaders only append', `${id} (term ${was.term}) log changed below index ${was.lastIndex}`);
          }
          watch.leading = { term: was.term, lastIndex: log.lastIndex, lastTerm: log.lastTerm };
        } else {
          watch.leading = undefined;
        }
      }
    }
    if (this.violation) throw this.violation;
  }

  private now = 0;

  private checkApply(id: NodeId, watch: NodeWatch, entry: LogEntry): void {
    if (entry.index !== watch.appliedIndex + 1) {
      this.fail('entries are applied in order, once', `${id} applied index ${entry.index} after ${watch.appliedIndex}`);
    }
    watch.appliedIndex = entry.index;
    const known = this.committed.get(entry.index);
    if (known === undefined) {
      this.committed.set(entry.index, entry);
      this.maxCommitted = Math.max(this.maxCommitted, entry.index);
    } else if (known.term !== entry.term || !sameCommand(known.command, entry.command)) {
      this.fail('state machine safety', `${id} applied ${describe(entry)} at index ${entry.index}, but ${describe(known)} was applied there before`);
    }
  }

  /**
   * `prevTerm` is undefined when the entry before it is already behind the node's snapshot (a lone
   * voter appends, commits, applies and compacts in one step): then only the command is compared,
   * and the previous term is learnt from the next node that holds both.
   */
  private checkLogMatching(id: NodeId, entry: LogEntry, prevTerm: Term | undefined, heldTerm: Term | undefined): void {
    if (heldTerm !== entry.term) return; // overwritten later in the same step: nothing of it remains
    const key = `${entry.index}/${entry.term}`;
    const seen = this.entriesSeen.get(key);
    if (seen === undefined) {
      this.entriesSeen.set(key, { command: entry.command, prevTerm });
      return;
    }
    if (!sameCommand(seen.command, entry.command) || (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm)) {
      this.fail(
        'log matching',
        `${id} holds ${describe(entry)} after term ${prevTerm ?? '(compacted)'}, another node holds it with ${JSON.stringify(seen.command)} after term ${seen.prevTerm ?? '(compacted)'}`,
      );
    }
    seen.prevTerm ??= prevTerm;
  }

  private checkLeaderCompleteness(id: NodeId, term: Term, from: number, termAt: (index: number) => Term | undefined): void {
    for (let index = Math.max(1, from); index <= this.maxCommitted; index++) {
      const entry = this.committed.get(index);
      if (entry !== undefined && entry.term < term && termAt(index) !== entry.term) {
        this.fail('leader completeness', `${id} leads term ${term} but lacks committed ${describe(entry)} at index ${index}`);
      }
    }
  }

  private recordVote(term: Term, candidate: NodeId, voter: NodeId): void {
    let byCandidate = this.votes.get(term);
    if (byCandidate === undefined) {
      byCandidate = new Map();
      this.votes.set(term, byCandidate);
    }
    let voters = byCandidate.get(candidate);
    if (voters === undefined) {
      voters = new Set();
      byCandidate.set(candidate, voters);
    }
    voters.add(voter);
  }

  /**
   * A leader is a voter of the configuration in force on it, or — while that configuration's entry
   * is not committed — of the committed one it replaces; and a majority of the voters in force
   * elected it (its own vote counts only if it is one of them).
   */
  private checkElectedByItsVoters(id: NodeId, term: Term, configs: ConfigHistory, commitIndex: LogIndex): void {
    const { config, index } = inForce(configs);
    const committed = configAt(configs, commitIndex).config;
    if (!config.voters.includes(id) && (index <= commitIndex || !committed.voters.includes(id))) {
      this.fail(
        'only a voter of its configuration is elected',
        `${id} leads term ${term}, but the voters of its configuration are [${config.voters.join(', ')}] (of the committed one: [${committed.voters.join(', ')}])`,
      );
      return;
    }
    const granted = this.votes.get(term)?.get(id) ?? new Set<NodeId>();
    const votes = config.voters.filter((voter) => granted.has(voter));
    if (votes.length * 2 <= config.voters.length) {
      this.fail(
        "a leader is elected by a majority of its configuration's voters",
        `${id} leads term ${term} with votes from [${votes.join(', ')}] of voters [${config.voters.join(', ')}]${granted.size > votes.length ? ` (and from non-voters [${[...granted].filter((v) => !votes.includes(v)).join(', ')}])` : ''}`,
      );
    }
  }

  /**
   * The entry a leader just committed is held by a majority of the voters of its configuration
   * (before or after this step). A running node holds what its log holds; a node that is down,
   * what its disk holds; an entry inside a snapshot is held.
   */
  private checkCommitQuorum(id: NodeId, index: LogIndex, term: Term, configs: readonly (Configuration | undefined)[], live: LiveNodes<N>, stored: StoredStates | undefined): void {
    const holds = (voter: NodeId): boolean => {
      const node = live(voter);
      if (node !== undefined) {
        const { log } = node.actor.getSnapshot().context;
        return log.snapshotIndex >= index || log.termAt(index) === term;
      }
      const disk = stored?.(voter);
      if (disk === undefined) return false;
      const snapshotIndex = disk.snapshot?.index ?? 0;
      return snapshotIndex >= index || disk.entries[index - snapshotIndex - 1]?.term === term;
    };
    const considered = configs.filter((config): config is Configuration => config !== undefined);
    const backed = considered.some((config) => config.voters.filter(holds).length * 2 > config.voters.length);
    if (!backed) {
      const shown = considered.map((config) => `[${config.voters.join(', ')}] of which [${config.voters.filter(holds).join(', ')}] hold it`).join(', or ');
      this.fail("a leader commits only what a majority of its configuration's voters hold", `${id} committed index ${index} (term ${term}); voters ${shown}`);
    }
  }

  private watch(id: NodeId): NodeWatch {
    let watch = this.watches.get(id);
    if (watch === undefined) {
      watch = {
        maxTerm: 0,
        commitIndex: 0,
        appliedIndex: 0,
        leading: undefined,
        becameLeader: false,
        persisted: [],
        rules: new NodeInvariantChecker(),
        view: undefined,
        effects: [],
        config: undefined,
      };
      this.watches.set(id, watch);
    }
    return watch;
  }

  /**
   * An independent copy of everything the checker remembers (an explorer checks each branch of a
   * schedule with its own: test/explore). Views, configurations and entries are immutable and shared.
   */
  clone(): SafetyChecker<N> {
    const copy = new SafetyChecker<N>(this.replay, this.seed);
    for (const [id, w] of this.watches) copy.watches.set(id, { ...w, persisted: [...w.persisted], effects: [...w.effects], rules: w.rules.clone() });
    for (const [term, id] of this.leaders) copy.leaders.set(term, id);
    for (const [index, entry] of this.committed) copy.committed.set(index, entry);
    copy.maxCommitted = this.maxCommitted;
    for (const [key, seen] of this.entriesSeen) copy.entriesSeen.set(key, { ...seen });
    for (const [term, byCandidate] of this.votes) copy.votes.set(term, new Map([...byCandidate].map(([candidate, voters]) => [candidate, new Set(voters)])));
    copy.steps = this.steps;
    copy.now = this.now;
    copy.violation = this.violation;
    return copy;
  }

  /** A failure seen outside the effects (a node's machine threw, storage failed). */
  report(rule: string, detail: string): void {
    this.fail(rule, detail);
  }

  /**
   * Record the first violation. Effects are observed inside the actor's emit (where a throw must
   * never go), so the violation is raised at the end of the step by `afterStep`.
   */
  private fail(rule: string, detail: string): void {
    this.violation ??= new SafetyViolation(rule, detail, this.seed, this.now, this.replay, this.steps);
  }

  violation: SafetyViolation | undefined;
}

function sameCommand(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function describe(entry: LogEntry): string {
  return `{term ${entry.term}, index ${entry.index}, command ${JSON.stringify(entry.command)}}`;
}

function viewOf(node: WatchedNode): NodeView {
  const snapshot = node.actor.getSnapshot();
  return { ...snapshot.context, role: snapshot.value as NodeView['role'] };
}
