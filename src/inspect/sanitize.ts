/**
 * What an inspector may see of a node: its context with the log replaced by a summary (length,
 * last index and term, the last few entries), and anything else large summarized too. An inspector
 * serializes every snapshot it receives; a node's log grows without bound, so sending it whole
 * would make inspection cost grow with the log (and flood the inspector page).
 *
 * Every function here is idempotent (sanitizing a sanitized value changes nothing), cheap (it
 * touches the last few entries, never the whole log) and never mutates its input.
 */
import { RaftLog } from '../core/log.js';

/** Entries kept at the end of a summarized log or batch. */
export const LOG_TAIL = 5;
/** Arrays longer than this are summarized as `{ length, tail }`. */
export const MAX_ARRAY = 16;
/** Objects with more keys than this are summarized as `{ keys, sample }`. */
export const MAX_KEYS = 64;
/** Strings (and a command's JSON) longer than this are cut. */
export const MAX_TEXT = 256;
const MAX_DEPTH = 6;

/** A log or a batch of entries, as an inspector sees it. */
export interface EntriesSummary {
  readonly length: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The last `LOG_TAIL` entries, commands cut to `MAX_TEXT` characters of JSON. */
  readonly tail: readonly { index: number; term: number; command: unknown }[];
}

/** A machine snapshot as an inspector sees it (the fields the Stately inspector reads). */
export interface InspectedSnapshot {
  readonly status: string;
  readonly value: unknown;
  readonly context: unknown;
  readonly output?: unknown;
  readonly error?: unknown;
}

/** A node's context with its log summarized (and anything else large); safe to serialize. */
export function sanitizeContext(context: unknown): unknown {
  return sanitizeValue(context, 'context', 0);
}

/**
 * An event with its `entries` (AppendEntries) summarized like the log, and any other large array
 * (a `client.propose` batch of commands, a batch of read ids) summarized as `{ length, tail }`.
 */
export function sanitizeEvent<E extends { type: string }>(event: E): E {
  if (typeof event !== 'object' || event === null) return event;
  return sanitizeValue(event, 'event', 0) as E;
}

/** A machine snapshot reduced to status, state value and sanitized context (plus output / error). */
export function sanitizeSnapshot(snapshot: unknown): InspectedSnapshot {
  const s = (typeof snapshot === 'object' && snapshot !== null ? snapshot : {}) as Partial<Record<keyof InspectedSnapshot, unknown>>;
  return {
    status: typeof s.status === 'string' ? s.status : 'active',
    value: s.value,
    context: sanitizeContext(s.context),
    ...(s.output !== undefined ? { output: sanitizeValue(s.output, 'output', 0) } : {}),
    ...(s.error !== undefined ? { error: s.error instanceof Error ? `${s.error.name}: ${s.error.message}` : sanitizeValue(s.error, 'error', 0) } : {}),
  };
}

/** A RaftLog or an array of entries as `{ length, lastIndex, lastTerm, tail }`. */
export function summarizeEntries(entries: RaftLog<unknown> | readonly unknown[]): EntriesSummary {
  if (entries instanceof RaftLog) {
    return {
      length: entries.length,
      lastIndex: entries.lastIndex,
      lastTerm: entries.lastTerm,
      tail: entries.slice(entries.lastIndex - LOG_TAIL + 1, entries.lastIndex).map(previewEntry),
    };
  }
  const last = entries[entries.length - 1] as { index?: unknown; term?: unknown } | undefined;
  return {
    length: entries.length,
    lastIndex: typeof last?.index === 'number' ? last.index : 0,
    lastTerm: typeof last?.term === 'number' ? last.term : 0,
    tail: entries.slice(-LOG_TAIL).map(previewEntry),
  };
}

function previewEntry(entry: unknown): { index: number; term: number; command: unknown } {
  const e = (typeof entry === 'object' && entry !== null ? entry : {}) as { index?: unknown; term?: unknown; command?: unknown };
  return {
    index: typeof e.index === 'number' ? e.index : 0,
    term: typeof e.term === 'number' ? e.term : 0,
    command: previewCommand(e.command),
  };
}

/** A command as is if its JSON is short, else the start of its JSON. */
function previewCommand(command: unknown): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(command);
  } catch {
    return '[unserializable command]';
  }
  if (json === undefined || json.length <= MAX_TEXT) return sanitizeValue(command, 'command', 0);
  return { truncated: `${json.slice(0, MAX_TEXT - 1)}…`, chars: json.length };
}

/** The shapes this file produces: left as they are, so sanitizing twice changes nothing. */
const SUMMARY_SHAPES = new Set(['length,lastIndex,lastTerm,tail', 'length,tail', 'keys,sample', 'truncated,chars', 'size']);

function isSummary(value: object): boolean {
  return SUMMARY_SHAPES.has(Object.keys(value).join());
}

function isLogKey(key: string): boolean {
  return key === 'log' || key === 'entries';
}

function sanitizeValue(value: unknown, key: string, depth: number): unknown {
  if (value instanceof RaftLog) return summarizeEntries(value);
  // The cut string, marker included, fits MAX_TEXT, so cutting it again changes nothing.
  if (typeof value === 'string') return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT - 24)}… (${value.length} chars)` : value;
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    if (isLogKey(key)) return summarizeEntries(value);
    if (value.length > MAX_ARRAY) return { length: value.length, tail: value.slice(-LOG_TAIL).map((v) => sanitizeValue(v, '', depth + 1)) };
    return depth >= MAX_DEPTH ? `[array of ${value.length}]` : value.map((v) => sanitizeValue(v, '', depth + 1));
  }
  if (value instanceof Map || value instanceof Set) return { size: value.size };
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value; // a class instance: its own toJSON decides
  if (isSummary(value)) return value;
  if (depth >= MAX_DEPTH) return '[object]';
  const keys = Object.keys(value);
  if (keys.length > MAX_KEYS) {
    return { keys: keys.length, sample: Object.fromEntries(keys.slice(0, LOG_TAIL).map((k) => [k, sanitizeValue((value as Record<string, unknown>)[k], k, depth + 1)])) };
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = sanitizeValue((value as Record<string, unknown>)[k], k, depth + 1);
  return out;
}
