/**
 * norm2 without spurious overflow or underflow. Every backend computes ‖c‖ as √(Σ c_k²) and checks the sum s
 * against the safe range [tiny, huge) of its precision; only outside it (rare) is the norm recomputed as
 * m·√(Σ (c_k/m)²), m = max|c_k|, which is right wherever the norm is representable.
 *
 * Why these bounds: s < huge (just below overflow, and ∞ or NaN fail the test) means no square overflowed.
 * Squares below the smallest normal lose relative accuracy (subnormal, or flushed to zero on GPUs): each loses
 * at most 2^-126 (float32) / 2^-1022 (float64) in absolute terms, so s ≥ tiny keeps d such losses under one
 * rounding of s for d ≤ 2^14 (float32, tiny = 2^-86: 2^14·2^-126 ≤ 2^-24·2^-86) and any practical d (float64).
 * s = 0 is outside the range too: all squares may have underflowed (|c_k| < 2^-75 in float32).
 *
 * Special values of the recompute: m = 0 → the norm is 0 (or NaN where a component is NaN: s is then NaN);
 * m = ∞ → +∞, never NaN (sign.ts's isUnitBounded relies on norm2 of finite points never being NaN).
 */
import { distinctNodes } from './analyze.js';
import type { BoundData, Node, ReduceNode } from './ast.js';

export const NORM2_SAFE = {
  float64: { tiny: 2 ** -960, huge: 2 ** 1022 },
  float32: { tiny: 2 ** -86, huge: 2 ** 126 },
} as const;

/** Whether the sum of squares s needs the scaled recompute in float64 (also true for NaN). */
export function norm2NeedsScaling(s: number): boolean {
  return !(s >= NORM2_SAFE.float64.tiny && s < NORM2_SAFE.float64.huge);
}

/** ‖v‖ in float64 with the scaled recompute where √(Σ v_k²) would overflow or underflow; NaN if any v_k is NaN. */
export function norm2Of(v: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < v.length; k++) s += v[k]! * v[k]!;
  return norm2NeedsScaling(s) ? scaledNorm2(v, s) : Math.sqrt(s);
}

/** m·√(Σ (v_k/m)²), m = max|v_k|; `s` is the plain sum of squares (NaN exactly when a component is NaN). */
export function scaledNorm2(v: ArrayLike<number>, s: number): number {
  if (s !== s) return s;
  let m = 0;
  for (let k = 0; k < v.length; k++) m = Math.max(m, Math.abs(v[k]!));
  if (m === 0 || m === Infinity) return m;
  let t = 0;
  for (let k = 0; k < v.length; k++) {
    const q = v[k]! / m;
    t += q * q;
  }
  return m * Math.sqrt(t);
}


/**
 * Whether every norm2 in `formula` is provably in float32's safe range for the bound points, so a float32 program
 * may take √s with no range test (the GPU's pair loop, where the test's branch cost the Laplacian 1.18–1.31×).
 * Proven only for norm2(x − y), x an i-variable and y a j-variable (either order: the built-in Laplacian and Matérn
 * kernels, and string formulas of |x − y|), from the points as float32 rounds them:
 *
 * - below: s is exactly 0 (every component 0: the norm 0, which √0 gives) or ≥ 2^−86 = tiny, because every
 *   component x_k − y_k that is not 0 is at least 2^−43 (its square ≥ 2^−86, rounding monotone). Per coordinate k:
 *   values of magnitude ≥ 2^−18 are multiples of 2^−41, so two of them differ by 0 or ≥ 2^−41; one of them against
 *   0 by ≥ 2^−18, and against a "small" value t (0 < |t| < 2^−18) by ≥ 2^−19 where |t| < 2^−19, else by a multiple
 *   of 2^−42 (t too is one). What remains, small values against 0 and each other, is checked on the small values
 *   themselves — typically a handful: each at least 2^−43 and, sorted, consecutive distinct ones at least 2^−43
 *   apart. Past SMALL_VALUES_MAX of them the proof is not attempted.
 * - above: s ≤ Σ_k (max|x_k| + max|y_k|)² ≤ 2^125 < huge, with room for the roundings of any d < 2^23 terms.
 *
 * Any other norm2 (of one point, of a scaled difference), or points outside these bounds, gives false: the program
 * keeps its range test and scaled recompute.
 */
export function norm2InFloat32RangeFor(formula: Node): boolean {
  const norms = distinctNodes(formula).filter((n): n is ReduceNode => n.op === 'norm2');
  if (norms.length === 0) return false;
  // each point set scanned once, however many norm2s read it (K(x, x): x and y are the same data)
  const scanned = new Map<BoundData, ReturnType<typeof float32Coordinates>>();
  const coordinates = (b: BoundData) => {
    if (!scanned.has(b)) scanned.set(b, float32Coordinates(b));
    return scanned.get(b);
  };
  return norms.every((n) => {
    const sub = n.arg;
    if (sub.op !== 'sub' || sub.left.op !== 'var' || sub.right.op !== 'var') return false;
    const { left, right } = sub;
    if (!((left.cat === 'i' && right.cat === 'j') || (left.cat === 'j' && right.cat === 'i')) || left.dim !== right.dim) return false;
    const a = coordinates(left.value);
    const b = coordinates(right.value);
    if (!a || !b) return false;
    let bound = 0;
    for (let k = 0; k < left.dim; k++) {
      bound += (a.reach[k]! + b.reach[k]!) ** 2;
      if (!smallValuesApart([...a.small[k]!, ...b.small[k]!])) return false;
    }
    return bound <= 2 ** 125;
  });
}

/** Small values (0 < |v| < 2^−18) per coordinate past which `norm2InFloat32RangeFor` does not sort them. */
const SMALL_VALUES_MAX = 65536;

/**
 * max |v| per coordinate of the points as float32 rounds them, and each coordinate's small values (0 < |v| < 2^−18);
 * undefined where a value is not finite in float32 or the small values are too many.
 */
function float32Coordinates({ data, rows, cols }: BoundData): { reach: Float64Array; small: number[][] } | undefined {
  const reach = new Float64Array(cols);
  const small: number[][] = Array.from({ length: cols }, () => []);
  let smallCount = 0;
  for (let i = 0, o = 0; i < rows; i++) {
    for (let k = 0; k < cols; k++, o++) {
      const v = Math.fround(data[o]!);
      const m = Math.abs(v);
      if (!(m < Infinity)) return undefined;
      if (m > reach[k]!) reach[k] = m;
      if (m !== 0 && m < 2 ** -18) {
        if (++smallCount > SMALL_VALUES_MAX) return undefined;
        small[k]!.push(v);
      }
    }
  }
  return { reach, small };
}

/** Whether the small values of one coordinate are each ≥ 2^−43 in magnitude and, distinct, ≥ 2^−43 apart. */
function smallValuesApart(values: number[]): boolean {
  values.sort((p, q) => p - q);
  for (let t = 0; t < values.length; t++) {
    if (Math.abs(values[t]!) < 2 ** -43) return false;
    if (t > 0 && values[t] !== values[t - 1] && values[t]! - values[t - 1]! < 2 ** -43) return false;
  }
  return true;
}
