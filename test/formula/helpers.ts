/** Shared helpers for the formula tests: seeded random points and direct computations. */
import { mulberry32 as rng } from '../conformance.js';

export { rng };

export function randomPoints(n: number, d: number, seed: number, scale = 1): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => (2 * r() - 1) * scale));
}

export function sqdist(a: number[], b: number[]): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k]! - b[k]!) ** 2;
  return s;
}

/** Dense n×m matrix of f(x_i, y_j), row-major. */
export function denseOf(x: number[][], y: number[][], f: (a: number[], b: number[]) => number): Float64Array {
  const out = new Float64Array(x.length * y.length);
  x.forEach((a, i) => y.forEach((b, j) => { out[i * y.length + j] = f(a, b); }));
  return out;
}

export function maxRelErr(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let e = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]!;
    const y = b[k]!;
    if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) continue;
    e = Math.max(e, Math.abs(x - y) / Math.max(1, Math.abs(y)));
  }
  return e;
}
