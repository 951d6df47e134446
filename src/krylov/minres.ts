/**
 * MINRES for symmetric (possibly indefinite) systems (A − shift·I) x = b, Paige & Saunders (1975),
 * following scipy.sparse.linalg.minres line by line: the same Lanczos recurrence, QR update and
 * stopping tests, so iteration counts agree with scipy's.
 *
 * Stopping (scipy): with ‖A‖ and ‖r‖ estimated from the recurrences, stop when
 *   ‖r‖ / (‖A‖·‖x‖) ≤ rtol  (istop 1, a solution)  or  ‖A r‖ / (‖A‖·‖r‖) ≤ rtol  (istop 2, least squares),
 * or when cond(A) ≥ 0.1/eps (istop 4), ‖A‖‖x‖eps ≥ β₁ (istop 3), or maxiter (istop 6 → info = maxiter).
 *
 * Differences from scipy, on purpose: with `x0` the initial residual is b − (A − shift·I) x0
 * (scipy forgets the shift there), and breakdowns (indefinite M, non-symmetric A detected by a
 * negative β²) return info −1 with a message instead of raising.
 */
import type { LinearOperator } from '../operators/linear-operator.js';
import type { CgResult, IterationProgress } from './cg.js';
import {
  checkNonNegative,
  checkPositiveInt,
  dot,
  isBlock,
  norm,
  now,
  requireSquare,
  toOperator,
  vectorArg,
  type OperatorInput,
  type VectorInput,
} from './util.js';

export interface MinresOptions {
  x0?: VectorInput;
  /** Solve (A − shift·I) x = b (default 0). */
  shift?: number;
  /** Relative tolerance, scipy's meaning (see above; default 1e-5). */
  rtol?: number;
  /** Iteration limit (default 5·n). */
  maxiter?: number;
  /** Symmetric positive definite preconditioner applying M ≈ (A − shift·I)⁻¹-ish. */
  M?: OperatorInput;
  /** scipy's callback: called with the current iterate after every iteration. */
  callback?: (xk: Float64Array) => void;
  onProgress?: (p: IterationProgress) => void;
  /** Check that A and M look symmetric first (scipy's `check`; 3 extra products). */
  check?: boolean;
}

export interface MinresResult extends CgResult<Float64Array, number[]> {
  /** Paige–Saunders stop code: −1 (b is an eigenvector), 0 (x0 exact), 1 solution, 2 least squares, 3 eps, 4 cond, 6 maxiter. */
  istop: number;
  /** Estimates from the recurrence at exit. */
  anorm: number;
  acond: number;
  arnorm: number;
}

const MESSAGES: Record<number, string> = {
  [-1]: 'beta2 = 0. If M = I, b and x are eigenvectors',
  0: 'beta1 = 0. The exact solution is x0',
  1: 'A solution to Ax = b was found, given rtol',
  2: 'A least-squares solution was found, given rtol',
  3: 'Reasonable accuracy achieved, given eps',
  4: 'x has converged to an eigenvector',
  5: 'acond has exceeded 0.1/eps',
  6: 'The iteration limit was reached',
};

export async function minres(Ain: OperatorInput, bIn: VectorInput, options: MinresOptions = {}): Promise<MinresResult> {
  const fn = 'minres';
  const A = toOperator(Ain, fn);
  const n = requireSquare(A, fn);
  A.expectRepeatedProducts(); // a Krylov method applies A many times
  if (isBlock(bIn)) throw new TypeError(`${fn}: b must be a vector (scipy's minres takes one right-hand side); loop over the columns`);
  const b = vectorArg(bIn, n, fn, 'b');
  const shift = options.shift ?? 0;
  if (typeof shift !== 'number' || !Number.isFinite(shift)) throw new RangeError(`${fn}: shift must be a finite number, got ${shift}`);
  const rtol = checkNonNegative(options.rtol ?? 1e-5, fn, 'rtol');
  const maxiter = checkPositiveInt(options.maxiter ?? 5 * n, fn, 'maxiter');
  let M: LinearOperator | undefined;
  if (options.M !== undefined) {
    M = toOperator(options.M, fn, 'M');
    if (M.shape[0] !== n || M.shape[1] !== n) throw new RangeError(`${fn}: M has shape ${M.shape[0]}x${M.shape[1]}, expected ${n}x${n}`);
  }
  const x = options.x0 !== undefined ? vectorArg(options.x0, n, fn, 'x0') : new Float64Array(n);
  const start = now();
  let matvecs = 0;
  const matvec = async (v: Float64Array): Promise<Float64Array> => {
    matvecs++;
    const y = await A.matvec(v);
    if (shift !== 0) for (let i = 0; i < n; i++) y[i]! -= shift * v[i]!;
    return y;
  };
  const psolve = async (v: Float64Array): Promise<Float64Array> => (M ? M.matvec(v) : Float64Array.from(v));
  const eps = 2.220446049250313e-16;
  const history: number[] = [];
  const done = (info: number, istop: number, itn: number, extra: Partial<MinresResult> = {}): MinresResult => ({
    x, info, iterations: itn, residualNorms: history, matvecs, istop, anorm: 0, acond: 0, arnorm: 0,
    message: MESSAGES[istop], ...extra,
  });

  let r1: Float64Array;
  if (x.some((v) => v !== 0)) {
    const ax = await matvec(x);
    r1 = Float64Array.from(b, (bi, i) => bi - ax[i]!);
  } else r1 = Float64Array.from(b);
  let y = await psolve(r1);
  let beta1 = dot(r1, y);
  if (!(beta1 >= 0)) return done(-1, 9, 0, { message: `rᵀM r = ${beta1} < 0: the preconditioner M is not positive definite` });
  history.push(norm(r1));
  if (beta1 === 0) return done(0, 0, 0);
  const bnorm = norm(b);
  if (bnorm === 0) {
    x.fill(0);
    history[0] = 0;
    return done(0, 0, 0);
  }
  beta1 = Math.sqrt(beta1);

  if (options.check) {
    const w = await matvec(y);
    const r2c = await matvec(w);
    const s = dot(w, w);
    const t = dot(y, r2c);
    if (Math.abs(s - t) > (s + eps) * eps ** (1 / 3)) {
      return done(-1, 7, 0, { message: `A does not define a symmetric matrix (wᵀw = ${s}, yᵀA w = ${t})` });
    }
    const r2m = await psolve(y);
    const sm = dot(y, y);
    const tm = dot(r1, r2m);
    if (Math.abs(sm - tm) > (sm + eps) * eps ** (1 / 3)) {
      return done(-1, 8, 0, { message: `M does not define a symmetric matrix (yᵀy = ${sm}, r1ᵀM y = ${tm})` });
    }
  }

  let oldb = 0;
  let beta = beta1;
  let dbar = 0;
  let epsln = 0;
  let phibar = beta1;
  let rhs1 = beta1;
  let rhs2 = 0;
  let tnorm2 = 0;
  let gmax = 0;
  let gmin = Number.MAX_VALUE;
  let cs = -1;
  let sn = 0;
  let w = new Float64Array(n);
  let w2 = new Float64Array(n);
  let w1 = new Float64Array(n);
  let r2 = r1;
  let istop = 0;
  let itn = 0;
  let anorm = 0;
  let acond = 0;
  let arnorm = 0;
  let rnorm = beta1;

  while (itn < maxiter) {
    itn++;
    const s = 1 / beta;
    const v = Float64Array.from(y, (yi) => s * yi);
    y = await matvec(v);
    if (itn >= 2) {
      const c = beta / oldb;
      for (let i = 0; i < n; i++) y[i]! -= c * r1[i]!;
    }
    const alfa = dot(v, y);
    {
      const c = alfa / beta;
      for (let i = 0; i < n; i++) y[i]! -= c * r2[i]!;
    }
    r1 = r2;
    r2 = y;
    y = await psolve(r2);
    oldb = beta;
    const beta2 = dot(r2, y);
    if (!(beta2 >= 0)) {
      const what = Number.isNaN(beta2) ? 'is NaN (the operator returned NaN)' : `= ${beta2} < 0: A is not symmetric or M not positive definite`;
      return done(-1, 7, itn, { message: `β² ${what}`, anorm, acond });
    }
    beta = Math.sqrt(beta2);
    tnorm2 += alfa * alfa + oldb * oldb + beta * beta;
    if (itn === 1 && beta / beta1 <= 10 * eps) istop = -1; // b is an eigenvector of A: done after this step

    // Apply the previous rotation, then compute the next one (QR of the Lanczos tridiagonal).
    const oldeps = epsln;
    const delta = cs * dbar + sn * alfa;
    const gbar = sn * dbar - cs * alfa;
    epsln = sn * beta;
    dbar = -cs * beta;
    const root = Math.hypot(gbar, dbar);
    arnorm = phibar * root;
    const gamma = Math.max(Math.hypot(gbar, beta), eps);
    cs = gbar / gamma;
    sn = beta / gamma;
    const phi = cs * phibar;
    phibar = sn * phibar;

    // Update x along the new direction w = (v − oldeps·w1 − delta·w2) / gamma.
    const denom = 1 / gamma;
    const t = w1;
    w1 = w2;
    w2 = w;
    w = t;
    for (let i = 0; i < n; i++) {
      w[i] = (v[i]! - oldeps * w1[i]! - delta * w2[i]!) * denom;
      x[i]! += phi * w[i]!;
    }

    gmax = Math.max(gmax, gamma);
    gmin = Math.min(gmin, gamma);
    const z = rhs1 / gamma;
    rhs1 = rhs2 - delta * z;
    rhs2 = -epsln * z;

    anorm = Math.sqrt(tnorm2);
    const ynorm = norm(x);
    const epsx = anorm * ynorm * eps;
    rnorm = phibar;
    const test1 = ynorm === 0 || anorm === 0 ? Infinity : rnorm / (anorm * ynorm);
    const test2 = anorm === 0 ? Infinity : root / anorm;
    acond = gmax / gmin;
    history.push(rnorm);

    if (istop === 0) {
      if (1 + test2 <= 1) istop = 2;
      if (1 + test1 <= 1) istop = 1;
      if (itn >= maxiter) istop = 6;
      if (acond >= 0.1 / eps) istop = 4;
      if (epsx >= beta1) istop = 3;
      if (test2 <= rtol) istop = 2;
      if (test1 <= rtol) istop = 1;
    }
    if (!Number.isFinite(rnorm) || !Number.isFinite(ynorm)) {
      return done(-1, 7, itn, { message: `NaN/Inf at iteration ${itn} (the operator returned NaN or Inf)`, anorm, acond });
    }
    options.callback?.(Float64Array.from(x));
    options.onProgress?.({ iteration: itn, residualNorm: rnorm, elapsedMs: now() - start });
    if (istop !== 0) break;
  }
  if (istop === 0) istop = 6; // loop left by maxiter before a test fired
  const info = istop === 6 ? maxiter : 0;
  return done(info, istop, itn, { anorm, acond, arnorm });
}
