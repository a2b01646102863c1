/**
 * The JSON check of src/core/json.ts as a pure function (test/unit/json-commands.test.ts shows
 * every edge of the node refusing what it refuses): each refusal says exactly what is wrong and
 * where, because that text is what a client reads back from propose or the HTTP API.
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson, compareStrings, jsonText, jsonValueError, MAX_JSON_DEPTH } from '../../src/core/json.js';

function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** `{ k1: { k2: … { kN: leaf } } }` */
function chain(keys: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = keys; i >= 1; i--) value = { [`k${i}`]: value };
  return value;
}

describe('what is not a JSON value is named exactly', () => {
  it.each([
    ['NaN', Number.NaN, 'NaN is not a JSON value'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity is not a JSON value'],
    ['a BigInt', 10n, '10n (a BigInt) is not a JSON value'],
    ['undefined', undefined, 'undefined is not a JSON value'],
    ['a symbol', Symbol('s'), 'a symbol (Symbol(s)) is not a JSON value'],
    ['a function', () => 1, 'a function is not a JSON value'],
  ])('%s, at the root or in an array', (_name, value, what) => {
    expect(jsonValueError(value)).toBe(`command: ${what}`);
    expect(jsonValueError([1, value])).toBe(`command[1]: ${what}`);
  });

  it('an undefined field is refused saying JSON.stringify would drop it', () => {
    expect(jsonValueError({ a: 1, b: undefined })).toBe('command.b: undefined is not a JSON value (JSON.stringify would drop the field)');
  });

  it('a hole in an array is refused at its index', () => {
    expect(jsonValueError([1, , 3])).toBe('command[1]: a hole in a sparse array is not a JSON value');
  });

  it('the root is named as the caller says', () => {
    expect(jsonValueError({ a: Number.NaN }, 'value')).toBe('value.a: NaN is not a JSON value');
    expect(jsonText(Number.NaN, 'entry 3')).toEqual({ ok: false, error: 'entry 3: NaN is not a JSON value' });
  });
});

describe('only plain arrays and plain objects are JSON', () => {
  it('an instance of a class is refused with the class named', () => {
    class Point {
      x = 1;
    }
    expect(jsonValueError({ p: new Point() })).toBe('command.p: a Point is not a plain object (only plain objects and arrays are JSON)');
    expect(jsonValueError(new Map())).toBe('command: a Map is not a plain object (only plain objects and arrays are JSON)');
  });

  it('an object whose prototype has no usable constructor name is refused as an object with a custom prototype', () => {
    const what = 'command: an object with a custom prototype is not a plain object (only plain objects and arrays are JSON)';
    expect(jsonValueError(Object.create(Object.create(null)))).toBe(what); // no constructor at all
    expect(jsonValueError(new (class {})())).toBe(what); // an anonymous class: name ''
    expect(jsonValueError(Object.create({ constructor: { name: 42 } }))).toBe(what); // a name that is not a string
  });

  it('a subclass of Array, or an array without a prototype, is not a plain array', () => {
    class List extends Array<number> {}
    expect(jsonValueError({ l: List.from([1, 2]) })).toBe('command.l: a List is not a plain array');
    expect(jsonValueError(Object.setPrototypeOf([1], null))).toBe('command: an object with a custom prototype is not a plain array');
  });

  it('an array with a property besides its elements is refused, naming that property (JSON.stringify would lose it)', () => {
    expect(jsonValueError({ a: Object.assign([1, 2], { extra: 3 }) })).toBe('command.a.extra: an array holds only its elements in JSON, not other properties');
  });

  it('an enumerable symbol key is refused, on an object or an array, naming the symbol', () => {
    expect(jsonValueError({ o: { a: 1, [Symbol('tag')]: 1 } })).toBe('command.o[Symbol(tag)]: a symbol key is not JSON');
    expect(jsonValueError({ a: Object.assign([1], { [Symbol('tag')]: 1 }) })).toBe('command.a[Symbol(tag)]: a symbol key is not JSON');
  });

  it('a non-enumerable symbol key is not part of the value and passes, as JSON.stringify ignores it', () => {
    const object = Object.defineProperty({ a: 1 }, Symbol('hidden'), { value: 1, enumerable: false });
    const array = Object.defineProperty([1], Symbol('hidden'), { value: 1, enumerable: false });
    expect(jsonText(object, 'command')).toEqual({ ok: true, text: '{"a":1}' });
    expect(jsonText(array, 'command')).toEqual({ ok: true, text: '[1]' });
  });
});

describe('a cycle is refused, naming where the repeated object was first met', () => {
  it('an object that contains itself', () => {
    const o: Record<string, unknown> = { a: 1 };
    o.self = o;
    expect(jsonValueError(o)).toBe('command.self: a cycle (the same object as command)');
  });

  it('a cycle below the root names the inner object', () => {
    const inner: Record<string, unknown> = {};
    inner.back = [inner];
    expect(jsonValueError({ a: inner })).toBe('command.a.back[0]: a cycle (the same object as command.a)');
  });

  it('the same object reached twice without a cycle is not a cycle', () => {
    const shared = { x: 1 };
    expect(jsonText({ a: shared, b: [shared] }, 'command')).toEqual({ ok: true, text: '{"a":{"x":1},"b":[{"x":1}]}' });
  });
});

describe('nesting is limited to maxDepth levels', () => {
  it(`by default ${MAX_JSON_DEPTH} levels pass and one more is refused`, () => {
    expect(MAX_JSON_DEPTH).toBe(512);
    expect(canonicalJson(nested(512))).toBe(`${'['.repeat(512)}0${']'.repeat(512)}`);
    expect(jsonValueError(nested(512))).toBeUndefined();
    expect(canonicalJson(nested(513))).toBeUndefined();
    expect(jsonValueError(nested(513))).toMatch(/: nesting deeper than 512 levels is not allowed$/);
  });

  it('a smaller maxDepth is honoured exactly, by both canonicalJson and jsonText', () => {
    expect(canonicalJson([[1]], 2)).toBe('[[1]]');
    expect(canonicalJson([[[1]]], 2)).toBeUndefined();
    expect(jsonText({ a: { b: 1 } }, 'command', 2)).toEqual({ ok: true, text: '{"a":{"b":1}}' });
    expect(jsonText({ a: { b: {} } }, 'command', 2)).toEqual({ ok: false, error: 'command.a.b: nesting deeper than 2 levels is not allowed' });
  });
});

describe('a value that cannot be read is refused, not thrown', () => {
  it('a getter that throws an Error: its message is given', () => {
    const value = {
      get a() {
        throw new Error('boom');
      },
    };
    expect(jsonText(value, 'command')).toEqual({ ok: false, error: 'command: cannot be read (boom)' });
  });

  it('a getter that throws something else: that value is given', () => {
    const value = {
      get a() {
        throw 'no';
      },
    };
    expect(jsonValueError(value)).toBe('command: cannot be read (no)');
  });

  it('a getter is read once, and what it returned is checked', () => {
    let reads = 0;
    const value = {
      get a() {
        reads++;
        return [1];
      },
    };
    expect(jsonText(value, 'command')).toEqual({ ok: true, text: '{"a":[1]}' });
    expect(reads).toBe(1);
  });
});

describe('where: the path to the offending value', () => {
  it('identifiers are written .name, other keys ["…"], indexes [n] (so an index and the key "1" differ)', () => {
    expect(jsonValueError({ a: [0, { 'x y': { $ok_1: { 1: Number.NaN } } }] })).toBe('command.a[1]["x y"].$ok_1["1"]: NaN is not a JSON value');
  });

  it('a path of 16 steps is written whole', () => {
    expect(jsonValueError(chain(16, Number.NaN))).toBe(`command${Array.from({ length: 16 }, (_, i) => `.k${i + 1}`).join('')}: NaN is not a JSON value`);
  });

  it('a longer path keeps its first 8 and last 4 steps and counts the ones left out', () => {
    expect(jsonValueError(chain(17, Number.NaN))).toBe('command.k1.k2.k3.k4.k5.k6.k7.k8…(5 more)….k14.k15.k16.k17: NaN is not a JSON value');
    expect(jsonValueError(chain(20, Number.NaN))).toBe('command.k1.k2.k3.k4.k5.k6.k7.k8…(8 more)….k17.k18.k19.k20: NaN is not a JSON value');
  });
});

describe('the text', () => {
  it('jsonText writes the keys in the object’s own order, as JSON.stringify does', () => {
    const value = { b: 1, a: [true, false, null, -0, 'x'], c: { z: 1, y: 2 } };
    expect(jsonText(value, 'command')).toEqual({ ok: true, text: JSON.stringify(value) });
  });

  it('canonicalJson sorts keys at every level, so equal values have equal text', () => {
    expect(canonicalJson({ b: 1, a: [true, false], c: { z: 1, y: null } })).toBe('{"a":[true,false],"b":1,"c":{"y":null,"z":1}}');
    expect(canonicalJson({ d: 4, c: 3, b: 2, a: 1, e: 5 })).toBe(canonicalJson({ a: 1, e: 5, c: 3, b: 2, d: 4 }));
    expect(canonicalJson({ d: 4, c: 3, b: 2, a: 1, e: 5 })).toBe('{"a":1,"b":2,"c":3,"d":4,"e":5}');
  });

  it('keys are sorted by UTF-16 code units, not by locale (upper case before lower, é after z)', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, a: 4 })).toBe('{"Z":3,"a":4,"z":2,"é":1}');
  });

  it('compareStrings orders by UTF-16 code units: -1 before, 1 after, 0 equal', () => {
    expect(compareStrings('a', 'b')).toBe(-1);
    expect(compareStrings('b', 'a')).toBe(1);
    expect(compareStrings('a', 'a')).toBe(0);
    expect(compareStrings('Z', 'a')).toBe(-1);
    expect(compareStrings('ab', 'a')).toBe(1);
  });
});
