/**
 * Paths generated from the machine itself by @xstate/graph, turned into what a replay needs: the
 * events to send and the abstract state predicted after each of them.
 */
import { getShortestPaths, getSimplePaths, type StatePath } from '@xstate/graph';
import type { AnyStateMachine, EventObject, Snapshot } from 'xstate';
import { raftNodeMachine, type RaftEvent, type RaftNodeMachine } from '../../machines/raft-node.js';
import { modelEvents, outOfScope, serializeRaftState, type ModelScope, type RaftSnapshot } from './raft-model.js';

export interface ModelPath {
  readonly scope: ModelScope;
  readonly generator: 'shortest' | 'simple' | 'edge';
  readonly events: readonly RaftEvent<unknown>[];
  /** The abstract state predicted after starting the node (index 0) and after each event. */
  readonly states: readonly string[];
}

// The graph helpers' types reject a machine that declares emitted events; this cast is the only
// place the tests look at the machine through a looser type.
function forGraph(machine: RaftNodeMachine): AnyStateMachine {
  return machine as unknown as AnyStateMachine;
}

interface Edge {
  readonly event: RaftEvent<unknown>;
  readonly to: string;
}

/**
 * Traversal options for a scope, and every edge the traversal computes. The graph hands each
 * transition it computes to `serializeState` as (state, event, previous state); recording them
 * gives the edges that no shortest path contains: self-loops (a transition that leaves the
 * abstract state unchanged — a stale request rejected, a proposal refused, a heartbeat sent; no
 * shortest or simple path can contain one) and cross edges (to a state that a shorter path reaches).
 */
function traversal(scope: ModelScope) {
  const serialized = new WeakMap<object, string>();
  const serialize = (snapshot: object): string => {
    let s = serialized.get(snapshot);
    if (s === undefined) serialized.set(snapshot, (s = serializeRaftState(snapshot as RaftSnapshot, scope)));
    return s;
  };
  /** from → serialized event → edge. */
  const edges = new Map<string, Map<string, Edge>>();
  return {
    edges,
    options: {
      input: scope.input,
      events: (snapshot: unknown) => modelEvents(snapshot as RaftSnapshot, scope) as EventObject[],
      serializeState: (snapshot: unknown, event: EventObject | undefined, prev?: unknown) => {
        const to = serialize(snapshot as object);
        if (event !== undefined && prev !== undefined) {
          const from = serialize(prev as object);
          let out = edges.get(from);
          if (out === undefined) edges.set(from, (out = new Map()));
          out.set(JSON.stringify(event), { event: event as RaftEvent<unknown>, to });
        }
        return to;
      },
      // Explicit: without it exploration would stop only at `toState`, which we do not use.
      stopWhen: (snapshot: unknown) => outOfScope(snapshot as RaftSnapshot, scope),
    },
  };
}

function toModelPath(scope: ModelScope, generator: ModelPath['generator'], path: StatePath<Snapshot<unknown>, EventObject>): ModelPath {
  // steps[0] is the initial state under the 'xstate.init' event; each later step holds an event
  // and the state it leads to.
  return {
    scope,
    generator,
    events: path.steps.slice(1).map((step) => step.event as RaftEvent<unknown>),
    states: path.steps.map((step) => serializeRaftState(step.state as RaftSnapshot, scope)),
  };
}

/**
 * One path to every abstract state reachable within the scope, each followed by every self-loop
 * of the state it reaches (predicted to stay there), so every edge that keeps a state is taken
 * too. With `scope.everyEdge`, also one path per cross edge: the shortest path to its source,
 * then its event — so every edge of the explored graph is replayed.
 */
export function shortestPaths(scope: ModelScope, machine: RaftNodeMachine = raftNodeMachine): ModelPath[] {
  const { options, edges } = traversal(scope);
  const tree = getShortestPaths(forGraph(machine), options).map((p) => toModelPath(scope, 'shortest', p));
  const pathTo = new Map(tree.map((path) => [path.states.at(-1) as string, path]));
  const withLoops = tree.map((path) => {
    const end = path.states.at(-1) as string;
    const loops = [...(edges.get(end)?.values() ?? [])].filter((edge) => edge.to === end);
    return { ...path, events: [...path.events, ...loops.map((l) => l.event)], states: [...path.states, ...loops.map(() => end)] };
  });
  if (scope.everyEdge !== true) return withLoops;
  const crossing: ModelPath[] = [];
  for (const [from, out] of edges) {
    const head = pathTo.get(from);
    if (head === undefined) continue;
    for (const [key, edge] of out) {
      const tree = pathTo.get(edge.to);
      const isTreeEdge = tree !== undefined && tree.states.at(-2) === from && JSON.stringify(tree.events.at(-1)) === key;
      if (edge.to === from || isTreeEdge) continue;
      crossing.push({ ...head, generator: 'edge', events: [...head.events, edge.event], states: [...head.states, edge.to] });
    }
  }
  return [...withLoops, ...crossing];
}

/** Every path that visits no abstract state twice; keep the scope small, their number explodes. */
export function simplePaths(scope: ModelScope, machine: RaftNodeMachine = raftNodeMachine): ModelPath[] {
  return getSimplePaths(forGraph(machine), traversal(scope).options).map((p) => toModelPath(scope, 'simple', p));
}

/**
 * Drops paths whose events are a prefix of another path's (of the same scope): replaying the
 * longer one checks every step of the shorter one.
 */
export function withoutPrefixes(paths: readonly ModelPath[]): ModelPath[] {
  const eventIds = new Map<string, number>();
  const keyOf = (path: ModelPath, length: number) =>
    [
      path.scope.name,
      ...path.events.slice(0, length).map((event) => {
        const json = JSON.stringify(event);
        let id = eventIds.get(json);
        if (id === undefined) eventIds.set(json, (id = eventIds.size));
        return id;
      }),
    ].join(',');
  const prefixes = new Set<string>();
  for (const path of paths) for (let length = 0; length < path.events.length; length++) prefixes.add(keyOf(path, length));
  const kept = new Map<string, ModelPath>();
  for (const path of paths) {
    const key = keyOf(path, path.events.length);
    if (!prefixes.has(key) && !kept.has(key)) kept.set(key, path);
  }
  return [...kept.values()];
}
