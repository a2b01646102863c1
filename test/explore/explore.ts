/**
 * Exhaustive exploration of a three-node cluster (test/explore/cluster.ts), breadth-first to a
 * bounded depth, every reached state deduplicated by its abstraction (`stateKey`) and every step
 * checked (the cluster's `step` throws on a broken rule).
 *
 * Why our own BFS and not @xstate/graph: per state they cost the same — measured on a scope small
 * enough for the graph to finish (after a first term, n3 cut off, ≤ 2 messages in flight, one read:
 * 9 803 states in 10.9 s here, 11 715 in 10.7 s by getShortestPaths over the same cluster as actor
 * logic), because the machine's transitions dominate. What decides is the rest: the graph's
 * traversals have no depth bound (`limit` throws "Traversal limit exceeded" rather than return what
 * they found, and a depth counter in the state would defeat deduplication), so they must exhaust a
 * space that the bounds alone keep finite; they keep every state's snapshot and every edge until
 * the whole graph is built (the CI scope at depth 14 already holds 2.3 GB here with only a
 * frontier kept). This BFS keeps one hash per
 * visited state and only the frontier's states, stops at the first violation with the schedule
 * that reaches it (a linked list of actions shared between states), and skips a state reached
 * again with no more of its budgets left. It drives the machine through its own pure `transition`
 * with one inert actor scope (cluster.ts: about 3× faster a step than xstate's `transition()`,
 * which builds an actor per call).
 *
 * The alphabet, at every state: deliver, drop or duplicate any message in flight (each distinct
 * message once); fire any pending timer of any node (election, heartbeat); crash and restart any
 * node from its disk; propose a command to, or ask a read of, a node that is leader. Bounds keep it
 * finite: at most `maxProposals` proposals, `maxReads` reads, `maxRestarts` restarts and
 * `maxDuplicates` duplications in a schedule; a state in which a term passes `maxTerm` or more than
 * `maxInFlight` messages are in flight is checked but not explored further. A scope may also cut a
 * node off for the whole schedule (`isolated`). Visited states are deduplicated by their abstract
 * key (cluster.ts: stateKey, symmetric in the node names) and by what the schedule has left of its
 * budgets (a state reached again with no more left is not explored again).
 */
import type { RaftNodeSnapshot } from '../../machines/raft-node.js';
import type { NodeId } from '../../src/core/types.js';
import { Cluster, ExploreViolation, NODES, stateKey, type ClusterAction, type ClusterSetup, type ClusterState, type NodeState } from './cluster.js';

export interface Bounds {
  /** States in which some node's term is above this are not explored further. */
  readonly maxTerm: number;
  readonly maxProposals: number;
  readonly maxReads: number;
  readonly maxRestarts: number;
  readonly maxDuplicates: number;
  /** States with more messages in flight are not explored further. */
  readonly maxInFlight: number;
}

export const DEFAULT_BOUNDS: Bounds = { maxTerm: 3, maxProposals: 1, maxReads: 1, maxRestarts: 1, maxDuplicates: 1, maxInFlight: 3 };

export interface ExploreOptions extends ClusterSetup {
  readonly depth: number;
  readonly bounds?: Partial<Bounds>;
}

export interface ExploreResult {
  readonly states: number;
  readonly transitions: number;
  /** The depth explored: the bound, or less if no new state was left to explore. */
  readonly depth: number;
  readonly violation?: { readonly rule: string; readonly detail: string; readonly actions: readonly ClusterAction[] };
}

interface Path {
  readonly action: ClusterAction;
  readonly prev: Path | undefined;
}

function actionsOf(path: Path | undefined): ClusterAction[] {
  const actions: ClusterAction[] = [];
  for (let p = path; p !== undefined; p = p.prev) actions.push(p.action);
  return actions.reverse();
}

/** 53-bit string hash (cyrb53): visited states are kept as numbers, not as their keys. */
function hash(key: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** What a schedule has used of its budgets, four bits each. */
function usage(state: ClusterState): number {
  return state.proposals | (state.reads << 4) | (state.restarts << 8) | (state.duplicates << 12);
}

/** `a` has used no more of any budget than `b`: from one abstract state, it can do all that `b` can. */
function usesNoMore(a: number, b: number): boolean {
  for (let shift = 0; shift < 16; shift += 4) if (((a >>> shift) & 15) > ((b >>> shift) & 15)) return false;
  return true;
}

/**
 * Visited states: the hash of the abstract state → the budget usages it was reached with, none
 * using no more than another. A state reached again is new only if no earlier visit (at this depth
 * or above, so with at least as many steps left) had used no more of every budget.
 */
class Visited {
  private readonly usages = new Map<number, number[]>();
  size = 0;

  add(state: ClusterState): boolean {
    const h = hash(stateKey(state));
    const used = usage(state);
    const known = this.usages.get(h);
    if (known === undefined) {
      this.usages.set(h, [used]);
    } else {
      if (known.some((k) => usesNoMore(k, used))) return false;
      const kept = known.filter((k) => !usesNoMore(used, k));
      kept.push(used);
      this.usages.set(h, kept);
      this.size -= known.length - kept.length + 1;
    }
    this.size++;
    return true;
  }
}

function withinBounds(state: ClusterState, bounds: Bounds): boolean {
  if (state.inFlight.length > bounds.maxInFlight) return false;
  for (const id of NODES) if ((state.nodes[id] as NodeState).snapshot.context.currentTerm > bounds.maxTerm) return false;
  return true;
}

/** Every action the alphabet offers in `state`. */
export function enabledActions(state: ClusterState, bounds: Bounds, isolated: readonly NodeId[] = []): ClusterAction[] {
  const actions: ClusterAction[] = [];
  let previous: string | undefined;
  for (const e of state.inFlight) {
    if (e.id === previous) continue; // copies of one message lead to the same states
    previous = e.id;
    actions.push({ type: 'deliver', to: e.to, message: e.message }, { type: 'drop', to: e.to, message: e.message });
    if (state.duplicates < bounds.maxDuplicates) actions.push({ type: 'duplicate', to: e.to, message: e.message });
  }
  for (const id of NODES) {
    if (isolated.includes(id)) continue;
    const node = state.nodes[id] as NodeState;
    for (const timer of Object.keys(node.timers).sort()) actions.push({ type: 'timeout', node: id, timer });
    if (state.restarts < bounds.maxRestarts) actions.push({ type: 'restart', node: id });
    if (isLeader(node.snapshot)) {
      if (state.proposals < bounds.maxProposals) actions.push({ type: 'propose', node: id });
      if (state.reads < bounds.maxReads) actions.push({ type: 'read', node: id });
    }
  }
  return actions;
}

function isLeader(snapshot: RaftNodeSnapshot): boolean {
  return snapshot.value === 'leader';
}

/** Breadth-first to `options.depth`; stops at the first violation, with the actions that reach it. */
export function explore(options: ExploreOptions): ExploreResult {
  const bounds = { ...DEFAULT_BOUNDS, ...options.bounds };
  const cluster = new Cluster(options);
  let transitions = 0;
  const found = (error: unknown, path: Path | undefined, depth: number): ExploreResult => {
    if (!(error instanceof ExploreViolation)) throw error;
    return { states: visited.size, transitions, depth, violation: { rule: error.rule, detail: error.detail, actions: actionsOf(path) } };
  };
  const visited = new Visited();
  let initial: ClusterState;
  try {
    initial = cluster.initial();
  } catch (error) {
    return found(error, undefined, 0);
  }
  visited.add(initial);
  let frontier: { state: ClusterState; path: Path | undefined }[] = [{ state: initial, path: undefined }];
  let depth = 0;
  while (depth < options.depth && frontier.length > 0) {
    depth++;
    const next: typeof frontier = [];
    for (const { state, path } of frontier) {
      if (!withinBounds(state, bounds)) continue;
      for (const action of enabledActions(state, bounds, options.isolated)) {
        transitions++;
        const reached: Path = { action, prev: path };
        let after: ClusterState;
        try {
          after = cluster.step(state, action);
        } catch (error) {
          return found(error, reached, depth);
        }
        if (!visited.add(after)) continue;
        if (depth < options.depth) next.push({ state: after, path: reached });
      }
    }
    frontier = next;
  }
  return { states: visited.size, transitions, depth };
}

/** The line `npm run test:explore` prints. */
export function exploredLine(result: ExploreResult): string {
  return `explored: states ${result.states}, transitions ${result.transitions}, depth ${result.depth}, violations ${result.violation === undefined ? 0 : 1}`;
}

export function describeBounds(bounds: Partial<Bounds> = {}): string {
  const b = { ...DEFAULT_BOUNDS, ...bounds };
  return `bounds: 3 nodes, terms ≤ ${b.maxTerm}, ≤ ${b.maxProposals} proposal(s), ≤ ${b.maxReads} read(s), ≤ ${b.maxRestarts} restart(s), ≤ ${b.maxDuplicates} duplicate(s), ≤ ${b.maxInFlight} messages in flight`;
}
