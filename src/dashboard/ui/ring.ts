/**
 * The nodes in a ring, RaftScope style, with every RPC drawn as a dot travelling from sender to
 * receiver. A dot takes the same ~½ s whatever the real latency (a loopback RPC takes well under
 * a millisecond; nobody could see it). Requests and replies travel in opposite lanes of a link.
 * InstallSnapshot chunks and their replies are squares (a block of the snapshot), violet like the
 * snapshot block on the node cards, each chunk captioned with its place ("2/5").
 * A message that cannot arrive — sent over a cut link or to a node that is down — is drawn as
 * failed: red, it stops at the cut, fades and is removed. A leader keeps retrying a dead follower
 * (every heartbeat, with entries), so one failed dot per direction of a link is in flight at a
 * time and the others are only counted: the ring shows that messages fail, not a pile of them.
 *
 * A learner is drawn with a dotted inner ring and labelled "learner"; a node that left the
 * configuration is greyed and labelled "removed"; a new server not added yet is faded ("not a
 * member"). A node that joins at run time gets its place when the server lists it.
 *
 * Cheap by construction: dots come from a fixed pool of <circle>s moved by one
 * requestAnimationFrame loop that runs only while a dot is in flight; at most MAX_DOTS fly at
 * once (heartbeats give way to votes and entries); of the ~20 heartbeats a second a leader sends
 * each follower, about one in three is drawn; nothing is drawn while the tab is hidden.
 */
import { attr, s, text } from './dom.js';
import type { DashboardState } from './state.js';
import type { SnapshotWords } from './snapshot.js';
import type { NodeEvent, RpcEvent } from './types.js';

const SIZE = 360;
const CENTRE = SIZE / 2;
const NODE_R = 30;
const DURATION_MS = 480;
const LANE = 5;
export const MAX_DOTS = 48;
/** Heartbeats (and their replies) on one link are drawn at most this often. */
const HEARTBEAT_GAP_MS = 140;

type DotShape = SVGCircleElement | SVGRectElement;

interface Dot {
  el: DotShape;
  /** Half the square's side (squares only). */
  half: number;
  /** A chunk's place in its snapshot ("2/5"), travelling with it. */
  caption: SVGTextElement | undefined;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  start: number;
  duration: number;
  important: boolean;
  /** Cannot arrive (a cut link, a node that is down): drawn red, it stops at the cut and fades. */
  failed: boolean;
  /** "from>to": at most one failed dot per lane. */
  lane: string;
}

interface RingNode {
  group: SVGGElement;
  id: SVGTextElement;
  term: SVGTextElement;
  label: SVGTextElement;
  x: number;
  y: number;
}

export interface RingStats {
  /** Dots not drawn because MAX_DOTS were in flight. */
  dotsDropped: number;
  /** Heartbeats not drawn because one had just left on the same link. */
  dotsThinned: number;
  dotsShown: number;
  /** Dots drawn as failed (of dotsShown). */
  dotsFailed: number;
  /** Failed messages not drawn because a failed dot was already in flight on their lane. */
  failedThinned: number;
}

export class Ring {
  readonly svg: SVGSVGElement;
  private readonly links = s('g', { class: 'links' });
  private readonly dotLayer = s('g', { class: 'dots' });
  private readonly nodeLayer = s('g', { class: 'nodes' });
  private readonly summary = s('text', { class: 'ring-summary', x: CENTRE, y: CENTRE - 2, 'text-anchor': 'middle' });
  private readonly summarySub = s('text', { class: 'ring-summary-sub', x: CENTRE, y: CENTRE + 16, 'text-anchor': 'middle' });
  private readonly nodes = new Map<string, RingNode>();
  private layoutKey = '';
  private readonly active: Dot[] = [];
  private readonly free: SVGCircleElement[] = [];
  private readonly freeSquares: SVGRectElement[] = [];
  private readonly freeCaptions: SVGTextElement[] = [];
  private frame = 0;
  private readonly lastHeartbeat = new Map<string, number>();
  /** "from to" pairs whose messages cannot arrive, as of the last render. */
  private readonly failing = new Set<string>();
  /** Lanes ("from>to") with a failed dot in flight. */
  private readonly failedLanes = new Set<string>();
  readonly stats: RingStats = { dotsDropped: 0, dotsThinned: 0, dotsShown: 0, dotsFailed: 0, failedThinned: 0 };

  constructor(
    host: HTMLElement,
    private readonly onSelect: (id: string) => void,
  ) {
    this.svg = s(
      'svg',
      { class: 'ring', viewBox: `0 0 ${SIZE} ${SIZE}`, role: 'img', 'aria-label': 'Nodes in a ring with the messages between them' },
      this.links,
      this.summary,
      this.summarySub,
      this.dotLayer,
      this.nodeLayer,
    );
    host.append(this.svg);
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.clearDots();
    });
  }

  render(state: DashboardState): void {
    const ids = state.ids();
    const key = ids.join(' ');
    if (key !== this.layoutKey) this.layout(ids);
    for (const [id, node] of this.nodes) {
      const n = state.nodes.get(id);
      const refused = n?.up === false && n.refused !== undefined;
      const role = n === undefined ? 'unknown' : n.up ? n.role : refused ? 'refused' : 'down';
      const member = state.membership(id);
      attr(node.group, 'data-role', role);
      attr(node.group, 'data-member', member);
      attr(node.group, 'class', `ring-node${state.selected === id ? ' selected' : ''}${n?.up === true && n.isolated.length > 0 ? ' cut' : ''}`);
      text(node.term, n?.up === true ? `term ${n.term}` : n === undefined ? '' : refused ? '401' : 'down');
      const roleLabel = role === 'preCandidate' ? 'pre-candidate' : role === 'unknown' || role === 'down' ? '' : role;
      // A learner is always a follower: what it is in the configuration says more.
      text(node.label, member === 'learner' ? 'learner' : member === 'removed' ? 'removed' : member === 'outsider' ? 'not a member' : roleLabel);
    }
    // A link is cut when either end refuses the other (isolation is per node, on both sides).
    // Messages fail over a cut link and to a node known to be down; a node that refuses the
    // dashboard may well be up, so messages to it are drawn as usual.
    const down = (n: NodeEvent | undefined) => n?.up === false && n.refused === undefined;
    this.failing.clear();
    for (const line of this.links.querySelectorAll<SVGGElement>('.link')) {
      const [ia, ib] = [line.dataset['a'] ?? '', line.dataset['b'] ?? ''];
      const a = state.nodes.get(ia);
      const b = state.nodes.get(ib);
      const cut = (a?.up === true && a.isolated.includes(ib)) || (b?.up === true && b.isolated.includes(ia));
      const dead = a?.up !== true || b?.up !== true;
      attr(line, 'class', `link${cut ? ' cut' : ''}${dead ? ' dead' : ''}`);
      if (cut) this.failing.add(`${ia} ${ib}`).add(`${ib} ${ia}`);
      if (down(b)) this.failing.add(`${ia} ${ib}`);
      if (down(a)) this.failing.add(`${ib} ${ia}`);
    }
    const leader = state.leader();
    const maxTerm = Math.max(0, ...state.upNodes().map((n) => n.term));
    text(this.summary, maxTerm > 0 ? `term ${maxTerm}` : '');
    text(this.summarySub, leader !== undefined ? `leader ${leader.id}` : state.upNodes().length > 0 ? 'no leader' : '');
  }

  /** Launch a dot for one RPC; silently skipped when it cannot be seen. `words`: an InstallSnapshot's label and caption. */
  message(m: RpcEvent, words?: SnapshotWords): void {
    if (document.hidden) return;
    const from = this.nodes.get(m.from);
    const to = this.nodes.get(m.to);
    if (from === undefined || to === undefined || from === to) return;
    const heartbeat = (m.type === 'rpc.appendEntries' && (m.entries ?? 0) === 0) || (m.type === 'rpc.appendEntriesResult' && m.success !== false);
    const now = performance.now();
    const lane = `${m.from}>${m.to}`;
    const failed = this.failing.has(`${m.from} ${m.to}`);
    if (failed && this.failedLanes.has(lane)) {
      this.stats.failedThinned++;
      return;
    }
    if (heartbeat && !failed) {
      // 20 heartbeats a second per follower would draw a solid bead chain: show one in three.
      const kind = `${lane} ${m.type}`;
      if (now - (this.lastHeartbeat.get(kind) ?? -Infinity) < HEARTBEAT_GAP_MS) {
        this.stats.dotsThinned++;
        return;
      }
      this.lastHeartbeat.set(kind, now);
    }
    if (this.active.length >= MAX_DOTS) {
      // Votes and entries matter more than the n-th heartbeat: evict the oldest heartbeat.
      const victim = heartbeat ? -1 : this.active.findIndex((d) => !d.important);
      if (victim < 0) {
        this.stats.dotsDropped++;
        return;
      }
      this.release(victim);
      this.stats.dotsDropped++;
    }
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const len = Math.hypot(dx, dy);
    const ux = dx / len;
    const uy = dy / len;
    // Right-hand lane in the direction of travel: a request and its reply never overlap.
    const ox = -uy * LANE;
    const oy = ux * LANE;
    const size = dotSize(m);
    const square = isSnapshot(m);
    const el: DotShape = square
      ? (this.freeSquares.pop() ?? this.dotLayer.appendChild(s('rect', { rx: 1.5 })))
      : (this.free.pop() ?? this.dotLayer.appendChild(s('circle', { r: 4 })));
    el.setAttribute('class', failed ? `dot failed${square ? ' is' : ''}` : dotClass(m));
    if (square) {
      el.setAttribute('width', String(2 * size));
      el.setAttribute('height', String(2 * size));
    } else {
      el.setAttribute('r', String(size));
    }
    el.setAttribute('data-lane', lane);
    el.setAttribute('data-type', m.type);
    attr(el, 'data-label', words?.label ?? null);
    el.style.display = '';
    el.style.opacity = '';
    let caption: SVGTextElement | undefined;
    if (words?.caption !== undefined && !failed) {
      caption = this.freeCaptions.pop() ?? this.dotLayer.appendChild(s('text', { class: 'dot-caption', 'text-anchor': 'middle' }));
      text(caption, words.caption);
      caption.style.display = '';
    }
    const dot: Dot = {
      el,
      half: square ? size : 0,
      caption,
      x1: from.x + ux * (NODE_R + 2) + ox,
      y1: from.y + uy * (NODE_R + 2) + oy,
      x2: (failed ? (from.x + to.x) / 2 - ux * 8 : to.x - ux * (NODE_R + 4)) + ox,
      y2: (failed ? (from.y + to.y) / 2 - uy * 8 : to.y - uy * (NODE_R + 4)) + oy,
      start: now,
      duration: failed ? DURATION_MS * 0.6 : DURATION_MS,
      // A failed dot says nothing a later one will not: the first to give way at the cap.
      important: !heartbeat && !failed,
      failed,
      lane,
    };
    this.place(dot, 0);
    this.active.push(dot);
    this.stats.dotsShown++;
    if (failed) {
      this.failedLanes.add(lane);
      this.stats.dotsFailed++;
    }
    if (this.frame === 0) this.frame = requestAnimationFrame(this.tick);
  }

  private readonly tick = (now: number): void => {
    this.frame = 0;
    for (let i = this.active.length - 1; i >= 0; i--) {
      const dot = this.active[i] as Dot;
      const t = (now - dot.start) / dot.duration;
      if (t >= 1) this.release(i);
      else this.place(dot, Math.max(0, t));
    }
    if (this.active.length > 0) this.frame = requestAnimationFrame(this.tick);
  };

  private place(dot: Dot, t: number): void {
    const e = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2; // ease in-out
    const x = dot.x1 + (dot.x2 - dot.x1) * e;
    const y = dot.y1 + (dot.y2 - dot.y1) * e;
    if (dot.half > 0) {
      dot.el.setAttribute('x', (x - dot.half).toFixed(1));
      dot.el.setAttribute('y', (y - dot.half).toFixed(1));
    } else {
      dot.el.setAttribute('cx', x.toFixed(1));
      dot.el.setAttribute('cy', y.toFixed(1));
    }
    if (dot.caption !== undefined) {
      dot.caption.setAttribute('x', x.toFixed(1));
      dot.caption.setAttribute('y', (y - dot.half - 3).toFixed(1));
    }
    if (dot.failed) dot.el.style.opacity = t < 0.5 ? '' : (1 - (t - 0.5) * 2).toFixed(2);
  }

  private release(i: number): void {
    const [dot] = this.active.splice(i, 1);
    if (dot === undefined) return;
    if (dot.failed) this.failedLanes.delete(dot.lane);
    dot.el.style.display = 'none';
    if (dot.el instanceof SVGRectElement) this.freeSquares.push(dot.el);
    else this.free.push(dot.el);
    if (dot.caption !== undefined) {
      dot.caption.style.display = 'none';
      this.freeCaptions.push(dot.caption);
    }
  }

  private clearDots(): void {
    while (this.active.length > 0) this.release(this.active.length - 1);
    if (this.frame !== 0) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  get dotsInFlight(): number {
    return this.active.length;
  }

  private layout(ids: string[]): void {
    this.layoutKey = ids.join(' ');
    this.clearDots();
    this.links.replaceChildren();
    this.nodeLayer.replaceChildren();
    this.nodes.clear();
    const radius = ids.length <= 3 ? 108 : 122;
    // Fit the view to the nodes (three nodes make a triangle, not a circle) and their labels.
    const xs = ids.map((_, i) => CENTRE + radius * Math.cos(-Math.PI / 2 + (2 * Math.PI * i) / ids.length));
    const ys = ids.map((_, i) => CENTRE + radius * Math.sin(-Math.PI / 2 + (2 * Math.PI * i) / ids.length));
    const pad = NODE_R + 26;
    const width = Math.max(260, Math.max(...xs) - Math.min(...xs) + 2 * pad);
    const height = Math.max(220, Math.max(...ys) - Math.min(...ys) + 2 * pad);
    const top = (Math.min(...ys) + Math.max(...ys)) / 2 - height / 2;
    this.svg.setAttribute('viewBox', `${(CENTRE - width / 2).toFixed(1)} ${top.toFixed(1)} ${width.toFixed(1)} ${height.toFixed(1)}`);
    ids.forEach((id, i) => {
      const angle = -Math.PI / 2 + (2 * Math.PI * i) / ids.length;
      const x = CENTRE + radius * Math.cos(angle);
      const y = CENTRE + radius * Math.sin(angle);
      const idText = s('text', { class: 'ring-id', x, y: y - 1, 'text-anchor': 'middle' }, id);
      const term = s('text', { class: 'ring-term', x, y: y + 14, 'text-anchor': 'middle' });
      // Role label outside the ring, away from the centre.
      const below = Math.sin(angle) > -0.2;
      const label = s('text', { class: 'ring-role', x, y: below ? y + NODE_R + 16 : y - NODE_R - 8, 'text-anchor': 'middle' });
      const group = s(
        'g',
        { class: 'ring-node', 'data-ring-node': id, tabindex: 0, role: 'button', 'aria-label': `Select ${id}` },
        s('circle', { class: 'halo', cx: x, cy: y, r: NODE_R + 6 }),
        s('circle', { class: 'body', cx: x, cy: y, r: NODE_R }),
        s('circle', { class: 'learner-ring', cx: x, cy: y, r: NODE_R - 5 }),
        idText,
        term,
        label,
      );
      group.addEventListener('click', () => this.onSelect(id));
      group.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          this.onSelect(id);
        }
      });
      this.nodeLayer.append(group);
      this.nodes.set(id, { group, id: idText, term, label, x, y });
    });
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = this.nodes.get(ids[i] as string) as RingNode;
        const b = this.nodes.get(ids[j] as string) as RingNode;
        const mx = (a.x + b.x) / 2;
        const my = (a.y + b.y) / 2;
        this.links.append(
          s(
            'g',
            { class: 'link', 'data-a': ids[i], 'data-b': ids[j] },
            s('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y }),
            s('path', { class: 'cut-mark', d: `M${mx - 5},${my - 5} L${mx + 5},${my + 5} M${mx + 5},${my - 5} L${mx - 5},${my + 5}` }),
          ),
        );
      }
    }
  }
}

function isSnapshot(m: RpcEvent): boolean {
  return m.type === 'rpc.installSnapshot' || m.type === 'rpc.installSnapshotResult';
}

function dotClass(m: RpcEvent): string {
  switch (m.type) {
    case 'rpc.appendEntries':
      return (m.entries ?? 0) > 0 ? 'dot ae entries' : 'dot ae';
    case 'rpc.appendEntriesResult':
      return m.success === false ? 'dot aer fail' : 'dot aer';
    case 'rpc.requestVote':
      return m.preVote === true ? 'dot rv pre' : 'dot rv';
    case 'rpc.requestVoteResult':
      return `dot rvr ${m.voteGranted === true ? 'granted' : 'denied'}${m.preVote === true ? ' pre' : ''}`;
    case 'rpc.installSnapshot':
      return m.snapshot?.done === true ? 'dot is last' : 'dot is';
    case 'rpc.installSnapshotResult':
      return m.success === true ? 'dot isr installed' : 'dot isr';
    default:
      return 'dot';
  }
}

/** A circle's radius, half a square's side. */
function dotSize(m: RpcEvent): number {
  switch (m.type) {
    case 'rpc.appendEntries':
      return (m.entries ?? 0) > 0 ? 6 : 3.5;
    case 'rpc.appendEntriesResult':
      return 3.5;
    case 'rpc.requestVote':
      return 6;
    case 'rpc.requestVoteResult':
      return 5;
    case 'rpc.installSnapshot':
      return 5;
    case 'rpc.installSnapshotResult':
      return 4;
    default:
      return 4;
  }
}
