/**
 * MINRES for symmetric (possibly indefinite) systems (A − shift·I) x = b, Paige & Saunders (1975),
 * following scipy.sparse.linalg.minres line by line: the same Lanczos recurrence, QR update and
 * stopping tests, so iteration counts agree with scipy's wherever scipy's answer is right.
 *
 * scipy's tests (with ‖A‖, ‖r‖ estimated from the recurrences): ‖r‖ / (‖A‖·‖x‖) ≤ rtol (istop 1),
 * ‖A r‖ / (‖A‖·‖r‖) ≤ rtol (istop 2, least squares), ‖A‖‖x‖eps ≥ β₁ (istop 3), cond(A) ≥ 0.1/eps (istop 4),
 * or maxiter (istop 6 → info = maxiter).
 *
 * Differences from scipy, on purpose:
 * - Converged (info 0) means what cg's contract says: ‖b − (A − shift·I) x‖ ≤ max(rtol·‖b‖, atol), checked on
 *   a true residual (one product) whenever a test fires. scipy's test 1 is a backward error: on an
 *   ill-conditioned system (a 2-D Laplacian) it fires at relative residual 1e-2 for rtol 1e-5, and on float32
 *   products at 0.5–0.96. A refused claim goes on: the same recurrence with scipy's tests tightened by the miss
 *   (or restarted from x when the recurrence has drifted from the true residual, as inexact products make it);
 *   three checks in a row without a 10% gain end the solve with info > 0, the best iterate and a message.
 * - With `x0` the initial residual is b − (A − shift·I) x0 (scipy forgets the shift there).
 * - Breakdowns (indefinite M, non-symmetric A detected by a negative β²) return info −1 with a message instead of raising.
 */
import type { LinearOperator } from '../operators/linear-operator.js';
import {
  boolean, finiteNumber, func, nonNegativeOrInfinity, optional, parseOptions, positiveInt, withDefault, type OptionField,
} from '../operators/options.js';
import type { CgResult, IterationProgress } from './cg.js';
import { settleCallback } from '../operators/validate.js';
import {
  dot,
  isBlock,
  norm,
  now,
  operatorLike,
  refuseUnsupported,
  requireSquare,
  toOperator,
  vectorArg,
  vectorLike,
  type OperatorInput,
  type VectorInput,
} from './util.js';

export interface MinresOptions {
  x0?: VectorInput;
  /** Solve (A − shift·I) x = b (default 0). */
  shift?: number;
  /**
   * Relative tolerance (default 1e-5): converged when ‖b − (A − shift·I) x‖ ≤ max(rtol·‖b‖, atol), verified on a
   * true residual. Infinity: converged at once, x0 returned.
   */
  rtol?: number;
  /** Absolute tolerance (default 0; not in scipy's minres). */
  atol?: number;
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

/** minres's options, checked by `parseOptions`: every key of MinresOptions, nothing else. */
export const MINRES_SPEC = {
  x0: optional(vectorLike),
  shift: withDefault(finiteNumber(), 0),
  rtol: withDefault(nonNegativeOrInfinity, 1e-5),
  atol: withDefault(nonNegativeOrInfinity, 0),
  maxiter: optional(positiveInt),
  M: optional(operatorLike),
  callback: optional(func),
  onProgress: optional(func),
  check: withDefault(boolean, false),
} satisfies Record<keyof MinresOptions, OptionField<unknown>>;

/** scipy.sparse.linalg.minres options we do not take, and what to use instead. */
const SCIPY_UNSUPPORTED = { show: 'use onProgress (or callback) to follow the iterations' };

export interface MinresResult extends CgResult<Float64Array, number[]> {
  /**
   * Paige–Saunders stop code of the last test that fired: −1 (b is an eigenvector), 0 (x0 exact), 1 solution,
   * 2 least squares, 3 eps, 4 cond, 6 maxiter; 7–9 breakdowns. info says whether the true residual met the tolerance:
   * info > 0 with istop 3 is x at the accuracy float64 attains (‖A‖·‖x‖·eps), above an rtol asked below it.
   */
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
  4: 'acond has exceeded 0.1/eps',
  6: 'The iteration limit was reached',
};

const EPS = Number.EPSILON;
/** Checks in a row without a 10% gain in the true residual before minres gives up. */
const STALL_CHECKS = 3;

/** One Paige–Saunders cycle: the Lanczos recurrence from a residual r₀ and its QR update (scipy's variable names). */
interface Cycle {
  beta1: number;
  r1: Float64Array;
  r2: Float64Array;
  y: Float64Array;
  w: Float64Array;
  w1: Float64Array;
  w2: Float64Array;
  oldb: number;
  beta: number;
  dbar: number;
  epsln: number;
  phibar: number;
  rhs1: number;
  rhs2: number;
  tnorm2: number;
  gmax: number;
  gmin: number;
  cs: number;
  sn: number;
  itn: number;
  /** b (or the restart's residual) is an eigenvector: the first step solved it. */
  eigenvector: boolean;
  anorm: number;
  acond: number;
  arnorm: number;
  test1: number;
  test2: number;
  epsx: number;
}

/** A cycle from the residual r, z = M r and beta1 = √(rᵀz). */
function startCycle(r: Float64Array, z: Float64Array, beta1: number): Cycle {
  const n = r.length;
  return {
    beta1, r1: r, r2: r, y: z, w: new Float64Array(n), w1: new Float64Array(n), w2: new Float64Array(n),
    oldb: 0, beta: beta1, dbar: 0, epsln: 0, phibar: beta1, rhs1: beta1, rhs2: 0, tnorm2: 0, gmax: 0, gmin: Number.MAX_VALUE,
    cs: -1, sn: 0, itn: 0, eigenvector: false, anorm: 0, acond: 0, arnorm: 0, test1: Infinity, test2: Infinity, epsx: 0,
  };
}

/** One MINRES iteration: x moves along the new direction; returns a breakdown message, or undefined. */
async function minresStep(c: Cycle, x: Float64Array, matvec: (v: Float64Array) => Promise<Float64Array>, psolve: (v: Float64Array) => Promise<Float64Array>): Promise<string | undefined> {
  const n = x.length;
  c.itn++;
  const s = 1 / c.beta; // scipy's arithmetic, to the rounding: its iterates are reproduced
  const v = Float64Array.from(c.y, (yi) => s * yi);
  let y = await matvec(v);
  if (c.itn >= 2) {
    const f = c.beta / c.oldb;
    for (let i = 0; i < n; i++) y[i]! -= f * c.r1[i]!;
  }
  const alfa = dot(v, y);
  const f = alfa / c.beta;
  for (let i = 0; i < n; i++) y[i]! -= f * c.r2[i]!;
  c.r1 = c.r2;
  c.r2 = y;
  y = await psolve(c.r2);
  c.y = y;
  c.oldb = c.beta;
  const beta2 = dot(c.r2, y);
  if (!(beta2 >= 0)) {
    return `β² ${Number.isNaN(beta2) ? 'is NaN (the operator returned NaN)' : `= ${beta2} < 0: A is not symmetric or M not positive definite`}`;
  }
  c.beta = Math.sqrt(beta2);
  c.tnorm2 += alfa * alfa + c.oldb * c.oldb + c.beta * c.beta;
  if (c.itn === 1 && c.beta / c.beta1 <= 10 * EPS) c.eigenvector = true;

  // Apply the previous rotation, then compute the next one (QR of the Lanczos tridiagonal).
  const oldeps = c.epsln;
  const delta = c.cs * c.dbar + c.sn * alfa;
  const gbar = c.sn * c.dbar - c.cs * alfa;
  c.epsln = c.sn * c.beta;
  c.dbar = -c.cs * c.beta;
  const root = Math.hypot(gbar, c.dbar);
  c.arnorm = c.phibar * root;
  const gamma = Math.max(Math.hypot(gbar, c.beta), EPS);
  c.cs = gbar / gamma;
  c.sn = c.beta / gamma;
  const phi = c.cs * c.phibar;
  c.phibar = c.sn * c.phibar;

  // Update x along the new direction w = (v − oldeps·w1 − delta·w2) / gamma.
  const t = c.w1;
  c.w1 = c.w2;
  c.w2 = c.w;
  c.w = t;
  const { w, w1, w2 } = c;
  const denom = 1 / gamma;
  for (let i = 0; i < n; i++) {
    w[i] = (v[i]! - oldeps * w1[i]! - delta * w2[i]!) * denom;
    x[i]! += phi * w[i]!;
  }
  c.gmax = Math.max(c.gmax, gamma);
  c.gmin = Math.min(c.gmin, gamma);
  const z = c.rhs1 / gamma;
  c.rhs1 = c.rhs2 - delta * z;
  c.rhs2 = -c.epsln * z;

  c.anorm = Math.sqrt(c.tnorm2);
  const ynorm = norm(x);
  c.epsx = c.anorm * ynorm * EPS;
  c.test1 = ynorm === 0 || c.anorm === 0 ? Infinity : c.phibar / (c.anorm * ynorm);
  c.test2 = c.anorm === 0 ? Infinity : root / c.anorm;
  c.acond = c.gmax / c.gmin;
  if (!Number.isFinite(c.phibar) || !Number.isFinite(ynorm)) return `NaN/Inf at iteration ${c.itn} (the operator returned NaN or Inf)`;
  return undefined;
}

/** scipy's stopping tests (its order: the later test wins), test 1 at relative tolerance rtol, test 2 at rtol2; 0 = go on. */
export function scipyStop(c: Pick<Cycle, 'eigenvector' | 'test1' | 'test2' | 'acond' | 'epsx' | 'beta1'>, rtol: number, rtol2 = rtol): number {
  if (c.eigenvector) return -1;
  let istop = 0;
  if (1 + c.test2 <= 1) istop = 2;
  if (1 + c.test1 <= 1) istop = 1;
  if (c.acond >= 0.1 / EPS) istop = 4;
  if (c.epsx >= c.beta1) istop = 3;
  if (c.test2 <= rtol2) istop = 2;
  if (c.test1 <= rtol) istop = 1;
  return istop;
}

/** scipy's `check`: wᵀw = yᵀA w for w = A y (A symmetric), and the same for M; a message where it fails. */
async function symmetryCheck(r1: Float64Array, y: Float64Array, matvec: (v: Float64Array) => Promise<Float64Array>, psolve: (v: Float64Array) => Promise<Float64Array>): Promise<string | undefined> {
  const w = await matvec(y);
  const r2 = await matvec(w);
  const s = dot(w, w);
  const t = dot(y, r2);
  if (Math.abs(s - t) > (s + EPS) * EPS ** (1 / 3)) return `A does not define a symmetric matrix (wᵀw = ${s}, yᵀA w = ${t})`;
  const r2m = await psolve(y);
  const sm = dot(y, y);
  const tm = dot(r1, r2m);
  if (Math.abs(sm - tm) > (sm + EPS) * EPS ** (1 / 3)) return `M does not define a symmetric matrix (yᵀy = ${sm}, r1ᵀM y = ${tm})`;
  return undefined;
}

interface MinresSetup {
  A: LinearOperator;
  n: number;
  b: Float64Array;
  x: Float64Array;
  shift: number;
  rtol: number;
  atol: number;
  maxiter: number;
  M: LinearOperator | undefined;
  callback: ((xk: Float64Array) => void) | undefined;
  onProgress: ((p: IterationProgress) => void) | undefined;
  check: boolean;
}

function setupMinres(Ain: OperatorInput, bIn: VectorInput, options: unknown): MinresSetup {
  const fn = 'minres';
  refuseUnsupported(fn, options, SCIPY_UNSUPPORTED);
  const o = parseOptions(fn, options, MINRES_SPEC);
  const A = toOperator(Ain, fn);
  const n = requireSquare(A, fn);
  if (isBlock(bIn)) throw new TypeError(`${fn}: b must be a vector (scipy's minres takes one right-hand side); loop over the columns`);
  const b = vectorArg(bIn, n, fn, 'b');
  if (o.M && (o.M.shape[0] !== n || o.M.shape[1] !== n)) throw new RangeError(`${fn}: M has shape ${o.M.shape[0]}x${o.M.shape[1]}, expected ${n}x${n}`);
  return {
    A, n, b, x: o.x0 !== undefined ? vectorArg(o.x0, n, fn, 'x0') : new Float64Array(n), shift: o.shift, rtol: o.rtol, atol: o.atol,
    maxiter: o.maxiter ?? 5 * n, M: o.M, callback: o.callback as MinresSetup['callback'], onProgress: o.onProgress as MinresSetup['onProgress'],
    check: o.check,
  };
}

export async function minres(Ain: OperatorInput, bIn: VectorInput, options?: MinresOptions): Promise<MinresResult> {
  const s = setupMinres(Ain, bIn, options);
  const { A, n, b, x, shift, M, maxiter } = s;
  A.expectRepeatedProducts(); // a Krylov method applies A many times
  const start = now();
  let matvecs = 0;
  const matvec = async (v: Float64Array): Promise<Float64Array> => {
    matvecs++;
    const y = await A.matvec(v);
    if (shift !== 0) for (let i = 0; i < n; i++) y[i]! -= shift * v[i]!;
    return y;
  };
  const psolve = async (v: Float64Array): Promise<Float64Array> => (M ? M.matvec(v) : Float64Array.from(v));
  const residual = async (): Promise<Float64Array> => {
    const ax = await matvec(x);
    return Float64Array.from(b, (bi, i) => bi - ax[i]!);
  };
  const history: number[] = [];
  let cycle: Cycle | undefined;
  const done = (info: number, istop: number, itn: number, message = MESSAGES[istop]): MinresResult => ({
    x, info, iterations: itn, residualNorms: history, matvecs, istop,
    anorm: cycle?.anorm ?? 0, acond: cycle?.acond ?? 0, arnorm: cycle?.arnorm ?? 0, ...(message !== undefined ? { message } : {}),
  });

  let r = x.some((v) => v !== 0) ? await residual() : Float64Array.from(b);
  let z = await psolve(r);
  let beta1 = dot(r, z);
  if (!(beta1 >= 0)) return done(-1, 9, 0, `rᵀM r = ${beta1} < 0: the preconditioner M is not positive definite`);
  let rnorm = norm(r);
  history.push(rnorm);
  if (rnorm === 0) return done(0, 0, 0);
  const bnorm = norm(b);
  if (bnorm === 0) {
    x.fill(0);
    history[0] = 0;
    return done(0, 0, 0);
  }
  const target = Math.max(s.rtol * bnorm, s.atol);
  if (rnorm <= target) return done(0, 1, 0, 'x0 meets the tolerance'); // rtol or atol = Infinity: scipy's "converged at once"
  // scipy returns x0 as "the exact solution" here: a preconditioner singular (or indefinite) along r ≠ 0 hides it
  if (beta1 === 0) return done(-1, 9, 0, `rᵀM r = 0 where ‖r‖ = ${rnorm.toExponential(3)}: the preconditioner M is not positive definite (singular along the residual)`);
  beta1 = Math.sqrt(beta1);
  if (s.check) {
    const asymmetric = await symmetryCheck(r, z, matvec, psolve);
    if (asymmetric) return done(-1, asymmetric.startsWith('A') ? 7 : 8, 0, asymmetric);
  }

  cycle = startCycle(r, z, beta1);
  const claims = startClaims(target, M ? rnorm / beta1 : 1, s.rtol, x, rnorm);
  for (let itn = 1; ; itn++) {
    const broken = await minresStep(cycle, x, matvec, psolve);
    if (broken) return done(-1, 7, itn, broken);
    history.push(cycle.phibar * claims.ratio);
    if (s.callback) await settleCallback(s.callback(Float64Array.from(x)));
    if (s.onProgress) await settleCallback(s.onProgress({ iteration: itn, residualNorm: cycle.phibar * claims.ratio, elapsedMs: now() - start }));
    const { istop, own } = claimAt(cycle, claims, itn >= maxiter);
    if (istop === 0) continue;
    // a claim (scipy's test, the recurrence's residual estimate below the target, or maxiter): checked on b − A x
    r = await residual();
    rnorm = norm(r);
    history[itn] = rnorm;
    if (rnorm <= target) return done(0, istop, itn);
    const stop = stopRule(claims, istop, rnorm, x, maxiter, A.dtype);
    if (stop !== undefined) {
      history[itn] = Math.min(rnorm, claims.best.norm);
      return done(istop === 6 ? maxiter : itn, istop, itn, stop);
    }
    z = await psolve(r);
    const mnorm = M ? Math.sqrt(Math.max(dot(r, z), 0)) : rnorm;
    const drifted = refuseClaim(claims, istop, own, rnorm, mnorm, cycle.phibar, M !== undefined);
    // inexact products have made the recurrence drift from b − A x: go on from x with a fresh one
    if (drifted || istop === -1) cycle = startCycle(r, z, mnorm);
  }
}

/** What minres keeps between the checks of its convergence claims. */
interface Claims {
  /** max(rtol·‖b‖, atol). */
  readonly target: number;
  /** ‖r‖₂ per unit of the recurrence's residual estimate (its M-norm): 1 without M, re-measured at every check. */
  ratio: number;
  /** The estimate below which a check is made: the target, after a refused check also 20% under the residual it found. */
  claimBelow: number;
  /** scipy's tests 1 and 2, each tightened by what the true residual missed when it fired. */
  readonly testRtol: { 1: number; 2: number };
  /** The iterate with the smallest true residual, and the checks since it last improved by 10%. */
  readonly best: { x: Float64Array; norm: number };
  stalls: number;
}

function startClaims(target: number, ratio: number, rtol: number, x: Float64Array, rnorm: number): Claims {
  return { target, ratio, claimBelow: target, testRtol: { 1: rtol, 2: rtol }, best: { x: Float64Array.from(x), norm: rnorm }, stalls: 0 };
}

/** The stop code claiming at this iteration (0: none); `own` when it is the recurrence's estimate, not scipy's test. */
function claimAt(c: Cycle, claims: Claims, lastIteration: boolean): { istop: number; own: boolean } {
  const istop = scipyStop(c, claims.testRtol[1], claims.testRtol[2]);
  if (istop !== 0) return { istop, own: false };
  if (lastIteration) return { istop: 6, own: false };
  return c.phibar * claims.ratio <= claims.claimBelow ? { istop: 1, own: true } : { istop: 0, own: false };
}

/**
 * After a missed claim: the message that ends the solve (maxiter; scipy's "accuracy"/"cond" limits; STALL_CHECKS
 * checks without a 10% gain), x then set back to the best iterate; or undefined to go on.
 */
function stopRule(claims: Claims, istop: number, rnorm: number, x: Float64Array, maxiter: number, dtype: string): string | undefined {
  const { best } = claims;
  if (rnorm < 0.9 * best.norm) {
    best.x.set(x);
    best.norm = rnorm;
    claims.stalls = 0;
  } else claims.stalls++;
  const miss = `‖b − (A − shift·I) x‖ = ${rnorm.toExponential(3)} > tolerance ${claims.target.toExponential(3)}`;
  if (istop !== 6 && istop !== 3 && istop !== 4 && claims.stalls < STALL_CHECKS) return undefined;
  if (best.norm < rnorm) x.set(best.x);
  return istop === 6 ? `maxiter = ${maxiter} reached with ${miss}` : stopMessage(istop, miss, claims.stalls, dtype);
}

/** Learns from a missed claim (the ratio, the next claim's level, scipy's tightened test); true when the recurrence drifted. */
function refuseClaim(claims: Claims, istop: number, own: boolean, rnorm: number, mnorm: number, phibar: number, preconditioned: boolean): boolean {
  claims.ratio = preconditioned ? rnorm / mnorm : 1;
  claims.claimBelow = Math.min(claims.target, 0.8 * rnorm);
  // scipy's tests are relative to ‖A‖‖x‖ (or ‖A‖‖r‖): ask the one that fired for what the true residual missed by
  if (!own && (istop === 1 || istop === 2)) claims.testRtol[istop] *= claims.target / rnorm;
  return !(Math.abs(mnorm - phibar) <= 0.01 * mnorm);
}

function stopMessage(istop: number, miss: string, stalls: number, dtype: string): string {
  const stalled = stalls >= STALL_CHECKS ? `, ${STALL_CHECKS} checks in a row without progress (returning the best iterate)` : '';
  if (istop === 2) return `${MESSAGES[2]} but ${miss}${stalled}: b looks outside the range of A − shift·I (singular)`;
  if (istop === 3) return `${MESSAGES[3]} but ${miss}: the tolerance is below the accuracy float64 attains here (‖A‖·‖x‖·eps)`;
  if (istop === 4) return `${MESSAGES[4]} but ${miss}: A − shift·I is singular to working precision`;
  return `stagnated: ${miss}${stalled}: A − shift·I is singular or too ill-conditioned for the accuracy of its ${dtype} products`;
}
