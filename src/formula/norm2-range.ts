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

