/**
 * The event stream, kept alive: EventSource retries by itself only for some failures (not after
 * an HTTP error or a closed stream), so on any error the page closes it and opens a new one,
 * backing off from ½ s to 5 s. The server resends the cluster and every node on connect.
 */
export type EventType = 'cluster' | 'node' | 'message' | 'leader' | 'log';

const TYPES: EventType[] = ['cluster', 'node', 'message', 'leader', 'log'];
const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;

export interface StreamHandlers {
  event(type: EventType, data: unknown): void;
  open(): void;
  error(retryInMs: number): void;
}

export function connectEvents(url: string, handlers: StreamHandlers): () => void {
  let source: EventSource | null = null;
  let delay = MIN_DELAY_MS;
  let timer = 0;
  let stopped = false;

  const open = () => {
    timer = 0;
    source = new EventSource(url);
    source.onopen = () => {
      delay = MIN_DELAY_MS;
      handlers.open();
    };
    source.onerror = () => {
      source?.close();
      source = null;
      if (stopped) return;
      handlers.error(delay);
      timer = window.setTimeout(open, delay);
      delay = Math.min(MAX_DELAY_MS, delay * 2);
    };
    for (const type of TYPES) {
      source.addEventListener(type, (e) => {
        let data: unknown;
        try {
          data = JSON.parse((e as MessageEvent<string>).data);
        } catch {
          return; // a malformed event is skipped, not fatal
        }
        handlers.event(type, data);
      });
    }
  };
  open();
  return () => {
    stopped = true;
    if (timer !== 0) window.clearTimeout(timer);
    source?.close();
  };
}
