/**
 * Options objects, declared once and checked by one function (scikit-learn's `_parameter_constraints` idea):
 * a spec maps each known key to a check; `parseOptions` refuses unknown keys by name (with a "did you mean"),
 * applies defaults, and every failure reads the same way, quoting the bad value *with its type*
 * ("sigma must be a positive finite number, got a string \"1\"").
 *
 * `undefined` means "absent" (the default applies); `null` is a value like any other and is refused
 * unless a check accepts it, so `{ sigma: null }` never silently becomes the default.
 */
import { editDistance } from '../formula/errors.js';
import { describeValue } from './validate.js';

/** Checks one option value (never `undefined`: absence is handled by `optional`/`withDefault`). */
export type Check<T> = (value: unknown, where: string) => T;

/** A check for one key; `absent` says what an omitted key becomes (or that it is required). */
export interface OptionField<T> {
  readonly check: Check<T>;
  /** What an omitted key becomes. Absent → required. */
  readonly absent?: { readonly value: T };
  /** What the check accepts, for messages and docs ("a positive integer"). */
  readonly expected: string;
}

export type OptionSpec = Readonly<Record<string, OptionField<unknown>>>;

/** The parsed options: each key with its checked value (undefined where optional and omitted). */
export type ParsedOptions<S extends OptionSpec> = { -readonly [K in keyof S]: S[K] extends OptionField<infer T> ? T : never };

/** The error every options check throws: TypeError for a value of the wrong type, RangeError otherwise. */
export class OptionTypeError extends TypeError {
  constructor(message: string, readonly option: string) {
    super(message);
    this.name = 'OptionTypeError';
  }
}
export class OptionRangeError extends RangeError {
  constructor(message: string, readonly option: string) {
    super(message);
    this.name = 'OptionRangeError';
  }
}

function fail(where: string, expected: string, value: unknown, wrongType: boolean): never {
  const message = `${where} must be ${expected}, got ${describeValue(value)}`;
  throw wrongType ? new OptionTypeError(message, where) : new OptionRangeError(message, where);
}

/** A field from a predicate: `typeOk` false → TypeError, `ok` false → RangeError. */
export function field<T>(expected: string, typeOk: (v: unknown) => boolean, ok: (v: T) => boolean = () => true): OptionField<T> {
  return {
    expected,
    check: (value, where) => {
      if (!typeOk(value)) fail(where, expected, value, true);
      if (!ok(value as T)) fail(where, expected, value, false);
      return value as T;
    },
  };
}

const isNumber = (v: unknown): v is number => typeof v === 'number';

/** A finite number, optionally within [min, max] (inclusive) or above/below exclusive bounds. */
export function finiteNumber(bounds: { min?: number; max?: number; above?: number; below?: number } = {}): OptionField<number> {
  const parts: string[] = [];
  if (bounds.above !== undefined) parts.push(`> ${bounds.above}`);
  if (bounds.min !== undefined) parts.push(`≥ ${bounds.min}`);
  if (bounds.below !== undefined) parts.push(`< ${bounds.below}`);
  if (bounds.max !== undefined) parts.push(`≤ ${bounds.max}`);
  const expected = `a finite number${parts.length ? ` ${parts.join(' and ')}` : ''}`;
  return field<number>(expected, isNumber, (v) =>
    Number.isFinite(v)
    && (bounds.min === undefined || v >= bounds.min) && (bounds.max === undefined || v <= bounds.max)
    && (bounds.above === undefined || v > bounds.above) && (bounds.below === undefined || v < bounds.below));
}

/** A number > 0 and finite. */
export const positiveNumber: OptionField<number> = field<number>('a positive finite number', isNumber, (v) => Number.isFinite(v) && v > 0);
/** A number ≥ 0, finite. */
export const nonNegativeNumber: OptionField<number> = field<number>('a finite number ≥ 0', isNumber, (v) => Number.isFinite(v) && v >= 0);
/** A number ≥ 0, +Infinity allowed (tolerances: scipy accepts atol = inf, "converged at once"). */
export const nonNegativeOrInfinity: OptionField<number> = field<number>('a number ≥ 0 (Infinity allowed)', isNumber, (v) => v >= 0);

/** An integer within [min, max]. */
export function integer(bounds: { min?: number; max?: number } = {}): OptionField<number> {
  const parts: string[] = [];
  if (bounds.min !== undefined) parts.push(`≥ ${bounds.min}`);
  if (bounds.max !== undefined) parts.push(`≤ ${bounds.max}`);
  const expected = `an integer${parts.length ? ` ${parts.join(' and ')}` : ''}`;
  return field<number>(expected, isNumber, (v) =>
    Number.isInteger(v) && (bounds.min === undefined || v >= bounds.min) && (bounds.max === undefined || v <= bounds.max));
}

export const positiveInt: OptionField<number> = integer({ min: 1 });
export const nonNegativeInt: OptionField<number> = integer({ min: 0 });
export const boolean: OptionField<boolean> = field<boolean>('true or false', (v) => typeof v === 'boolean');
export const func: OptionField<(...args: never[]) => unknown> = field('a function', (v) => typeof v === 'function');
export const string: OptionField<string> = field<string>('a string', (v) => typeof v === 'string');
/** Anything but undefined (the consumer checks it further, e.g. a vector or an operator). */
export const any: OptionField<unknown> = { expected: 'a value', check: (v) => v };

/** One of the given literal values. */
export function oneOf<const V extends readonly (string | number | boolean)[]>(...values: V): OptionField<V[number]> {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return field<V[number]>(expected, (v) => typeof v === typeof values[0] || values.some((w) => typeof w === typeof v), (v) => values.includes(v));
}

/** An instance of a class. */
export function instanceOf<T>(ctor: abstract new (...args: never[]) => T, name = ctor.name): OptionField<T> {
  return field<T>(`a ${name}`, (v) => v instanceof ctor);
}

/** The first alternative whose type check accepts the value decides; a value no alternative types is a TypeError. */
export function union<A, B>(a: OptionField<A>, b: OptionField<B>): OptionField<A | B>;
export function union<A, B, C>(a: OptionField<A>, b: OptionField<B>, c: OptionField<C>): OptionField<A | B | C>;
export function union(...alts: OptionField<unknown>[]): OptionField<unknown> {
  const expected = alts.map((a) => a.expected).join(' or ');
  return {
    expected,
    check: (value, where) => {
      let rangeError: unknown;
      for (const alt of alts) {
        try {
          return alt.check(value, where);
        } catch (e) {
          if (e instanceof OptionRangeError) rangeError ??= e;
          else if (!(e instanceof OptionTypeError)) throw e;
        }
      }
      if (rangeError) fail(where, expected, value, false);
      return fail(where, expected, value, true);
    },
  };
}

/** A field whose value is further transformed/checked by `refine` (which throws with its own message). */
export function refined<T, U>(base: OptionField<T>, refine: (value: T, where: string) => U, expected = base.expected): OptionField<U> {
  return { expected, check: (value, where) => refine(base.check(value, where), where) };
}

/** Omitted → undefined. */
export function optional<T>(f: OptionField<T>): OptionField<T | undefined> {
  return { ...f, absent: { value: undefined } } as OptionField<T | undefined>;
}

/** Omitted → `value`. */
export function withDefault<T>(f: OptionField<T>, value: T): OptionField<T> {
  return { ...f, absent: { value } };
}

/** The known key closest to `key` when it is plausibly a typo. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Throws naming the first key of `options` not in `known` (and the known ones). */
export function rejectUnknownKeys(fn: string, options: object, known: readonly string[], what = 'options'): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const hint = closestKey(key, known);
      throw new OptionRangeError(
        `${fn}: unknown option '${key}' in ${what}${hint ? ` (did you mean '${hint}'?)` : ''}; known options: ${known.join(', ')}`,
        key,
      );
    }
  }
}

/** Throws unless `options` is undefined or a plain object (not an array, a function, a Matrix …). */
export function assertOptionsObject(fn: string, options: unknown, what = 'options'): asserts options is Record<string, unknown> | undefined {
  if (options === undefined) return;
  const proto = typeof options === 'object' && options !== null ? Object.getPrototypeOf(options) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new OptionTypeError(`${fn}: ${what} must be a plain object, got ${describeValue(options)}`, what);
  }
}

/**
 * Checks `options` against `spec`: a plain object or undefined; unknown keys refused by name; each known key
 * checked (absent keys take their default, or are an error when required); returns a fresh object.
 * Messages read "<fn>: <key> must be <expected>, got <type and value>".
 */
export function parseOptions<S extends OptionSpec>(fn: string, options: unknown, spec: S, what = 'options'): ParsedOptions<S> {
  return checkObject(fn, options, spec, what, '');
}

/** `parseOptions`' work for the object `what`; `path` prefixes its keys in messages ('' at the top, 'gpu.' nested). */
function checkObject<S extends OptionSpec>(fn: string, options: unknown, spec: S, what: string, path: string): ParsedOptions<S> {
  assertOptionsObject(fn, options, what);
  const given = options ?? {};
  rejectUnknownKeys(fn, given, Object.keys(spec), what);
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(spec)) {
    const value = given[key];
    if (value === undefined) {
      if (!f.absent) throw new OptionTypeError(`${fn}: option '${path}${key}' is required (${f.expected})`, `${path}${key}`);
      out[key] = f.absent.value;
    } else out[key] = f.check(value, `${fn}: ${path}${key}`);
  }
  return out as ParsedOptions<S>;
}

/** A positional argument checked like an option ("eigsh: k must be a positive integer, got a string \"2\""). */
export function checkArgument<T>(fn: string, name: string, value: unknown, f: OptionField<T>): T {
  if (value === undefined && f.absent) return f.absent.value;
  return f.check(value, `${fn}: ${name}`);
}

/**
 * A nested options object (`gpu`, `costModel` …), checked as the outer one is: plain, unknown keys refused by name,
 * each key by its field, messages naming the path ("kernelOperator: gpu.tile must be …").
 */
export function nested<S extends OptionSpec>(spec: S): OptionField<ParsedOptions<S>> {
  return {
    expected: `an object with keys among ${Object.keys(spec).join(', ')}`,
    check: (value, where) => {
      const fn = calledFunction(where);
      const name = where.slice(where.lastIndexOf(': ') + 2);
      return checkObject(fn, value, spec, name, `${name}.`);
    },
  };
}

/** The function named by a field's `where` ("<fn>: <option>", as `parseOptions` passes it), for a field's own messages. */
export function calledFunction(where: string): string {
  const cut = where.lastIndexOf(': ');
  return cut < 0 ? where : where.slice(0, cut);
}
