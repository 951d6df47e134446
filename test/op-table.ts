/**
 * The per-operator case table shared by the WASM (test/cpu/wasm-ops.test.ts) and WGSL
 * (test/gpu/wgsl-ops.test.ts) emitter tests: every op of the AST in small formulas on odd sizes, each
 * checked against the JS twin. Inputs are float32-representable so that float32 programs and the float64
 * oracle see the same numbers.
 */
import { Pm, Vi, Vj, max, min, type Formula } from '../src/formula/builder.js';
import { seededPoints } from './random-data.js';

/** float32-representable points uniform in [lo, hi) (default [−1, 1)). */
export const points = (seed: number, n: number, d: number, lo = -1, hi = 1) => seededPoints(seed, n, d, { lo, hi, float32: true });

const f32 = Math.fround;

export const N = 11; // odd row count
export const M = 37; // odd column count: padding to any lane, unroll or tile step is exercised
export const X = Vi(points(101, N, 3), 'x');
export const Y = Vj(points(102, M, 3), 'y');
export const x1 = Vi(points(103, N, 1), 'u');
export const y1 = Vj(points(104, M, 1), 'v');
export const w = Pm([f32(0.5), f32(-1.25), f32(2)], 'w');
export const s = Pm(f32(0.7), 's');
export const r2 = X.sub(Y).sqnorm2();
export const diff1 = x1.sub(y1); // scalar x_i − y_j in (−2, 2)

/**
 * float32 floor for formulas whose entries are sums/differences of O(1) terms (or log near 1):
 * there a per-entry relative bound is meaningless (a 1e-4 entry made of O(1) terms carries an
 * absolute float32 error ~1e-7), so the error is taken relative to max(|entry|, 0.1). float64
 * keeps the pure relative bound for every formula.
 */
export const F32_CANCEL = 0.1;
export const CANCELS = new Set([
  'neg', 'log', 'log near 1', 'log of a vector', 'max (vector, scalar broadcast)', 'min/max with a parameter vector',
  'add/sub/mul', 'div of a vector by a parameter', 'div vector by vector', 'div by a parameter vector', 'sum', 'dot',
  'dot with a parameter-scaled vector', 'sign', 'step', 'min (vectors)', 'abs', 'sin/cos of a vector',
  'atan2 of vectors', 'clamp', 'ifelse', 'ifelse of vectors (string)',
]);

/**
 * float32 sin/cos of arguments up to 40: the float32 argument itself carries an absolute error
 * ≈ 40·ε_f32 ≈ 2.4e-6, so the result is good to that absolute error (floor 1), not relatively
 * near the zeros of sin/cos.
 */
export const F32_ABSOLUTE = new Set(['sin (|arg| ≤ 40)', 'cos (|arg| ≤ 40)', 'sinxdivx (|arg| ≤ 12)', 'sinc (|arg| ≤ 4)']);

/** The float32 floor of a case: CANCELS → F32_CANCEL, F32_ABSOLUTE → 1, else 0 (purely relative). */
export function floorFor(label: string): number {
  return CANCELS.has(label) ? F32_CANCEL : F32_ABSOLUTE.has(label) ? 1 : 0;
}

/** Cases both backends run. */
export const OPS: [string, Formula][] = [
  ['neg', X.sub(Y).neg().dot(w)],
  ['exp (Gaussian)', r2.neg().exp()],
  ['exp (both signs, |arg| ≤ 8)', diff1.mul(4).exp()],
  ['exp of a vector', X.sub(Y).exp().sum()],
  ['log', r2.add(0.1).log()],
  ['log near 1', diff1.mul(0.01).add(1).log()],
  ['log of a vector', X.sub(Y).abs().add(0.25).log().sum()],
  ['sqrt', r2.sqrt()],
  ['rsqrt', r2.add(0.5).rsqrt()],
  ['abs', X.sub(Y).abs().sum()],
  ['square', X.sub(Y).square().sum()],
  ['inv', r2.add(1).inv()],
  ['tanh (|arg| ≥ 0.5)', diff1.abs().add(0.5).mul(diff1.sign()).mul(1.5).tanh()],
  ['tanh (saturating)', diff1.mul(40).tanh()],
  ['sin (|arg| ≤ 40)', diff1.mul(20).sin()],
  ['cos (|arg| ≤ 40)', diff1.mul(20).cos()],
  ['sin/cos of a vector', X.sub(Y).mul(3).sin().add(X.add(Y).cos()).sum()],
  ['sign', X.sub(Y).sign().dot(w)],
  ['step', X.sub(Y).step().dot(w)],
  ['relu', X.sub(Y).relu().sum()],
  ['min (vectors)', min(X, Y).sum()],
  ['max (vector, scalar broadcast)', max(X, 0.2).sub(Y).sum()],
  ['min/max with a parameter vector', min(X, w).add(max(Y, w)).sum()],
  ...[-3, -2, -1, 0, 2, 3, 4, 5].map((e): [string, Formula] => [`pow integer ${e} (negative bases)`, diff1.add(0.05).pow(e)]),
  ...[0.5, -0.5, 1.5, 2.5, -1.5].map((e): [string, Formula] => [`pow half-integer ${e}`, r2.add(0.05).pow(e)]),
  ['pow general 0.37', r2.add(0.05).pow(0.37)],
  ['pow general -2.3 on a vector', X.sub(Y).abs().add(0.1).pow(-2.3).sum()],
  ['pow variable exponent (parameter)', r2.add(0.05).pow(Pm(f32(1.3), 'e'))],
  ['pow variable exponent (x_i-dependent)', r2.add(0.05).pow(x1.abs())],
  ['pow variable exponent (y_j-dependent)', r2.add(0.05).pow(y1.mul(2))],
  ['add/sub/mul', X.add(Y).mul(X.sub(Y)).sum()],
  ['div by a parameter (hoisted reciprocal)', r2.div(s)],
  ['div of a vector by a parameter', X.sub(Y).div(s).sum()],
  ['div by an x_i-only scalar (row-hoisted reciprocal)', r2.div(x1.abs().add(0.5))],
  ['div by a j-dependent scalar', r2.div(y1.square().add(0.25))],
  ['div vector by vector', X.div(Y.abs().add(1)).sum()],
  ['div by a parameter vector', X.sub(Y).div(w).sum()],
  ['sqnorm2', r2],
  ['norm2', X.sub(Y).norm2()],
  ['sum', X.mul(Y).sum()],
  ['dot', X.dot(Y)],
  ['dot with a parameter-scaled vector', X.mul(w).dot(Y)],
  ['scalar broadcast of x_i against a j vector', Y.mul(x1).sub(X).sqnorm2()],
  ['scalar broadcast of y_j against an i vector', X.sub(y1).mul(w).sqnorm2()],
  ['ARD Gaussian with parameter vector', X.sub(Y).mul(w).sqnorm2().div(s.square().mul(2)).neg().exp()],
  ['Matérn 5/2 shape', (() => {
    const t = r2.sqrt().mul(Math.sqrt(5)).div(s);
    return t.add(1).add(r2.mul(5 / 3).div(s.square())).mul(t.neg().exp());
  })()],
  ['sinxdivx (|arg| ≤ 12)', diff1.mul(6).sinxdivx()],
  ['sinc (|arg| ≤ 4)', diff1.mul(2).sinc()],
  ['sinxdivx of a vector', X.sub(Y).sinxdivx().sum()],
  ['log1p', r2.log1p()],
  ['log1p of tiny values', diff1.mul(f32(1e-6)).log1p()],
  ['log1p near −1', diff1.abs().mul(f32(0.45)).sub(f32(0.9)).log1p()],
  ['expm1', diff1.mul(3).expm1()],
  ['expm1 of tiny values', diff1.mul(f32(1e-5)).expm1()],
  ['expm1 around the series switch', diff1.mul(f32(0.2)).expm1()],
  ['atan2 (all quadrants)', y1.atan2(x1)],
  ['atan2 of vectors', X.atan2(Y).sum()],
  ['clamp', X.sub(Y).clamp(f32(-0.5), f32(0.75)).sum()],
  ['ifelse', diff1.ifelse(r2, r2.neg().exp())],
  ['ifelse of vectors (string)', (() => {
    const t = X.sub(Y);
    return t.ifelse(t.square(), t.abs().neg()).sum();
  })()],
  ['weightedSqDist (diagonal weights)', X.weightedSqDist(Y, w.abs()).neg().exp()],
  ['weightedSqDist (scalar weight)', X.weightedSqDist(Y, s).neg().exp()],
  ['constant-only subtree', r2.mul(Pm(f32(3)).log().add(2)).neg().exp()],
];
