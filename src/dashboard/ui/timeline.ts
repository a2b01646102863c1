/**
 * Leader changes and terms, oldest left, newest right: one chip per change, saying the term, who
 * led it (or that nobody did), when it began and how long it lasted.
 */
import { clock, h } from './dom.js';
import type { DashboardState } from './state.js';

export class Timeline {
  private readonly track: HTMLElement;
  private readonly empty: HTMLElement;

  constructor(host: HTMLElement) {
    this.track = h('ol', { class: 'timeline-track', 'aria-label': 'Leader changes, oldest first' });
    this.empty = h('p', { class: 'muted' }, 'No leader elected yet.');
    host.append(this.empty, this.track);
  }

  render(state: DashboardState): void {
    const changes = state.leaders;
    this.empty.hidden = changes.length > 0;
    const now = Date.now();
    const chips = changes.map((change, i) => {
      const next = changes[i + 1];
      const lasted = (next?.time ?? now) - change.time;
      return h(
        'li',
        {
          class: `chip${change.leaderId === null ? ' none' : ''}${next === undefined ? ' current' : ''}`,
          'data-term': change.term,
          'data-leader': change.leaderId ?? '',
          title: `term ${change.term}: ${change.leaderId === null ? 'no leader' : `${change.leaderId} leads`} from ${clock(change.time)}`,
        },
        h('span', { class: 'chip-term' }, `term ${change.term}`),
        h('span', { class: 'chip-leader' }, change.leaderId ?? 'no leader'),
        h('span', { class: 'chip-time' }, `${clock(change.time)} · ${next === undefined ? 'now' : duration(lasted)}`),
      );
    });
    this.track.replaceChildren(...chips);
    this.track.scrollLeft = this.track.scrollWidth;
  }
}

function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
