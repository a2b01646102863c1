/**
 * The Coordination panel: what the cluster's coordination state machine holds (GET /api/coord,
 * polled): each lease — name, holder, fencing token, time left — and each task queue — how many
 * tasks are queued, claimed, done and dead, the claimed ones with their worker, token and time
 * left, the dead ones with why. Time left is `expiresAt` minus the cluster's clock as the last read
 * gave it, counted on between reads; at zero the claim or lease is expired, and goes at the
 * cluster's next tick. A claim or lease whose holder is one of the dashboard's agents that was
 * killed is marked so: nobody renews it, it is waiting to expire.
 */
import { attr, h, text } from './dom.js';
import type { DashboardState } from './state.js';
import type { LeaseView, QueueView, TaskState, TaskView } from './types.js';

const COUNTS: { state: TaskState; label: string; title: string }[] = [
  { state: 'queued', label: 'queued', title: 'Waiting for a worker to claim them' },
  { state: 'claimed', label: 'claimed', title: 'Claimed by a worker that heartbeats them; back to the queue if its claim expires' },
  { state: 'done', label: 'done', title: 'Completed, under the token of the claim that completed them' },
  { state: 'dead', label: 'dead', title: 'Dead-lettered: out of attempts, or failed without retry' },
];

/** "3.2 s", "expired". */
export function timeLeft(ms: number): string {
  if (ms <= 0) return 'expired';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export class CoordPanel {
  private readonly note: HTMLElement;
  private readonly leases: HTMLElement;
  private readonly queues: HTMLElement;
  /** What the lists show, to rebuild them only when it changed (the clock ticks on its own). */
  private shownKey = '';

  constructor(
    private readonly panel: HTMLElement,
    host: HTMLElement,
  ) {
    this.note = h('p', { class: 'coord-note muted', 'data-field': 'coord-note', 'aria-live': 'polite' }, 'Reading the coordination state…');
    this.leases = h('div', { class: 'coord-block', 'data-testid': 'leases' });
    this.queues = h('div', { class: 'coord-queues', 'data-testid': 'queues' });
    host.append(this.note, this.leases, this.queues);
  }

  render(state: DashboardState): void {
    this.panel.hidden = state.cluster?.controls.coord !== true;
    const coord = state.coord;
    text(this.note, state.coordError !== null ? `Cannot read the coordination state: ${state.coordError}` : coord === null ? 'Reading the coordination state…' : '');
    attr(this.note, 'data-error', state.coordError !== null ? 'true' : null);
    this.note.hidden = this.note.textContent === '';
    if (coord === null) return;
    const { leases, queues } = coord.view;
    const dead = new Set((state.agents ?? []).filter((a) => !a.alive).map((a) => a.name));
    const key = JSON.stringify([leases, queues, [...dead]]);
    if (key !== this.shownKey) {
      this.shownKey = key;
      this.leases.replaceChildren(...this.leaseList(leases, dead));
      this.queues.replaceChildren(...queues.map((q) => this.queue(q, dead)));
      if (queues.length === 0) this.queues.append(h('p', { class: 'muted' }, 'No task has been posted yet.'));
    }
    this.tick(state);
  }

  /** Only the time left (between reads). */
  tick(state: DashboardState): void {
    const now = state.coordNow(Date.now());
    if (now === undefined) return;
    for (const el of this.panel.querySelectorAll<HTMLElement>('[data-expires]')) {
      const left = Number(el.dataset['expires']) - now;
      text(el, timeLeft(left));
      attr(el, 'data-expired', left <= 0 ? 'true' : null);
    }
  }

  private leaseList(leases: LeaseView[], dead: ReadonlySet<string>): HTMLElement[] {
    const title = h('h3', {}, 'Leases');
    if (leases.length === 0) return [title, h('p', { class: 'muted' }, 'No lease is held.')];
    const rows = leases.map((lease) =>
      h(
        'tr',
        { 'data-lease': lease.name, 'data-orphaned': dead.has(lease.holder) },
        h('td', { class: 'name' }, lease.name),
        holderCell('holder', lease.holder, dead),
        h('td', { class: 'num', 'data-field': 'token', title: 'Fencing token: the index of the entry that granted the lease' }, String(lease.token)),
        h('td', { class: 'num', 'data-field': 'time-left', 'data-expires': lease.expiresAt, title: `TTL ${lease.ttlMs} ms, renewed by its holder` }, ''),
      ),
    );
    return [title, h('table', { class: 'coord-table' }, head('lease', 'holder', 'token', 'time left'), h('tbody', {}, ...rows))];
  }

  private queue(queue: QueueView, dead: ReadonlySet<string>): HTMLElement {
    const counts = h(
      'ul',
      { class: 'counts', 'aria-label': `Tasks of ${queue.queue} by state` },
      ...COUNTS.map(({ state, label, title }) =>
        h('li', { 'data-count': state, title }, h('span', { class: 'count', 'data-field': state }, String(queue.counts[state])), ` ${label}`),
      ),
    );
    const claimed = queue.tasks.filter((t) => t.state === 'claimed' && t.claim !== undefined);
    const letters = queue.tasks.filter((t) => t.state === 'dead');
    return h(
      'div',
      { class: 'coord-block', 'data-queue': queue.queue },
      h('h3', {}, 'Queue ', h('span', { class: 'name' }, queue.queue)),
      counts,
      claimed.length === 0
        ? h('p', { class: 'muted' }, 'No task is claimed.')
        : h('table', { class: 'coord-table claimed' }, head('claimed task', 'worker', 'token', 'attempt', 'time left'), h('tbody', {}, ...claimed.map((t) => claimedRow(t, dead)))),
      letters.length > 0 && h('ul', { class: 'dead-letters', 'aria-label': `Dead letters of ${queue.queue}` }, ...letters.map(deadItem)),
    );
  }
}

function head(...labels: string[]): HTMLElement {
  return h('thead', {}, h('tr', {}, ...labels.map((label) => h('th', { scope: 'col' }, label))));
}

/** The holder's name, and "killed" beside it when it is an agent the dashboard killed. */
function holderCell(field: string, holder: string, dead: ReadonlySet<string>): HTMLElement {
  return h(
    'td',
    { 'data-field': field },
    holder,
    dead.has(holder) && h('span', { class: 'orphan', 'data-field': 'orphan', title: `${holder} was killed: nobody renews this, it waits to expire` }, ' killed'),
  );
}

function claimedRow(task: TaskView, dead: ReadonlySet<string>): HTMLElement {
  const claim = task.claim as NonNullable<TaskView['claim']>;
  return h(
    'tr',
    { 'data-task': task.id, 'data-state': 'claimed', 'data-orphaned': dead.has(claim.worker) },
    h('td', { class: 'name' }, task.id),
    holderCell('worker', claim.worker, dead),
    h('td', { class: 'num', 'data-field': 'token', title: 'Fencing token of the claim: its completion and fenced writes must carry it' }, String(claim.token)),
    h('td', { class: 'num', 'data-field': 'attempt' }, `${task.attempts}/${task.maxAttempts}`),
    h('td', { class: 'num', 'data-field': 'time-left', 'data-expires': claim.expiresAt, title: 'Until the claim expires unless heartbeated' }, ''),
  );
}

function deadItem(task: TaskView): HTMLElement {
  return h(
    'li',
    { 'data-task': task.id, 'data-state': 'dead' },
    h('span', { class: 'name' }, task.id),
    ` dead after ${task.attempts}/${task.maxAttempts} attempts: `,
    h('span', { 'data-field': 'reason' }, task.reason ?? 'no reason given'),
  );
}
