/**
 * The page's picture of the cluster, built only from the server's events (never from what a
 * button hoped would happen). Each change marks the panels that must redraw; main.ts redraws
 * them once per animation frame, so a burst of events costs one render.
 */
import type { AgentView, ClusterEvent, ConfigEntry, CoordView, LeaderEvent, LogEvent, Membership, NodeDown, NodeEvent, NodeUp } from './types.js';

/** `clock`: only the time left on leases and claims (it ticks between polls). */
export type Panel = 'cluster' | 'nodes' | 'timeline' | 'log' | 'connection' | 'selection' | 'coord' | 'agents' | 'clock';

const MAX_TIMELINE = 40;
const MAX_LOG = 300;

export class DashboardState {
  cluster: ClusterEvent | null = null;
  readonly nodes = new Map<string, NodeEvent>();
  readonly leaders: LeaderEvent[] = [];
  readonly log: LogEvent[] = [];
  private readonly logKeys = new Set<string>();
  connected = false;
  /** The node whose state the statechart singles out (hover or click on a card or ring node). */
  selected: string | null = null;
  readonly dirty = new Set<Panel>();
  /** Node ids whose card must redraw. */
  readonly dirtyNodes = new Set<string>();
  /** The last coordination state read (GET /api/coord), and when, on this page's clock. */
  coord: { view: CoordView; readAt: number } | null = null;
  /** Why the last read of it failed, while it does. */
  coordError: string | null = null;
  agents: AgentView[] | null = null;
  agentsError: string | null = null;

  /** Ids in the server's order; nodes seen in `node` events but not listed yet come last. */
  ids(): string[] {
    const listed = this.cluster?.nodes ?? [];
    return [...listed, ...[...this.nodes.keys()].filter((id) => !listed.includes(id))];
  }

  upNodes(): NodeUp[] {
    return this.ids()
      .map((id) => this.nodes.get(id))
      .filter((n): n is NodeUp => n?.up === true);
  }

  /** Nodes that answered 401: alive, but they refuse the dashboard (neither up nor down to us). */
  refusedNodes(): (NodeDown & { refused: string })[] {
    return this.ids()
      .map((id) => this.nodes.get(id))
      .filter((n): n is NodeDown & { refused: string } => n !== undefined && !n.up && n.refused !== undefined);
  }

  /** The leader of the highest term any live node reports itself leader in. */
  leader(): NodeUp | undefined {
    let best: NodeUp | undefined;
    for (const n of this.upNodes()) if (n.role === 'leader' && (best === undefined || n.term > best.term)) best = n;
    return best;
  }

  /** Where `id` stands in the configuration in force (see ClusterEvent.members). */
  membership(id: string): Membership {
    const members = this.cluster?.members;
    if (members === undefined) return 'unknown';
    if (members.voters.includes(id)) return 'voter';
    if (members.learners.includes(id)) return 'learner';
    return this.cluster?.removed?.includes(id) === true ? 'removed' : 'outsider';
  }

  /** The configuration entry at `index` of term `term`, if that entry is one the server has seen. */
  configAt(index: number, term: number): ConfigEntry | undefined {
    return this.cluster?.configs?.find((c) => c.index === index && c.term === term);
  }

  setCluster(event: ClusterEvent): void {
    this.cluster = event;
    for (const id of [...this.nodes.keys()]) if (!event.nodes.includes(id)) this.nodes.delete(id);
    this.dirty.add('cluster').add('nodes');
    for (const id of event.nodes) this.dirtyNodes.add(id);
  }

  setNode(event: NodeEvent): void {
    this.nodes.set(event.id, event);
    this.dirtyNodes.add(event.id);
    this.dirty.add('nodes');
  }

  addLeader(event: LeaderEvent): void {
    // The server replays its history on every (re)connect: a change already shown is skipped.
    if (this.leaders.some((l) => l.term === event.term && l.leaderId === event.leaderId)) return;
    // Kept in term order even if a replay interleaves with live changes.
    let at = this.leaders.length;
    while (at > 0 && (this.leaders[at - 1] as LeaderEvent).term > event.term) at--;
    this.leaders.splice(at, 0, event);
    if (this.leaders.length > MAX_TIMELINE) this.leaders.splice(0, this.leaders.length - MAX_TIMELINE);
    this.dirty.add('timeline');
  }

  addLog(event: LogEvent): void {
    const key = `${event.time} ${event.text}`;
    if (this.logKeys.has(key)) return; // replayed on reconnect
    this.logKeys.add(key);
    this.log.push(event);
    if (this.log.length > MAX_LOG) {
      for (const old of this.log.splice(0, this.log.length - MAX_LOG)) this.logKeys.delete(`${old.time} ${old.text}`);
    }
    this.dirty.add('log');
  }

  setCoord(view: CoordView | null, error: string | null, readAt: number): void {
    if (view !== null) this.coord = { view, readAt };
    this.coordError = error;
    this.dirty.add('coord');
  }

  setAgents(agents: AgentView[] | null, error: string | null): void {
    if (agents !== null) this.agents = agents;
    this.agentsError = error;
    this.dirty.add('agents');
  }

  /** The cluster's clock now, as far as the last read tells (the server's `now` plus the time since). */
  coordNow(pageNow: number): number | undefined {
    return this.coord === null ? undefined : this.coord.view.now + (pageNow - this.coord.readAt);
  }

  setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.dirty.add('connection');
  }

  select(id: string | null): void {
    if (this.selected === id) return;
    this.selected = id;
    this.dirty.add('selection');
  }
}
