/** Clustering agreement scores. */
import { describeValue } from '../operators/validate.js';

/**
 * Integer labels: an array, or any numeric typed array (labels stored as Float64Array, as numpy's float labels
 * arrive, or Uint8Array, are integers all the same; each entry is checked).
 */
type Labels =
  | readonly number[] | Int32Array | Float64Array | Float32Array | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Uint32Array;

function checkLabels(name: string, a: Labels): void {
  const typed = ArrayBuffer.isView(a) && !(a instanceof DataView) && !(a instanceof BigInt64Array) && !(a instanceof BigUint64Array);
  if (!typed && !Array.isArray(a)) {
    throw new TypeError(`adjustedRandIndex: ${name} must be an array of integers or a numeric typed array, got ${describeValue(a)}`);
  }
  for (let i = 0; i < a.length; i++) {
    const v: unknown = a[i];
    // a number that is no integer as itself; anything else quoted with its type
    if (!Number.isInteger(v)) throw new TypeError(`adjustedRandIndex: ${name}[${i}] must be an integer label, got ${typeof v === 'number' ? v : describeValue(v)}`);
  }
}

const pairs = (m: number) => (m * (m - 1)) / 2;

/**
 * Adjusted Rand index of two labellings of the same points (Hubert & Arabie 1985, as scikit-learn's
 * `adjusted_rand_score`): 1 for the same partition up to renaming, about 0 for independent ones; symmetric.
 * From the contingency table n_ij: ARI = (Σ C(n_ij, 2) − E) / (½(Σ C(a_i, 2) + Σ C(b_j, 2)) − E),
 * E = Σ C(a_i, 2) · Σ C(b_j, 2) / C(n, 2). Both partitions a single cluster (or n ≤ 1): 1, as scikit-learn.
 */
export function adjustedRandIndex(a: Labels, b: Labels): number {
  checkLabels('a', a);
  checkLabels('b', b);
  if (a.length !== b.length) throw new RangeError(`adjustedRandIndex: a has ${a.length} labels and b has ${b.length}; they must label the same points`);
  const n = a.length;
  const table = new Map<string, number>();
  const rows = new Map<number, number>();
  const cols = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]},${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(a[i]!, (rows.get(a[i]!) ?? 0) + 1);
    cols.set(b[i]!, (cols.get(b[i]!) ?? 0) + 1);
  }
  let index = 0;
  for (const m of table.values()) index += pairs(m);
  let sumA = 0;
  for (const m of rows.values()) sumA += pairs(m);
  let sumB = 0;
  for (const m of cols.values()) sumB += pairs(m);
  const expected = n > 1 ? (sumA * sumB) / pairs(n) : 0;
  const max = (sumA + sumB) / 2;
  if (max === expected) return 1; // both trivial partitions (one cluster each, or all singletons)
  return (index - expected) / (max - expected);
}
