/** JSON values as the replicated state machines and the checkers see them. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * Canonical JSON text — object keys sorted by UTF-16 code units, so equal values have equal
 * text — or undefined if `value` is not a plain JSON value (a function, a class instance, a
 * sparse array, a non-finite number) or nests deeper than `maxDepth` (which also stops a cycle).
 */
export function canonicalJson(value: unknown, maxDepth = 512, depth = 0): string | undefined {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : undefined;
  if (typeof value !== 'object' || depth >= maxDepth) return undefined;
  if (Array.isArray(value)) {
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) return undefined; // sparse
      const part = canonicalJson(value[i], maxDepth, depth + 1);
      if (part === undefined) return undefined;
      parts.push(part);
    }
    return `[${parts.join(',')}]`;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const parts: string[] = [];
  for (const k of Object.keys(value).sort(compareStrings)) {
    const part = canonicalJson((value as Record<string, unknown>)[k], maxDepth, depth + 1);
    if (part === undefined) return undefined;
    parts.push(`${JSON.stringify(k)}:${part}`);
  }
  return `{${parts.join(',')}}`;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
