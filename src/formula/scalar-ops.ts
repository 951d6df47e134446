/**
 * The scalar meaning of every element-wise operator, in one place. Constant folding calls these,
 * and the JS emitter's templates must agree with them (tests check both against each other).
 *
 * Choices (KeOps conventions where KeOps has one):
 *  - step(x) = 1 for x ≥ 0, else 0 (KeOps `Step`); NaN gives 0.
 *  - relu(x) = x < 0 ? 0 : x (NaN propagates).
 *  - sign(x) = Math.sign(x) (sign(0) = 0).
 *  - rsqrt(x) = 1 / sqrt(x) except rsqrt(0) = 0 (KeOps `Rsqrt`: "rsqrt(0) = 0", so that a Coulomb-type
 *    kernel rsqrt(|x − y|²) drops the self-interaction i = j); −0 counts as 0, x < 0 gives NaN. inv(x) = 1 / x.
 *  - sinxdivx(x) = sin(x)/x with sinxdivx(0) = 1 (KeOps `SinXDivX`); the builder's sinc(x) is sinxdivx(πx), numpy's
 *    normalised sinc. log1p, expm1 as Math.log1p, Math.expm1 (accurate for tiny x); atan2(y, x) as Math.atan2.
 *  - ifnonneg(c, a) = c ≥ 0 ? a : 0 and ifneg(c, b) = c ≥ 0 ? 0 : b (NaN c counts as negative, as step): the two
 *    halves of KeOps' IfElse(c, a, b) = ifnonneg(c, a) + ifneg(c, b), where the branch not taken is never read, so
 *    an ∞ or NaN there does not leak (a blend b + step(c)·(a − b) would give NaN).
 *  - pow(x, n) for an integer constant |n| ≤ MAX_UNROLLED_POWER is repeated multiplication
 *    (x^2 is exactly x·x, and negative bases work); other exponents use Math.pow.
 */
import type { BinaryOp, ReduceOp, UnaryOp } from './ast.js';
import { norm2Of } from './norm2-range.js';

export const MAX_UNROLLED_POWER = 16;

export function isSmallIntegerExponent(e: number): boolean {
  return Number.isInteger(e) && Math.abs(e) <= MAX_UNROLLED_POWER;
}

/** x^n by repeated multiplication, n an integer with |n| ≤ MAX_UNROLLED_POWER. */
export function powInt(x: number, n: number): number {
  let acc = 1;
  const k = Math.abs(n);
  if (k > 0) acc = x;
  for (let t = 1; t < k; t++) acc *= x;
  return n < 0 ? 1 / acc : acc;
}

export function applyUnary(op: UnaryOp, x: number): number {
  switch (op) {
    case 'neg': return -x;
    case 'exp': return Math.exp(x);
    case 'log': return Math.log(x);
    case 'sqrt': return Math.sqrt(x);
    case 'rsqrt': return x === 0 ? 0 : 1 / Math.sqrt(x); // KeOps: rsqrt(0) = 0 (module comment)
    case 'abs': return Math.abs(x);
    case 'square': return x * x;
    case 'inv': return 1 / x;
    case 'sin': return Math.sin(x);
    case 'cos': return Math.cos(x);
    case 'tanh': return Math.tanh(x);
    case 'sign': return Math.sign(x);
    case 'step': return x >= 0 ? 1 : 0;
    case 'relu': return x < 0 ? 0 : x;
    case 'sinxdivx': return x === 0 ? 1 : Math.sin(x) / x;
    case 'log1p': return Math.log1p(x);
    case 'expm1': return Math.expm1(x);
  }
}

export function applyBinary(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add': return a + b;
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'div': return a / b;
    case 'pow': return isSmallIntegerExponent(b) ? powInt(a, b) : Math.pow(a, b);
    case 'min': return Math.min(a, b);
    case 'max': return Math.max(a, b);
    case 'atan2': return Math.atan2(a, b);
    case 'ifnonneg': return a >= 0 ? b : 0;
    case 'ifneg': return a >= 0 ? 0 : b;
  }
}

/** A reduction of a vector (given as its components) to a scalar. */
export function applyReduce(op: ReduceOp, v: readonly number[]): number {
  if (op === 'norm2') return norm2Of(v);
  let acc = 0;
  for (const c of v) acc += op === 'sum' ? c : c * c;
  return acc;
}
