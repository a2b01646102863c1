/**
 * The cluster dashboard page: a picture of a live Raft cluster drawn only from the server's
 * Server-Sent Events. Events update DashboardState and mark what changed; one render per
 * animation frame redraws only that. Messages go straight to the ring's animation. The
 * coordination state and the agents are polled (GET /api/coord, /api/agents) once a second, when
 * the server says it has them.
 */
import { AgentsPanel, type AgentAction } from './agents.js';
import { api, describeError, get, post } from './api.js';
import { NodeCards, type NodeAction } from './cards.js';
import { Chart } from './chart.js';
import { ClusterControls } from './controls.js';
import { attr, byId, text } from './dom.js';
import { CoordPanel } from './coord.js';
import { connectEvents, type EventType } from './events.js';
import { LogPanel } from './log-panel.js';
import { Ring } from './ring.js';
import { SnapshotTransfers } from './snapshot.js';
import { DashboardState } from './state.js';
import { Timeline } from './timeline.js';
import type { AgentView, ClusterEvent, CoordView, LeaderEvent, LogEvent, NodeEvent, RpcEvent } from './types.js';

/** What the browser test reads (times are performance.now(): ms since navigation start). */
interface DashboardProbe {
  eventsReceived: number;
  lastEventAt: number | null;
  firstRenderAt: number | null;
  /** Frames in which something was redrawn (message dots animate on their own). */
  renders: number;
  readonly dotsShown: number;
  readonly dotsDropped: number;
  readonly dotsThinned: number;
  readonly dotsInFlight: number;
  /** Dots drawn as failed (to a node that is down, over a cut), and failed messages not drawn. */
  readonly dotsFailed: number;
  readonly failedThinned: number;
}

declare global {
  interface Window {
    __dashboard: DashboardProbe;
  }
}

const state = new DashboardState();
const connection = byId('connection');
const summary = byId('summary');
const alertBar = byId('alert');

const report = (level: 'info' | 'error', line: string) => {
  state.addLog({ level, text: line, time: Date.now() });
  schedule();
};

const select = (id: string) => {
  state.select(state.selected === id ? null : id);
  schedule();
};

const nodeAction = async (id: string, action: NodeAction, button: HTMLButtonElement) => {
  button.classList.add('pending');
  button.disabled = true;
  const result = await post(api.node(id, action));
  button.classList.remove('pending');
  if (!result.ok) report('error', describeError(`${action} ${id}`, result));
  // Re-enable per the node's state as the stream reports it, not as we hope it is.
  state.dirtyNodes.add(id);
  state.dirty.add('nodes');
  schedule();
};

const agentAction = async (name: string, action: AgentAction, button: HTMLButtonElement) => {
  button.classList.add('pending');
  button.disabled = true;
  const result = await post(api.agent(name, action));
  button.classList.remove('pending');
  if (!result.ok) report('error', describeError(`${action} ${name}`, result));
  // What it did shows at the next read, asked for now.
  await poll();
};

const cards = new NodeCards(byId('cards'), (id, action, button) => void nodeAction(id, action, button), select);
const ring = new Ring(byId('ring'), select);
const transfers = new SnapshotTransfers();
const probe: DashboardProbe = {
  eventsReceived: 0,
  lastEventAt: null,
  firstRenderAt: null,
  renders: 0,
  get dotsShown() {
    return ring.stats.dotsShown;
  },
  get dotsDropped() {
    return ring.stats.dotsDropped;
  },
  get dotsThinned() {
    return ring.stats.dotsThinned;
  },
  get dotsInFlight() {
    return ring.dotsInFlight;
  },
  get dotsFailed() {
    return ring.stats.dotsFailed;
  },
  get failedThinned() {
    return ring.stats.failedThinned;
  },
};
window.__dashboard = probe;
const chart = new Chart(byId('chart'), byId('chart-tools'));
const timeline = new Timeline(byId('timeline'));
const logPanel = new LogPanel(byId('log'));
const coordPanel = new CoordPanel(byId('coord-panel'), byId('coord'));
const agentsPanel = new AgentsPanel(byId('agents-panel'), byId('agents'), (name, action, button) => void agentAction(name, action, button));
const controls = new ClusterControls(byId('controls'), state, report, () => {
  state.dirty.add('cluster');
  schedule();
});

// ---- rendering: at most once per frame, only the panels that changed
let frame = 0;
function schedule(): void {
  if (frame === 0) frame = requestAnimationFrame(flush);
}

function flush(): void {
  frame = 0;
  const dirty = state.dirty;
  if (dirty.has('nodes') || dirty.has('cluster') || dirty.has('selection')) {
    cards.render(state);
    ring.render(state);
    chart.render(state);
    renderSummary();
    renderAlert();
  }
  if (dirty.has('cluster')) controls.render();
  if (dirty.has('cluster') || dirty.has('coord') || dirty.has('agents')) coordPanel.render(state);
  else if (dirty.has('clock')) coordPanel.tick(state);
  if (dirty.has('cluster') || dirty.has('agents')) agentsPanel.render(state);
  if (dirty.has('cluster') || dirty.has('coord') || dirty.has('agents'))
    byId('coord-columns').hidden = state.cluster?.controls.coord !== true && state.cluster?.controls.agents !== true;
  if (dirty.has('timeline')) timeline.render(state);
  if (dirty.has('log')) logPanel.render(state);
  if (dirty.has('connection')) renderConnection();
  dirty.clear();
  probe.renders++;
  if (probe.firstRenderAt === null && state.nodes.size > 0) {
    probe.firstRenderAt = performance.now();
    // The chart is big (hundreds of text nodes): laying it out would delay the first picture.
    loadChart();
  }
}

function loadChart(): void {
  void chart.load().then(() => {
    state.dirty.add('nodes');
    schedule();
  });
}

function renderSummary(): void {
  const up = state.upNodes();
  const refused = state.refusedNodes();
  const leader = state.leader();
  const total = state.ids().length;
  const term = Math.max(0, ...up.map((n) => n.term));
  // Nodes that refuse the dashboard are neither up nor down as far as it can tell: a cluster it may
  // not watch is not "0 up, no leader".
  const seen = up.length > 0 || refused.length === 0;
  const members = state.cluster?.members;
  const parts = [
    `${total} nodes`,
    members !== undefined &&
      `${members.voters.length} voters${members.learners.length > 0 ? ` + ${members.learners.length} learner${members.learners.length === 1 ? '' : 's'}` : ''}`,
    seen && `${up.length} up`,
    refused.length > 0 && `${refused.length === total ? 'all' : refused.length} refuse${refused.length === 1 ? 's' : ''} the dashboard (401)`,
    seen && (leader !== undefined ? `leader ${leader.id}` : 'no leader'),
    seen && `term ${term}`,
  ];
  text(summary, total === 0 ? '' : parts.filter((p) => p !== false).join(' · '));
}

/** Why the dashboard sees nothing, said where nobody can miss it (the server's advice, per cause). */
function renderAlert(): void {
  const byAdvice = new Map<string, string[]>();
  for (const n of state.refusedNodes()) byAdvice.set(n.refused, [...(byAdvice.get(n.refused) ?? []), n.id]);
  const lines = [...byAdvice].map(([advice, ids]) => `${ids.join(', ')} ${ids.length === 1 ? 'refuses' : 'refuse'} the dashboard (401 unauthorized): ${advice}.`);
  text(alertBar, lines.join(' '));
  alertBar.hidden = lines.length === 0;
}

let retryNote = '';
/** Until the stream first opens or fails, the page says "connecting", not "disconnected". */
let everTried = false;
function renderConnection(): void {
  const status = state.connected ? 'connected' : everTried ? 'disconnected' : 'connecting';
  text(connection, status);
  attr(connection, 'data-status', status);
  attr(connection, 'title', state.connected ? 'Live: updates arrive as they happen' : everTried ? `Lost the event stream${retryNote}` : 'Opening the event stream…');
  document.body.classList.toggle('offline', status === 'disconnected');
}

// ---- the event stream
function handle(type: EventType, data: unknown): void {
  probe.eventsReceived++;
  probe.lastEventAt = performance.now();
  if (data === null || typeof data !== 'object') return;
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'message': {
      if (typeof d['from'] !== 'string' || typeof d['to'] !== 'string' || typeof d['type'] !== 'string') return;
      const m = data as RpcEvent;
      const words = transfers.observe(m, Date.now());
      ring.message(m, words);
      // Dots animate on their own; only a snapshot transfer's line in the cluster log needs a redraw.
      if (words?.line === undefined) return;
      state.addLog({ level: 'info', text: words.line, time: Date.now() });
      break;
    }
    case 'cluster':
      if (Array.isArray(d['nodes'])) state.setCluster(data as ClusterEvent);
      break;
    case 'node':
      if (typeof d['id'] === 'string' && typeof d['up'] === 'boolean') state.setNode(data as NodeEvent);
      break;
    case 'leader':
      if (typeof d['term'] === 'number') state.addLeader(data as LeaderEvent);
      break;
    case 'log':
      if (typeof d['text'] === 'string') state.addLog(data as LogEvent);
      break;
  }
  schedule();
}

// ---- the coordination state and the agents: read once a second (and right after a control)
const POLL_MS = 1000;
const CLOCK_MS = 250;

async function poll(): Promise<void> {
  const controls = state.cluster?.controls;
  const [coord, agents] = await Promise.all([controls?.coord === true ? get(api.coord) : undefined, controls?.agents === true ? get(api.agents) : undefined]);
  if (coord !== undefined) {
    if (coord.ok && isCoordView(coord.body)) state.setCoord(coord.body, null, Date.now());
    else state.setCoord(null, coord.ok ? 'an answer the page does not understand' : describeError('GET /api/coord', coord.result), Date.now());
  }
  if (agents !== undefined) {
    if (agents.ok && Array.isArray(agents.body)) state.setAgents(agents.body as AgentView[], null);
    else state.setAgents(null, agents.ok ? 'an answer the page does not understand' : describeError('GET /api/agents', agents.result));
  }
  schedule();
}

function isCoordView(body: unknown): body is CoordView {
  const b = body as Partial<CoordView> | null;
  return b !== null && typeof b === 'object' && Array.isArray(b.leases) && Array.isArray(b.queues) && typeof b.now === 'number';
}

const pollLoop = () => void poll().finally(() => setTimeout(pollLoop, POLL_MS));
pollLoop();
setInterval(() => {
  if (state.coord === null) return;
  state.dirty.add('clock');
  schedule();
}, CLOCK_MS);

connectEvents(api.events, {
  event: handle,
  open() {
    everTried = true;
    state.setConnected(true);
    if (probe.firstRenderAt !== null && !chart.loaded) loadChart(); // a failed load is retried on reconnect
    schedule();
  },
  error(retryInMs) {
    everTried = true;
    retryNote = `; reconnecting in ${(retryInMs / 1000).toFixed(1)} s`;
    state.setConnected(false);
    state.dirty.add('connection');
    schedule();
  },
});

state.dirty.add('connection').add('cluster');
schedule();
