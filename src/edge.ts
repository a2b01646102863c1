/**
 * Refusals at an edge, shared by every boundary that checks input with a zod schema (the seed's
 * class, the simulation's controls, the in-memory network's conditions): one readable
 * InvalidRequestError naming each failed field and its value.
 */
import type { z } from 'zod';
import { InvalidRequestError } from './errors.js';

/** `input` parsed by `schema`, or an InvalidRequestError reading `${refusal}${the issues}`. */
export function parseAtEdge<S extends z.ZodType>(schema: S, input: unknown, refusal: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new InvalidRequestError(`${refusal}${describeIssues(parsed.error, input)}`);
  return parsed.data;
}

/** "path = value: message" for each failed path (the last, most specific issue of each). */
export function describeIssues(error: z.ZodError, input: unknown): string {
  // A bad number fails both `nonnegative` and `min(1)`: keep the last, most specific issue of a kind
  // per path. Custom issues (a rule across fields: leaderId ≠ sender, prevLogTerm above term) are
  // each their own reason, all kept.
  const byPathAndCode = new Map<string, string>();
  for (const issue of error.issues) {
    const path = issue.path.map(String).join('.');
    const value = valueAt(input, issue.path);
    const kind = issue.code === 'custom' ? `custom\u0000${issue.message}` : issue.code;
    byPathAndCode.set(`${path}\u0000${kind}`, `${path || 'value'}${value === undefined ? '' : ` = ${value}`}: ${issue.message}`);
  }
  return [...byPathAndCode.values()].join('; ');
}

/** The offending value, shown when it is a leaf (a whole options object would only be noise). */
function valueAt(input: unknown, path: readonly PropertyKey[]): string | undefined {
  if (path.length === 0) return undefined;
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  const isRecord = typeof value === 'object' && value !== null && !Array.isArray(value);
  return isRecord && path.length === 1 ? undefined : show(value);
}

/** A value as an error message shows it: short, and never throwing. */
export function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === undefined) return 'undefined';
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
