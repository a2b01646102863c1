/**
 * One card per node: role as a colour, the Raft fields by name, the node's controls, and its log
 * as a strip of cells coloured by term. Every strip shows the same window of log indexes, so
 * the cards line up like RaftScope's log table: a lagging or diverging follower is visible at a
 * glance. Cells up to commitIndex are solid; the rest are pale with a dashed edge.
 *
 * Before each strip, the node's snapshot: "snapshot at N", its term and size. The entries it
 * covers are compacted — the node no longer holds them — so the strip of that node starts at
 * snapshotIndex + 1 (firstLogIndex); the window's cells before it are drawn as part of the
 * snapshot, not as missing.
 *
 * Beside the role, where the node stands in the configuration: voter, learner (it gets the log
 * but neither votes nor counts toward commit), removed (greyed), or not a member yet (a new
 * server waiting to be added). Configuration entries are marked in the strip, their voters and
 * learners in the cell's tooltip. "Lead here" asks the leader to hand leadership to a follower
 * voter; "Remove" takes the node out of the configuration.
 */
import { attr, h, text } from './dom.js';
import { snapshotBlock } from './snapshot.js';
import type { DashboardState } from './state.js';
import type { ConfigEntry, Membership, NodeEvent, NodeUp } from './types.js';

export const LOG_WINDOW = 40;
const COLUMNS = `grid-template-columns: repeat(${LOG_WINDOW}, minmax(0, 1fr))`;

/** Calm, distinguishable fills for terms 1, 2, 3, … (cycled). */
const TERM_COLOURS = ['#bfdbfe', '#bbf7d0', '#fde68a', '#ddd6fe', '#fecdd3', '#a5f3fc', '#fed7aa', '#d9f99d'];

export function termColour(term: number): string {
  return TERM_COLOURS[(((term - 1) % TERM_COLOURS.length) + TERM_COLOURS.length) % TERM_COLOURS.length] ?? '#e5e7eb';
}

export type NodeAction = 'kill' | 'restart' | 'isolate' | 'rejoin' | 'transfer' | 'remove';

const ACTIONS: { action: NodeAction; label: string; title: (id: string) => string }[] = [
  { action: 'kill', label: 'Kill', title: (id) => `Kill ${id}` },
  { action: 'restart', label: 'Restart', title: (id) => `Restart ${id}` },
  { action: 'isolate', label: 'Isolate', title: (id) => `Isolate ${id}` },
  { action: 'rejoin', label: 'Rejoin', title: (id) => `Rejoin ${id}` },
  { action: 'transfer', label: 'Lead here', title: (id) => `Transfer leadership to ${id}` },
  { action: 'remove', label: 'Remove', title: (id) => `Remove ${id} from the configuration` },
];

const MEMBERSHIP: Record<Membership, { label: string; title: string }> = {
  voter: { label: 'voter', title: 'A voter: it votes in elections and counts toward commit' },
  learner: { label: 'learner', title: 'A learner: it receives the log and snapshots but neither votes nor counts toward commit' },
  removed: { label: 'removed', title: 'No longer in the configuration: it takes no part in the cluster' },
  outsider: { label: 'not a member', title: 'Not in the configuration: a new server waiting to be added' },
  unknown: { label: '', title: '' },
};

/** "voters n1, n2, n3 · learners n4" */
export function describeConfig(config: ConfigEntry): string {
  return `voters ${config.voters.join(', ') || 'none'} · learners ${config.learners.join(', ') || 'none'}`;
}

const FIELDS = [
  { field: 'term', label: 'term' },
  { field: 'votedFor', label: 'voted for' },
  { field: 'leaderId', label: 'leader' },
  { field: 'commitIndex', label: 'commit' },
  { field: 'lastApplied', label: 'applied' },
  { field: 'lastLogIndex', label: 'last log' },
] as const;

type Field = (typeof FIELDS)[number]['field'];

interface Card {
  root: HTMLElement;
  role: HTMLElement;
  member: HTMLElement;
  note: HTMLElement;
  fields: Record<Field, HTMLElement>;
  buttons: Record<NodeAction, HTMLButtonElement>;
  snapshot: { root: HTMLElement; at: HTMLElement; meta: HTMLElement; shown: number | undefined };
  cells: HTMLElement[];
  /** What each cell shows, to skip unchanged ones. */
  cellKeys: string[];
}

export class NodeCards {
  private readonly cards = new Map<string, Card>();
  private readonly ruler: HTMLElement;
  private readonly list: HTMLElement;
  private windowStart = -1;

  constructor(
    host: HTMLElement,
    private readonly onAction: (id: string, action: NodeAction, button: HTMLButtonElement) => void,
    private readonly onSelect: (id: string) => void,
  ) {
    this.ruler = h('div', { class: 'strip ruler', 'aria-hidden': 'true', style: COLUMNS });
    for (let i = 0; i < LOG_WINDOW; i++) this.ruler.append(h('span', { class: 'tick' }));
    this.list = h('div', { class: 'card-list' });
    host.append(h('div', { class: 'ruler-row log-row' }, h('span', { class: 'ruler-label' }, 'log index'), this.ruler), this.list);
  }

  render(state: DashboardState): void {
    const ids = state.ids();
    // Cards in the cluster's order; a removed node's card goes away.
    for (const [id, card] of this.cards) {
      if (!ids.includes(id)) {
        card.root.remove();
        this.cards.delete(id);
      }
    }
    ids.forEach((id, i) => {
      let card = this.cards.get(id);
      if (card === undefined) {
        card = this.create(id);
        this.cards.set(id, card);
        state.dirtyNodes.add(id);
      }
      if (this.list.children[i] !== card.root) this.list.insertBefore(card.root, this.list.children[i] ?? null);
    });

    // One window of indexes for every strip, ending at the longest log.
    const end = Math.max(LOG_WINDOW, ...state.upNodes().map((n) => n.lastLogIndex));
    const start = end - LOG_WINDOW + 1;
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.ruler.querySelectorAll<HTMLElement>('.tick').forEach((tick, i) => {
        const index = start + i;
        text(tick, index === 1 || index % 5 === 0 ? String(index) : '');
      });
      for (const id of ids) state.dirtyNodes.add(id);
    }
    for (const id of state.dirtyNodes) {
      const card = this.cards.get(id);
      const node = state.nodes.get(id);
      if (card !== undefined) this.update(id, card, node, state);
    }
    state.dirtyNodes.clear();
    this.renderSelection(state);
  }

  private renderSelection(state: DashboardState): void {
    for (const [id, card] of this.cards) card.root.classList.toggle('selected', state.selected === id);
  }

  private create(id: string): Card {
    const role = h('span', { class: 'role-pill', 'data-field': 'role' }, '…');
    const member = h('span', { class: 'member-pill', 'data-field': 'membership', hidden: true });
    const note = h('span', { class: 'card-note' });
    const fields = {} as Record<Field, HTMLElement>;
    const dl = h('dl', { class: 'fields' });
    for (const { field, label } of FIELDS) {
      fields[field] = h('dd', { 'data-field': field }, '–');
      dl.append(h('div', {}, h('dt', {}, label), fields[field]));
    }
    const buttons = {} as Record<NodeAction, HTMLButtonElement>;
    const actions = h('div', { class: 'actions', role: 'group', 'aria-label': `Controls for ${id}` });
    for (const { action, label, title } of ACTIONS) {
      const button = h('button', { type: 'button', class: `btn small ${action}`, 'data-action': action, 'aria-label': title(id), title: title(id) }, label);
      button.addEventListener('click', (e) => {
        e.stopPropagation();
        this.onAction(id, action, button);
      });
      buttons[action] = button;
      actions.append(button);
    }
    const cells: HTMLElement[] = [];
    const strip = h('div', { class: 'strip log', role: 'img', 'aria-label': `log of ${id}`, style: COLUMNS });
    for (let i = 0; i < LOG_WINDOW; i++) {
      const cell = h('span', { class: 'cell' });
      cells.push(cell);
      strip.append(cell);
    }
    const at = h('span', { class: 'snapshot-at' }, '–');
    const meta = h('span', { class: 'snapshot-meta' });
    const block = h('div', { class: 'snapshot', 'data-field': 'snapshot', 'data-snapshot': 'unknown' }, at, meta);
    // A changed snapshot (taken, or installed from the leader) flashes once.
    block.addEventListener('animationend', () => block.classList.remove('changed'));
    const root = h(
      'article',
      { class: 'card', 'data-node': id, 'data-role': 'unknown', tabindex: 0, 'aria-label': `node ${id}` },
      h('div', { class: 'card-head' }, h('span', { class: 'node-id' }, id), role, member, note, actions),
      dl,
      h('div', { class: 'log-row' }, block, strip),
    );
    // Selecting a card singles out its node's state in the statechart; a second click clears it.
    root.addEventListener('click', () => this.onSelect(id));
    root.addEventListener('keydown', (e) => {
      if (e.target === root && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        this.onSelect(id);
      }
    });
    return { root, role, member, note, fields, buttons, snapshot: { root: block, at, meta, shown: undefined }, cells, cellKeys: cells.map(() => '') };
  }

  private update(id: string, card: Card, node: NodeEvent | undefined, state: DashboardState): void {
    const controls = state.cluster?.controls ?? { kill: true, restart: true, workload: true };
    const peers = state.ids().length - 1;
    const up = node?.up === true ? node : undefined;
    const refused = node?.up === false ? node.refused : undefined;
    const role = node === undefined ? 'unknown' : up !== undefined ? up.role : refused !== undefined ? 'refused' : 'down';
    attr(card.root, 'data-role', role);
    attr(card.root, 'data-up', String(up !== undefined));
    text(card.role, role === 'preCandidate' ? 'pre-candidate' : role === 'unknown' ? 'waiting…' : role);
    const membership = state.membership(id);
    attr(card.root, 'data-member', membership);
    text(card.member, MEMBERSHIP[membership].label);
    attr(card.member, 'title', MEMBERSHIP[membership].title || null);
    card.member.hidden = membership === 'unknown';
    const value = (v: string | number | null) => (v === null ? '–' : String(v));
    for (const { field } of FIELDS) {
      const el = card.fields[field];
      text(el, up === undefined ? '–' : value(up[field]));
    }
    text(
      card.note,
      refused !== undefined
        ? '401: refuses the dashboard'
        : up === undefined
          ? ''
          : up.isolated.length === 0
            ? ''
            : up.isolated.length >= peers
              ? 'isolated'
              : `cut off from ${up.isolated.join(', ')}`,
    );
    attr(card.note, 'title', refused ?? null);

    const b = card.buttons;
    b.kill.hidden = !controls.kill;
    b.restart.hidden = !controls.restart;
    b.kill.disabled = up === undefined || b.kill.classList.contains('pending');
    b.restart.disabled = node === undefined || up !== undefined || refused !== undefined || b.restart.classList.contains('pending');
    b.isolate.disabled = up === undefined || up.isolated.length >= peers || b.isolate.classList.contains('pending');
    b.rejoin.disabled = up === undefined || up.isolated.length === 0 || b.rejoin.classList.contains('pending');
    // Membership changes go through the leader (GET /admin/members told the server the configuration).
    const members = state.cluster?.members;
    const leader = state.leader();
    b.transfer.hidden = members === undefined;
    b.remove.hidden = members === undefined;
    b.transfer.disabled = up?.role !== 'follower' || membership !== 'voter' || leader === undefined || b.transfer.classList.contains('pending');
    const lastVoter = membership === 'voter' && members?.voters.length === 1;
    b.remove.disabled = (membership !== 'voter' && membership !== 'learner') || lastVoter || b.remove.classList.contains('pending');
    b.remove.title = lastVoter ? 'The last voter cannot be removed' : `Remove ${id} from the configuration`;

    this.updateSnapshot(card, up);
    const snapshotIndex = up?.snapshotIndex ?? 0;
    const start = this.windowStart;
    let previous = -1;
    card.cells.forEach((cell, i) => {
      const index = start + i;
      let key: string;
      let term = 0;
      let config: ConfigEntry | undefined;
      if (up === undefined || index > up.lastLogIndex) key = 'empty';
      else if (index <= snapshotIndex) key = index === snapshotIndex ? 'compacted snapshot-edge' : 'compacted';
      else if (index < up.log.start) key = 'older';
      else {
        term = up.log.terms[index - up.log.start] ?? 0;
        config = state.configAt(index, term);
        key = `${term}:${index <= up.commitIndex ? 'c' : 'u'}${index === up.commitIndex ? 'm' : ''}${config !== undefined ? ':cfg' : ''}`;
      }
      // The term is written where a run of it starts; the colour carries it along the run.
      const label = term > 0 && term !== previous;
      previous = term;
      key += label ? ':l' : '';
      // The title names the index: a cell that looks the same after the window moved still changes.
      const shown = `${index} ${key}`;
      if (card.cellKeys[i] === shown) return;
      card.cellKeys[i] = shown;
      const plain = key === 'empty' || key === 'older' || key.startsWith('compacted');
      cell.className = plain
        ? `cell ${key}`
        : `cell ${index <= (up?.commitIndex ?? 0) ? 'committed' : 'uncommitted'}${index === up?.commitIndex ? ' commit-mark' : ''}${config !== undefined ? ' config' : ''}`;
      attr(cell, 'data-config', config !== undefined ? describeConfig(config) : null);
      cell.style.background = term > 0 ? termColour(term) : '';
      cell.textContent = label ? String(term) : '';
      cell.title =
        key === 'empty'
          ? ''
          : key === 'older'
            ? `#${index} (older than the tail shown)`
            : key === 'compacted'
              ? `#${index} · compacted into the snapshot`
              : key === 'compacted snapshot-edge'
                ? `#${index} · the snapshot's last entry (term ${up?.snapshotTerm ?? 0})`
                : `#${index} · term ${term} · ${config !== undefined ? `configuration: ${describeConfig(config)} · ` : ''}${index <= (up?.commitIndex ?? 0) ? 'committed' : 'not committed'}`;
    });
  }

  private updateSnapshot(card: Card, up: NodeUp | undefined): void {
    const block = snapshotBlock(up);
    const { root, at, meta } = card.snapshot;
    attr(root, 'data-snapshot', block.state);
    attr(root, 'title', block.title === '' ? null : block.title);
    text(at, block.at);
    text(meta, block.meta);
    if (up === undefined) return;
    const index = up.snapshotIndex ?? 0;
    if (card.snapshot.shown !== undefined && index !== card.snapshot.shown) {
      root.classList.remove('changed');
      void root.offsetWidth; // restart the animation
      root.classList.add('changed');
    }
    card.snapshot.shown = index;
  }
}
