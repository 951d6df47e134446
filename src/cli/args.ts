/**
 * Command-line parsing against a declared spec: every flag a command reads is listed once (name,
 * kind, range, help), so `--help` and the checks come from the same table. Unknown flags, missing
 * values and out-of-range numbers are `UsageError`s naming the flag (with a "did you mean").
 */
import { closestKey } from '../operators/options.js';
import { UsageError } from './errors.js';

export type FlagValue = string | number | boolean;

export interface Flag {
  /** Name without the leading `--`. */
  readonly name: string;
  /** 'bool' flags take no value; 'int' and 'number' are checked against min/max (and `positive`). */
  readonly kind: 'string' | 'number' | 'int' | 'bool' | 'choice';
  readonly help: string;
  /** Placeholder in the help text (e.g. 'S'). */
  readonly value?: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** A number > 0 (for 'number'). */
  readonly positive?: boolean;
  readonly default?: FlagValue;
}

export interface Positional {
  readonly name: string;
  readonly help: string;
  readonly optional?: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly positionals: readonly Positional[];
  readonly flags: readonly Flag[];
  readonly examples: readonly string[];
  /** Extra paragraphs for `--help`. */
  readonly details?: string;
}

/** Flags every command accepts. */
export const HELP_FLAG: Flag = { name: 'help', kind: 'bool', help: 'show this help' };

/** The parsed command line: positionals in order, flags with defaults applied. */
export class Args {
  constructor(
    readonly command: string,
    readonly positionals: readonly string[],
    private readonly values: ReadonlyMap<string, FlagValue>,
    private readonly explicit: ReadonlySet<string> = new Set(values.keys()),
  ) {}

  /** The flag was on the command line (not only a default). */
  given(name: string): boolean {
    return this.explicit.has(name);
  }

  /** Refuses flags that the chosen mode would ignore. */
  refuse(names: readonly string[], because: string): void {
    const bad = names.find((n) => this.explicit.has(n));
    if (bad !== undefined) throw new UsageError(`${this.command}: --${bad} does not apply ${because}`);
  }

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return v === undefined ? undefined : String(v);
  }

  number(name: string): number | undefined {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : undefined;
  }

  bool(name: string): boolean {
    return this.values.get(name) === true;
  }

  /** A flag the command cannot run without. */
  required(name: string): FlagValue {
    const v = this.values.get(name);
    if (v === undefined) throw new UsageError(`${this.command}: --${name} is required (see lazylinalg ${this.command} --help)`);
    return v;
  }
}

/** Parses `argv` (after the command name) against `spec`. `--help` wins over every other check. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): Args {
  const flags = [...spec.flags, HELP_FLAG];
  if (argv.includes('--help') || argv.includes('-h')) return new Args(spec.name, [], new Map([['help', true]]));
  const values = new Map<string, FlagValue>();
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k]!;
    if (onlyPositionals || !arg.startsWith('-') || arg === '-' || /^-\d|^-\.\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const [rawName, inline] = splitFlag(arg);
    const flag = flags.find((f) => f.name === rawName);
    if (flag === undefined) throw unknownFlag(spec, arg, rawName, flags);
    if (values.has(flag.name)) throw new UsageError(`${spec.name}: --${flag.name} given twice`);
    if (flag.kind === 'bool') {
      if (inline !== undefined) throw new UsageError(`${spec.name}: --${flag.name} takes no value, got '${inline}'`);
      values.set(flag.name, true);
      continue;
    }
    const raw = inline ?? argv[++k];
    if (raw === undefined || (inline === undefined && raw.startsWith('--'))) {
      throw new UsageError(`${spec.name}: --${flag.name} needs a value${flag.value ? ` (${flag.value})` : ''}`);
    }
    values.set(flag.name, flagValue(spec.name, flag, raw));
  }
  checkPositionals(spec, positionals);
  const explicit = new Set(values.keys());
  for (const f of spec.flags) if (f.default !== undefined && !values.has(f.name)) values.set(f.name, f.default);
  return new Args(spec.name, positionals, values, explicit);
}

function splitFlag(arg: string): [string, string | undefined] {
  const body = arg.replace(/^--?/, '');
  const eq = body.indexOf('=');
  return eq < 0 ? [body, undefined] : [body.slice(0, eq), body.slice(eq + 1)];
}

function unknownFlag(spec: CommandSpec, arg: string, name: string, flags: readonly Flag[]): UsageError {
  const hint = closestKey(name, flags.map((f) => f.name));
  const dashes = arg.startsWith('--') ? '' : ' (flags start with --)';
  return new UsageError(
    `${spec.name}: unknown flag '${arg}'${hint ? ` (did you mean '--${hint}'?)` : dashes}; see lazylinalg ${spec.name} --help`,
  );
}

function checkPositionals(spec: CommandSpec, positionals: readonly string[]): void {
  const max = spec.positionals.length;
  if (positionals.length > max) {
    const extra = positionals[max]!;
    throw new UsageError(`${spec.name}: unexpected argument '${extra}'${max === 0 ? ' (this command takes only flags)' : ''}; see lazylinalg ${spec.name} --help`);
  }
  const missing = spec.positionals.slice(positionals.length).find((p) => !p.optional);
  if (missing) throw new UsageError(`${spec.name}: missing ${missing.name} (${missing.help}); see lazylinalg ${spec.name} --help`);
}

/**
 * A decimal number as written on a command line (sign, digits, point, exponent). Number() also reads '0x10', '0b1'
 * and '0o7' — `--sigma 0x10` ran with σ = 16 — which no numeric flag means; blanks around it are trimmed, as before.
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/; // not `\d+\.?\d*`: O(n²) backtracking on long digit runs
const decimal = (raw: string): number => (DECIMAL.test(raw.trim()) ? Number(raw) : NaN);

function flagValue(command: string, flag: Flag, raw: string): FlagValue {
  const fail = (what: string) => new UsageError(`${command}: --${flag.name} must be ${what}, got '${raw}'`);
  switch (flag.kind) {
    case 'string':
      return raw;
    case 'choice':
      if (!flag.choices!.includes(raw)) {
        const hint = closestKey(raw, flag.choices!);
        throw fail(`one of ${flag.choices!.join(', ')}${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
      return raw;
    case 'int': {
      const v = decimal(raw);
      const lo = flag.min ?? -Infinity;
      const hi = flag.max ?? Infinity;
      if (!Number.isSafeInteger(v) || v < lo || v > hi) throw fail(`an integer${rangeText(lo, hi)}`);
      return v;
    }
    case 'number': {
      const v = decimal(raw);
      if (!Number.isFinite(v) || (flag.positive && v <= 0) || v < (flag.min ?? -Infinity) || v > (flag.max ?? Infinity)) {
        throw fail(flag.positive ? 'a positive number' : `a finite number${rangeText(flag.min ?? -Infinity, flag.max ?? Infinity)}`);
      }
      return v;
    }
    default:
      throw new Error(`flag kind ${flag.kind as string}`);
  }
}

function rangeText(lo: number, hi: number): string {
  if (lo === -Infinity && hi === Infinity) return '';
  if (hi === Infinity) return ` ≥ ${lo}`;
  return ` in [${lo}, ${hi}]`;
}

/** `--help` text of one command. */
export function formatHelp(spec: CommandSpec): string {
  const usageArgs = spec.positionals.map((p) => (p.optional ? `[${p.name}]` : p.name)).join(' ');
  const lines = [`lazylinalg ${spec.name} — ${spec.summary}`, '', `Usage: lazylinalg ${spec.name} ${usageArgs}${usageArgs ? ' ' : ''}[options]`];
  if (spec.positionals.length > 0) {
    lines.push('', 'Arguments:');
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(22)} ${p.help}`);
  }
  lines.push('', 'Options:');
  for (const f of [...spec.flags, HELP_FLAG]) {
    const head = `--${f.name}${f.kind === 'bool' ? '' : ` ${f.value ?? (f.kind === 'choice' ? f.choices!.join('|') : 'VALUE')}`}`;
    const dflt = f.default !== undefined ? ` (default ${f.default})` : '';
    lines.push(head.length > 22 ? `  ${head}\n  ${' '.repeat(22)} ${f.help}${dflt}` : `  ${head.padEnd(22)} ${f.help}${dflt}`);
  }
  if (spec.details) lines.push('', spec.details);
  lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}
