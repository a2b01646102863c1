/**
 * Cluster-wide controls: split the cluster in two (the chosen nodes on one side, the rest on the
 * other), heal, propose a command, pause or resume the workload, and (in the demo, which owns the
 * node processes) add a node. Each only asks the server; the picture changes when the server's
 * events say so.
 */
import { api, describeError, post, type Report } from './api.js';
import { attr, h, text } from './dom.js';
import type { DashboardState } from './state.js';

export class ClusterControls {
  private readonly chips: HTMLElement;
  private readonly splitButton: HTMLButtonElement;
  private readonly healButton: HTMLButtonElement;
  private readonly workloadState: HTMLElement;
  private readonly workloadButton: HTMLButtonElement;
  private readonly workloadRow: HTMLElement;
  private readonly proposeResult: HTMLElement;
  private readonly membersRow: HTMLElement;
  private readonly membersState: HTMLElement;
  private readonly addButton: HTMLButtonElement;
  private readonly addHint: HTMLElement;
  private readonly side = new Set<string>();
  private chipKey = '';

  constructor(
    host: HTMLElement,
    private readonly state: DashboardState,
    private readonly report: Report,
    private readonly changed: () => void,
  ) {
    // ---- split / heal
    this.chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Nodes to cut off from the rest' });
    this.splitButton = h('button', { type: 'button', class: 'btn', 'data-action': 'split', disabled: true }, 'Split');
    this.healButton = h('button', { type: 'button', class: 'btn ghost', 'data-action': 'heal' }, 'Heal');
    this.splitButton.addEventListener('click', () => void this.split());
    this.healButton.addEventListener(
      'click',
      () =>
        void this.run(this.healButton, 'heal', api.heal).then((ok) => {
          if (ok) this.side.clear(); // healed: start the next split from scratch
          this.changed();
        }),
    );

    // ---- propose
    const key = h('input', { name: 'key', type: 'text', required: true, placeholder: 'task-1', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Key' });
    const value = h('input', { name: 'value', type: 'text', placeholder: '"agent-7"', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Value (JSON, or plain text)' });
    const submit = h('button', { type: 'submit', class: 'btn primary', disabled: true, 'aria-describedby': 'propose-hint' }, 'Propose');
    this.proposeResult = h('output', { class: 'result muted', 'data-testid': 'propose-result', 'aria-live': 'polite' });
    const hint = h('p', { class: 'hint muted', 'data-testid': 'propose-hint', id: 'propose-hint' });
    // An empty field proposes nothing: the button waits for both. An empty string is `""`.
    let proposing = false;
    const missing = () => (key.value.trim() === '' ? 'a key' : value.value.trim() === '' ? 'a value' : null);
    const update = () => {
      const what = missing();
      submit.disabled = proposing || what !== null;
      text(hint, what === null ? '' : `Enter ${what} to propose (the value is JSON, or else plain text; "" is the empty string).`);
      hint.hidden = what === null;
    };
    key.addEventListener('input', update);
    value.addEventListener('input', update);
    const form = h(
      'form',
      { class: 'propose', 'data-testid': 'propose-form', 'aria-label': 'Propose a command' },
      h('label', {}, h('span', {}, 'key'), key),
      h('label', { class: 'grow' }, h('span', {}, 'value'), value),
      submit,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (proposing || missing() !== null) return;
      proposing = true;
      update();
      void this.propose(key.value.trim(), value.value).finally(() => {
        proposing = false;
        update();
      });
    });
    update();

    // ---- workload
    this.workloadState = h('span', { class: 'pill', 'data-field': 'workload' }, '–');
    this.workloadButton = h('button', { type: 'button', class: 'btn ghost', 'data-action': 'workload' }, 'Pause');
    this.workloadButton.addEventListener('click', () => {
      const action = this.state.cluster?.workload === 'paused' ? 'resume' : 'pause';
      void this.run(this.workloadButton, `${action} workload`, api.workload(action));
    });
    this.workloadRow = h('div', { class: 'control-row' }, h('span', { class: 'control-label' }, 'Workload'), this.workloadState, this.workloadButton);

    // ---- membership
    this.membersState = h('span', { class: 'members-state', 'data-field': 'members' }, '–');
    this.addButton = h('button', { type: 'button', class: 'btn', 'data-action': 'add-node', 'aria-describedby': 'add-node-hint' }, 'Add node');
    this.addButton.addEventListener('click', () => void this.run(this.addButton, 'add node', api.addNode));
    this.membersRow = h('div', { class: 'control-row' }, h('span', { class: 'control-label' }, 'Members'), this.membersState, h('div', { class: 'buttons' }, this.addButton));
    this.addHint = h(
      'p',
      { class: 'hint muted', id: 'add-node-hint' },
      'Add node starts a new, empty node process (node --join), adds it as a learner, then promotes it to voter once it has caught up. Remove and Lead here are on the cards.',
    );

    host.append(
      h('div', { class: 'control-row' }, h('span', { class: 'control-label' }, 'Partition'), this.chips, h('div', { class: 'buttons' }, this.splitButton, this.healButton)),
      h('p', { class: 'hint muted' }, 'Pick the nodes to cut off (e.g. the leader alone): they lose contact with the rest until healed.'),
      h('div', { class: 'control-row' }, h('span', { class: 'control-label' }, 'Propose'), form),
      hint,
      this.proposeResult,
      this.workloadRow,
      this.membersRow,
      this.addHint,
    );
  }

  render(): void {
    const ids = this.state.ids();
    for (const id of [...this.side]) if (!ids.includes(id)) this.side.delete(id);
    const key = ids.join(' ');
    if (key !== this.chipKey) {
      this.chipKey = key;
      this.chips.replaceChildren(
        ...ids.map((id) => {
          const chip = h('button', { type: 'button', class: 'chip-toggle', 'data-split-node': id, 'aria-pressed': String(this.side.has(id)) }, id);
          chip.addEventListener('click', () => {
            if (this.side.has(id)) this.side.delete(id);
            else this.side.add(id);
            this.changed();
          });
          return chip;
        }),
      );
    }
    for (const chip of this.chips.querySelectorAll<HTMLButtonElement>('[data-split-node]')) attr(chip, 'aria-pressed', String(this.side.has(chip.dataset['splitNode'] ?? '')));
    this.splitButton.disabled = this.side.size === 0 || this.side.size >= ids.length || this.splitButton.classList.contains('pending');
    this.splitButton.title = this.side.size === 0 ? 'Pick the nodes to cut off first' : `Cut ${[...this.side].join(', ')} off from the rest`;

    const cluster = this.state.cluster;
    const members = cluster?.members;
    const canAdd = cluster?.controls.addNode === true;
    this.membersRow.hidden = members === undefined && !canAdd;
    this.addHint.hidden = !canAdd;
    this.addButton.hidden = !canAdd;
    text(
      this.membersState,
      members === undefined
        ? '–'
        : `${members.voters.length} voter${members.voters.length === 1 ? '' : 's'}${members.learners.length > 0 ? `, ${members.learners.length} learner${members.learners.length === 1 ? '' : 's'}` : ''}`,
    );
    attr(
      this.membersState,
      'title',
      members === undefined
        ? null
        : `voters ${members.voters.join(', ') || 'none'} · learners ${members.learners.join(', ') || 'none'} · configuration entry ${members.index} (${members.committed ? 'committed' : 'not committed yet'})`,
    );
    const workload = cluster?.workload ?? 'off';
    this.workloadRow.hidden = cluster === null || !cluster.controls.workload || workload === 'off';
    text(this.workloadState, workload);
    attr(this.workloadState, 'data-value', workload);
    text(this.workloadButton, workload === 'paused' ? 'Resume' : 'Pause');
    attr(this.workloadButton, 'aria-label', workload === 'paused' ? 'Resume the workload' : 'Pause the workload');
  }

  private async split(): Promise<void> {
    const ids = this.state.ids();
    const groups = [ids.filter((id) => this.side.has(id)), ids.filter((id) => !this.side.has(id))];
    await this.run(this.splitButton, `split ${groups.map((g) => g.join(',')).join(' | ')}`, api.split, { groups });
  }

  private async propose(key: string, raw: string): Promise<void> {
    // JSON if it parses ("42", "true", '{"a":1}'), otherwise the text itself.
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // plain text
    }
    text(this.proposeResult, 'proposing…');
    attr(this.proposeResult, 'class', 'result muted');
    const result = await post(api.propose, { key, value });
    if (result.ok) {
      const index = result.data['index'];
      text(this.proposeResult, typeof index === 'number' ? `accepted at log index ${index}` : 'accepted');
      attr(this.proposeResult, 'class', 'result ok');
    } else {
      const message = describeError(`propose ${key}`, result);
      text(this.proposeResult, message);
      attr(this.proposeResult, 'class', 'result error');
      this.report('error', message);
    }
  }

  private async run(button: HTMLButtonElement, what: string, path: string, body?: unknown): Promise<boolean> {
    button.classList.add('pending');
    button.disabled = true;
    const result = await post(path, body);
    button.classList.remove('pending');
    button.disabled = false;
    if (!result.ok) this.report('error', describeError(what, result));
    this.changed();
    return result.ok;
  }
}
