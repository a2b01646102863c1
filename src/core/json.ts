/** JSON values as the replicated state machines and the checkers see them. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Deepest nesting of arrays and objects in a command (the wire and the disk hold JSON; see `jsonText`). */
export const MAX_JSON_DEPTH = 512;

/**
 * Canonical JSON text — object keys sorted by UTF-16 code units, so equal values have equal
 * text — or undefined if `value` is not a plain JSON value (see `jsonText`) or nests deeper than
 * `maxDepth`.
 */
export function canonicalJson(value: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const text = walk(value, true, maxDepth, []);
  return typeof text === 'string' ? text : undefined;
}

export type JsonText = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

/**
 * The JSON text of `value` as JSON.stringify writes it (keys in the object's own order), or what
 * is wrong and where (`command.a[2].b: NaN is not a JSON value`). Only null, booleans, finite
 * numbers, strings, dense arrays and plain objects (prototype Object.prototype or null) whose own
 * enumerable string keys hold JSON values pass: no undefined anywhere (JSON.stringify would drop
 * the field or write null, so the leader would apply a value its followers and its disk never
 * see), no symbol keys, no cycles, at most `maxDepth` levels. Getters are read once, here.
 */
export function jsonText(value: unknown, root: string, maxDepth = MAX_JSON_DEPTH): JsonText {
  let text: string | NotJson;
  try {
    text = walk(value, false, maxDepth, []);
  } catch (error) {
    return { ok: false, error: `${root}: cannot be read (${error instanceof Error ? error.message : String(error)})` };
  }
  if (typeof text === 'string') return { ok: true, text };
  const path = text.path.reverse();
  const where = formatPath(root, path);
  const what = text.cycleAt === undefined ? text.what : `${text.what} (the same object as ${formatPath(root, path.slice(0, text.cycleAt))})`;
  return { ok: false, error: `${where}: ${what}` };
}

/** What is wrong with `value` as a JSON value, and where (see `jsonText`); undefined if nothing is. */
export function jsonValueError(value: unknown, root = 'command', maxDepth = MAX_JSON_DEPTH): string | undefined {
  const checked = jsonText(value, root, maxDepth);
  return checked.ok ? undefined : checked.error;
}

/** Why a value is not JSON; `path` is filled leaf first as the walk unwinds. */
interface NotJson {
  readonly what: string;
  readonly path: PropertyKey[];
  /** For a cycle: how many steps from the root the repeated object was first met. */
  readonly cycleAt?: number;
}

const notJson = (what: string, cycleAt?: number): NotJson => ({ what, path: [], cycleAt });

/** The one walk behind canonicalJson and jsonText: the text of `value`, or why it is not JSON. */
function walk(value: unknown, sortKeys: boolean, maxDepth: number, ancestors: object[]): string | NotJson {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : notJson(`${value} is not a JSON value`);
    case 'bigint':
      return notJson(`${value}n (a BigInt) is not a JSON value`);
    case 'undefined':
      return notJson('undefined is not a JSON value');
    case 'symbol':
      return notJson(`a symbol (${String(value)}) is not a JSON value`);
    case 'function':
      return notJson('a function is not a JSON value');
  }
  if (value === null) return 'null';
  const object = value as object;
  const seen = ancestors.indexOf(object);
  if (seen !== -1) return notJson('a cycle', seen);
  if (ancestors.length >= maxDepth) return notJson(`nesting deeper than ${maxDepth} levels is not allowed`);
  ancestors.push(object);
  const text = Array.isArray(object) ? walkArray(object, sortKeys, maxDepth, ancestors) : walkObject(object, sortKeys, maxDepth, ancestors);
  ancestors.pop();
  return text;
}

function walkArray(array: readonly unknown[], sortKeys: boolean, maxDepth: number, ancestors: object[]): string | NotJson {
  if (Object.getPrototypeOf(array) !== Array.prototype) return notJson(`${kindOf(array)} is not a plain array`);
  const parts: string[] = [];
  for (let i = 0; i < array.length; i++) {
    const part = Object.hasOwn(array, i) ? walk(array[i], sortKeys, maxDepth, ancestors) : notJson('a hole in a sparse array is not a JSON value');
    if (typeof part !== 'string') {
      part.path.push(i);
      return part;
    }
    parts.push(part);
  }
  // JSON.stringify writes only the elements: any other own property would be lost on the way.
  if (Object.keys(array).length !== array.length) {
    const extra = Object.keys(array).find((k) => !/^(0|[1-9][0-9]*)$/.test(k)) as string;
    return { what: 'an array holds only its elements in JSON, not other properties', path: [extra] };
  }
  const symbol = enumerableSymbol(array);
  if (symbol !== undefined) return { what: 'a symbol key is not JSON', path: [symbol] };
  return `[${parts.join(',')}]`;
}

function walkObject(object: object, sortKeys: boolean, maxDepth: number, ancestors: object[]): string | NotJson {
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) return notJson(`${kindOf(object)} is not a plain object (only plain objects and arrays are JSON)`);
  const symbol = enumerableSymbol(object);
  if (symbol !== undefined) return { what: 'a symbol key is not JSON', path: [symbol] };
  const keys = Object.keys(object);
  if (sortKeys) keys.sort(compareStrings);
  const parts: string[] = [];
  for (const k of keys) {
    const child = (object as Record<string, unknown>)[k];
    const part = child === undefined ? notJson('undefined is not a JSON value (JSON.stringify would drop the field)') : walk(child, sortKeys, maxDepth, ancestors);
    if (typeof part !== 'string') {
      part.path.push(k);
      return part;
    }
    parts.push(`${JSON.stringify(k)}:${part}`);
  }
  return `{${parts.join(',')}}`;
}

function enumerableSymbol(object: object): symbol | undefined {
  return Object.getOwnPropertySymbols(object).find((s) => Object.prototype.propertyIsEnumerable.call(object, s));
}

/** "a Date", "a Map", "a Point": the constructor's name, for the message. */
function kindOf(object: object): string {
  const name: unknown = (Object.getPrototypeOf(object) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a custom prototype';
}

/** `command.a[2]["x y"]`; a long path keeps its first and last steps. */
function formatPath(root: string, path: readonly PropertyKey[]): string {
  const steps = path.map((k) => (typeof k !== 'string' ? `[${String(k)}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`));
  return steps.length <= 16 ? root + steps.join('') : `${root}${steps.slice(0, 8).join('')}…(${steps.length - 12} more)…${steps.slice(-4).join('')}`;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
