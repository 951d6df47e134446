/**
 * One error type for everything the formula layer rejects (bad points, dimension mismatches,
 * unknown symbols …), so callers can tell user mistakes from internal failures.
 */
export class FormulaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormulaError';
  }
}

/**
 * Optimal-string-alignment distance, for the "did you mean" of error messages (options, formula scopes): edits
 * and adjacent transpositions ("sigam" is one step from "sigma").
 */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[x.length]![y.length]!;
}

/**
 * A value of an unexpected type, quoted with its type for an error message: 'a string "1"', 'number 2', 'an object
 * with keys [backend]', 'a Float64Array of length 3' (the formula layer's twin of operators/validate.ts describeValue).
 */
export function describeArgument(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    return `${/^[AEIOaeio]/.test(name) ? 'an' : 'a'} ${name}${'length' in value ? ` of length ${(value as unknown as { length: number }).length}` : ''}`;
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    const name = (value as object).constructor?.name;
    const keyText = `keys [${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}]`;
    return name && name !== 'Object' ? `a ${name} with ${keyText}` : `an object with ${keyText}`;
  }
  return typeof value;
}
