/**
 * Inspection of node actors: the Stately inspector over a local WebSocket, and an in-process
 * capture for tests and dashboards. Both see sanitized snapshots and events (src/inspect/sanitize.ts).
 *
 * Off the hot path when disabled: nothing here runs unless an observer is passed as `inspect` to
 * `createRaftNode` / `createActor`; without one, XState has no inspection observer to call.
 *
 *   const inspector = createInspector();           // ws://localhost:8080, see startInspectorServer
 *   const node = createRaftNode({ …, inspect: inspector.inspect });
 *   …
 *   inspector.stop();
 *
 * The local server (`@statelyai/inspect/server`, wrapped by startInspectorServer) serves a page that
 * embeds the Stately inspector from https://stately.ai/inspect: the events stay on this machine, but
 * the inspector page itself needs the internet.
 */
import { createWebSocketInspector } from '@statelyai/inspect';
import type { AnyEventObject, InspectionEvent, Observer, Snapshot } from 'xstate';
import { transitionId } from '../chart/model.js';
import { sanitizeContext, sanitizeEvent, sanitizeSnapshot, type InspectedSnapshot } from './sanitize.js';

export { sanitizeContext, sanitizeEvent, sanitizeSnapshot, summarizeEntries, LOG_TAIL, type EntriesSummary, type InspectedSnapshot } from './sanitize.js';
export { startInspectorServer, type InspectorServer, type InspectorServerOptions } from './server.js';

/** What `createActor(…, { inspect })` and `createRaftNode({ inspect })` accept. */
export type InspectObserver = Observer<InspectionEvent>;

/** The inspection event with its snapshot and event sanitized (the actor reference is kept). */
export function sanitizeInspectionEvent(event: InspectionEvent): InspectionEvent {
  switch (event.type) {
    case '@xstate.snapshot':
    case '@xstate.microstep':
    case '@xstate.transition':
      return { ...event, event: sanitizeEvent(event.event), snapshot: sanitizeSnapshot(event.snapshot) as Snapshot<unknown> };
    case '@xstate.event':
      return { ...event, event: sanitizeEvent(event.event) };
    default:
      return event;
  }
}

// ---------------------------------------------------------------- the Stately inspector

export interface InspectorOptions {
  /** The inspector server's WebSocket address. Default ws://localhost:8080. */
  url?: string;
  /** Wait between reconnection attempts (ms). Default 5000. */
  reconnectDelay?: number;
  /** Events held while not connected (oldest dropped first). Default 200. */
  maxDeferredEvents?: number;
  /** Told when the connection fails or drops (once, until it is open again); it keeps retrying. */
  onError?: (error: Error) => void;
}

export interface RaftInspector {
  /** Pass as `inspect` to createRaftNode / createActor (one inspector can serve many nodes). */
  readonly inspect: InspectObserver;
  readonly url: string;
  readonly state: 'connecting' | 'open' | 'closed' | 'stopped';
  /** Connections attempted so far. */
  readonly attempts: number;
  /** Close the connection and stop retrying; later events are dropped. */
  stop(): void;
}

/** The event types the Stately inspector draws; the others (microsteps, actions) are not sent. */
const STATELY_TYPES: ReadonlySet<InspectionEvent['type']> = new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);

/** The slice of a `ws` WebSocket this file touches. */
interface Socket {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(): void;
}

/**
 * An inspector that sends sanitized inspection events of every actor it is given to a local
 * inspector server, using @statelyai/inspect's WebSocket inspector.
 *
 * The connection is supervised here rather than by the library: in @statelyai/inspect 0.7.2 a
 * failed connection retries every 5 s forever — even after `stop()` — which keeps a process that
 * should exit alive. Here a retry happens only until `stop()`, on an unref'd timer, and also after
 * an open connection drops (the library would give up).
 */
export function createInspector(options: InspectorOptions = {}): RaftInspector {
  const url = options.url ?? 'ws://localhost:8080';
  const reconnectDelay = options.reconnectDelay ?? 5000;
  const stately = createWebSocketInspector({
    url,
    autoStart: false,
    ...(options.maxDeferredEvents !== undefined ? { maxDeferredEvents: options.maxDeferredEvents } : {}),
    // Snapshots and events arrive here already sanitized; '@xstate.actor' events are turned into
    // the actor's current snapshot by the library, so its context goes through this too.
    sanitizeContext: (context) => sanitizeContext(context) as typeof context,
    sanitizeEvent: (event) => sanitizeEvent(event),
  });
  let state: RaftInspector['state'] = 'connecting';
  let attempts = 0;
  let socket: Socket | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let reported = false;
  const noop = () => {};

  const connect = () => {
    state = 'connecting';
    try {
      stately.start();
    } catch (error) {
      fail(error instanceof Error ? error : new Error(String(error)));
      scheduleRetry();
    }
  };
  const fail = (error: Error) => {
    if (reported) return;
    reported = true;
    options.onError?.(error);
  };
  const scheduleRetry = () => {
    if (state === 'stopped' || retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      if (state !== 'stopped') connect();
    }, reconnectDelay);
    retry.unref?.();
  };
  // The adapter assigns its socket to `ws` and its handlers right after; take them over in a
  // microtask, before any network event can arrive.
  Object.defineProperty(stately.adapter, 'ws', {
    configurable: true,
    enumerable: true,
    get: () => socket,
    set: (ws: Socket) => {
      socket = ws;
      attempts++;
      queueMicrotask(() => supervise(ws));
    },
  });
  const supervise = (ws: Socket) => {
    if (state === 'stopped') {
      ws.onerror = noop;
      ws.onclose = null;
      ws.close();
      return;
    }
    const libraryOpen = ws.onopen;
    const libraryClose = ws.onclose;
    ws.onopen = (event) => {
      state = 'open';
      reported = false;
      libraryOpen?.call(ws, event); // sends the events deferred while connecting
    };
    ws.onerror = (event) => fail(new Error(`inspector server ${url}: ${(event as { message?: string }).message ?? 'connection error'}`));
    ws.onclose = (event) => {
      libraryClose?.call(ws, event);
      if (socket !== ws || state === 'stopped') return;
      if (state === 'open') fail(new Error(`inspector server ${url} closed the connection`));
      state = 'closed';
      scheduleRetry();
    };
  };

  const inspect: InspectObserver = {
    next: (event) => {
      if (state === 'stopped' || !STATELY_TYPES.has(event.type)) return;
      stately.inspect.next?.(scopeToNode(sanitizeInspectionEvent(event)));
    },
  };
  connect();
  return {
    inspect,
    url,
    get state() {
      return state;
    },
    get attempts() {
      return attempts;
    },
    stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      if (retry !== undefined) clearTimeout(retry);
      retry = undefined;
      if (socket !== undefined) {
        socket.onerror = noop;
        socket.onclose = null;
      }
      stately.stop();
    },
  };
}

/** An actor reference as the library reads it when it converts an event. */
interface ActorLike {
  readonly sessionId: string;
  readonly id?: string;
  readonly _parent?: ActorLike;
  readonly logic?: unknown;
  getSnapshot(): unknown;
  send(event: AnyEventObject): void;
}

/**
 * Session ids (`x:0`, `x:1`, …) restart in every process, so the nodes of a cluster — one process
 * each — would all be `x:0` to one inspector. Name each actor after its node instead: the session
 * id gets the node id as a prefix (`n1/x:0`) and a node's root actor is shown as `n1`. The library
 * reads these properties later (it converts events on a timer), when the node's context exists.
 */
function scopeToNode(event: InspectionEvent): InspectionEvent {
  const scoped: Record<string, unknown> = { ...event, actorRef: facade(event.actorRef as ActorLike) };
  if (event.type === '@xstate.event' && event.sourceRef !== undefined) scoped.sourceRef = facade(event.sourceRef as ActorLike);
  Object.defineProperty(scoped, 'rootId', { enumerable: true, get: () => scopeId(event.actorRef as ActorLike, event.rootId) });
  return scoped as unknown as InspectionEvent;
}

function facade(ref: ActorLike): ActorLike {
  return {
    get sessionId() {
      return scopeId(ref, ref.sessionId);
    },
    get id() {
      const isUnnamedRoot = ref._parent === undefined && (ref.id === undefined || ref.id === ref.sessionId);
      return (isUnnamedRoot ? nodeLabel(ref) : undefined) ?? ref.id;
    },
    get _parent() {
      return ref._parent === undefined ? undefined : facade(ref._parent);
    },
    get logic() {
      return ref.logic;
    },
    getSnapshot: () => ref.getSnapshot(),
    send: (e) => ref.send(e),
  };
}

function scopeId(ref: ActorLike, id: string): string {
  const label = nodeLabel(ref);
  return label === undefined ? id : `${label}/${id}`;
}

/** The node id of the actor system `ref` belongs to: its root actor's context `id`, if a string. */
function nodeLabel(ref: ActorLike): string | undefined {
  let root = ref;
  while (root._parent !== undefined) root = root._parent;
  return nodeIdOf(currentContext(root)).nodeId;
}

// ---------------------------------------------------------------- capture in process

/** One inspection event as captured: plain data, sanitized, safe to keep and serialize. */
export interface CapturedInspectionEvent {
  readonly type: InspectionEvent['type'];
  /** The actor's session id (`node.actor.sessionId`). */
  readonly sessionId: string;
  readonly rootId: string;
  /** The Raft node's id, when the actor is a node (its context's `id`). */
  readonly nodeId?: string;
  /** '@xstate.event': who sent it (a session id), if an actor did. */
  readonly sourceId?: string;
  readonly event?: AnyEventObject;
  readonly snapshot?: InspectedSnapshot;
  /** '@xstate.microstep': the transitions taken, as chart transition ids (`follower:timeout.election:1`). */
  readonly transitions?: readonly string[];
  /** '@xstate.action': the action's name. */
  readonly action?: string;
}

export interface CapturingInspector {
  readonly inspect: InspectObserver;
  /** Captured events, oldest first. */
  readonly events: CapturedInspectionEvent[];
  clear(): void;
}

export interface CaptureOptions {
  /** Event types to keep. Default: actor, event, snapshot and microstep. */
  types?: readonly InspectionEvent['type'][];
  /** Keep at most this many events, dropping the oldest. Default 100 000. */
  limit?: number;
}

/** An inspector that records sanitized inspection events in memory (tests, dashboards). */
export function createCapturingInspector(options: CaptureOptions = {}): CapturingInspector {
  const types: ReadonlySet<string> = new Set(options.types ?? ['@xstate.actor', '@xstate.event', '@xstate.snapshot', '@xstate.microstep']);
  const limit = options.limit ?? 100_000;
  const events: CapturedInspectionEvent[] = [];
  return {
    events,
    clear: () => void events.splice(0),
    inspect: {
      next: (event) => {
        if (!types.has(event.type)) return;
        events.push(capture(event));
        if (events.length > limit) events.splice(0, events.length - limit);
      },
    },
  };
}

function capture(event: InspectionEvent): CapturedInspectionEvent {
  const base = { type: event.type, sessionId: event.actorRef.sessionId, rootId: event.rootId };
  switch (event.type) {
    case '@xstate.snapshot':
    case '@xstate.transition': {
      const snapshot = sanitizeSnapshot(event.snapshot);
      return { ...base, ...nodeIdOf(snapshot.context), event: sanitizeEvent(event.event), snapshot };
    }
    case '@xstate.microstep': {
      const snapshot = sanitizeSnapshot(event.snapshot);
      return { ...base, ...nodeIdOf(snapshot.context), event: sanitizeEvent(event.event), snapshot, transitions: event._transitions.map(transitionId) };
    }
    case '@xstate.event':
      return {
        ...base,
        ...nodeIdOf(currentContext(event.actorRef)),
        ...(event.sourceRef !== undefined ? { sourceId: event.sourceRef.sessionId } : {}),
        event: sanitizeEvent(event.event),
      };
    case '@xstate.actor':
      // Sent while the actor is being constructed: it has no snapshot yet.
      return base;
    case '@xstate.action':
      return { ...base, ...nodeIdOf(currentContext(event.actorRef)), action: event.action.type };
  }
}

function nodeIdOf(context: unknown): { nodeId?: string } {
  const id = typeof context === 'object' && context !== null ? (context as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? { nodeId: id } : {};
}

function safeSnapshot(actorRef: Pick<ActorLike, 'getSnapshot'>): unknown {
  try {
    return actorRef.getSnapshot();
  } catch {
    return undefined;
  }
}

function currentContext(actorRef: Pick<ActorLike, 'getSnapshot'>): unknown {
  const snapshot = safeSnapshot(actorRef);
  return typeof snapshot === 'object' && snapshot !== null ? (snapshot as { context?: unknown }).context : undefined;
}
