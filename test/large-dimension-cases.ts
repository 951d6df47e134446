/**
 * Large-dimension cases shared by the CPU and GPU tests (test/cpu/large-dimension.test.ts,
 * test/gpu/large-dimension.test.ts): formulas over points with d in the thousands, and their float64 reference
 * computed directly in plain JS loops (not through any emitter).
 */
import { Vi, Vj, type Formula } from '../src/formula/builder.js';
import { seededPoints, seededVector } from './random-data.js';

export interface LargeCase {
  readonly label: string;
  readonly formula: Formula;
  /** K b in float64 and Σ_j |K_ij b_j| per row. */
  readonly reference: { readonly y: Float64Array; readonly scale: Float64Array };
  readonly b: Float64Array;
}

/** The Gaussian exp(−|x − y|²/d) plus a linear term x·y/d on float32-representable points in [−1, 1). */
export function largeCase(d: number, n: number, m: number, seed = 1): LargeCase {
  const xs = seededPoints(seed, n, d, { float32: true });
  const ys = seededPoints(seed + 1, m, d, { float32: true });
  const b = seededVector(seed + 2, m);
  const x = Vi(xs);
  const y = Vj(ys);
  const formula = x.sub(y).sqnorm2().mul(-1 / d).exp().add(x.dot(y).mul(1 / d));
  const yOut = new Float64Array(n);
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let r2 = 0;
      let dot = 0;
      for (let k = 0; k < d; k++) {
        const u = xs[i]![k]!;
        const v = ys[j]![k]!;
        r2 += (u - v) * (u - v);
        dot += u * v;
      }
      const K = Math.exp(-r2 / d) + dot / d;
      yOut[i] += K * b[j]!;
      scale[i] += Math.abs(K * b[j]!);
    }
  }
  return { label: `d = ${d}, ${n}×${m}`, formula, reference: { y: yOut, scale }, b };
}

/** Worst |got − want| / Σ_j |K_ij b_j| over the rows. */
export function worstError(got: Float64Array, c: LargeCase): number {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i]! - c.reference.y[i]!) / c.reference.scale[i]!;
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  }
  return worst;
}

/** rsqrt as KeOps defines it (keops `Rsqrt`: "rsqrt(0) = 0"), written independently of the library. */
export const keopsRsqrt = (v: number): number => (v === 0 ? 0 : 1 / Math.sqrt(v));
