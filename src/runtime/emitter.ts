/**
 * A tiny typed event emitter whose listeners cannot hurt the emitter: a listener that throws is
 * reported and the others still run. (A throw that reached XState would be rethrown on a timer
 * and kill the process — DESIGN.md, "The node machine".)
 */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  constructor(private readonly onListenerError: (error: unknown, event: keyof Events) => void) {}

  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => void set.delete(listener as (payload: never) => void);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (payload: Events[K]) => void)(payload);
      } catch (error) {
        if (event === 'error') continue; // never loop on a failing error listener
        this.onListenerError(error, event);
      }
    }
  }
}
