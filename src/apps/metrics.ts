/** Clustering agreement scores. */

type Labels = Int32Array | readonly number[];

function checkLabels(name: string, a: Labels): void {
  if (!(a instanceof Int32Array) && !Array.isArray(a)) {
    throw new TypeError(`adjustedRandIndex: ${name} must be an Int32Array or an array of integers, got ${typeof a}`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isInteger(a[i])) throw new TypeError(`adjustedRandIndex: ${name}[${i}] must be an integer label, got ${String(a[i])}`);
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
