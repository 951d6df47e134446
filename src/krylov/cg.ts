/**
 * Preconditioned conjugate gradient, scipy.sparse.linalg.cg's contract:
 * converged when ‖b − A x‖ ≤ max(rtol·‖b‖, atol); info 0 converged, > 0 the iteration count
 * reached without convergence, < 0 breakdown (with a `message`).
 *
 * Beyond scipy: a block right-hand side (n×k) is solved with one `A.matmat` per iteration for
 * all unconverged columns, each column stopping on its own; and the recursively updated residual
 * is checked against the true residual b − A x every `residualCheckEvery` iterations and before
 * convergence is accepted, because kernel products may be float32 and the recursive residual then
 * drifts below what the iterate really achieves.
 */
import type { Matrix } from 'ml-matrix';
import type { LinearOperator } from '../operators/linear-operator.js';
import {
  boolean, func, nested, nonNegativeInt, nonNegativeNumber, nonNegativeOrInfinity, optional, parseOptions, positiveInt, positiveNumber,
  withDefault, type OptionField,
} from '../operators/options.js';
import {
  applyColumns,
  axpy,
  blockArg,
  dot,
  dtypeEps,
  isBlock,
  norm,
  now,
  operatorLike,
  requireSquare,
  toOperator,
  vectorArg,
  vectorLike,
  vectorOrBlock,
  type BlockInput,
  type OperatorInput,
  type VectorInput,
} from './util.js';
import { Block } from '../operators/block.js';
import { mulberry32, randomVector } from './random.js';
import { settleCallback } from '../operators/validate.js';

export interface IterationProgress {
  /** Iterations done so far (for a block: of the columns still running). */
  iteration: number;
  /** Current residual norm (for a block: the largest over the unconverged columns). */
  residualNorm: number;
  /** Per-column residual norms (block right-hand sides only). */
  residualNorms?: number[];
  elapsedMs: number;
}

export interface CgOptions<X = Float64Array | Matrix> {
  /** Starting guess (default 0); a Matrix n×k for a block b. */
  x0?: VectorInput | BlockInput;
  /** Relative tolerance (default 1e-5); Infinity: converged at once (x0 returned), as scipy. */
  rtol?: number;
  /** Absolute tolerance (default 0); Infinity: converged at once (x0 returned), as scipy. */
  atol?: number;
  /** Iteration limit (default 10·n). */
  maxiter?: number;
  /** Preconditioner: applies M ≈ A⁻¹ (symmetric positive definite). */
  M?: OperatorInput;
  /** scipy's callback: called with the current iterate after every iteration. */
  callback?: (xk: X) => void;
  onProgress?: (p: IterationProgress) => void;
  /** Replace the recursive residual by b − A x every this many iterations (default 25; 0 = only at convergence). */
  residualCheckEvery?: number;
  /**
   * Verify a convergence claim of the recursive residual with a true residual b − A x (one product) before
   * accepting it (default true). false accepts the recursive residual, as scipy does: for operators whose products
   * are exact to rounding (a GPU kernel's compensated twin, whose recursive residual tracks the true one far below any
   * rtol float64 can reach — the check then costs one product and changes nothing). Relaxed products and `resume`
   * always verify.
   */
  verify?: boolean;
  /** Throw CgNoConvergence (carrying the result) instead of returning info ≠ 0. */
  throwOnNoConvergence?: boolean;
  /**
   * Relaxed products (inexact Krylov: the error a product may make grows as the residual falls, van den
   * Eshof & Sleijpen, SIMAX 2004): `A`, a cheaper operator for the same matrix, forms the search-direction
   * products of a column once its residual is ≤ below·‖b‖. True residuals (the periodic checks and every
   * convergence claim) always use the main operator, and a column whose claim is refused goes back to it for
   * good — so the result meets rtol as measured by the main operator, or cg says it did not.
   */
  relaxed?: { A: OperatorInput; below: number };
  /**
   * Go on with a PCG run made elsewhere with the same A and M (one vector b, with `x0` its iterate): r = b − A·x0
   * as that run has it, p the direction of its last step and rho that step's rᵀM r. cg then takes exactly the step
   * the run would have taken next, without a product for r (the adaptive landmark build's κ-estimate steps are
   * continued so by `K.solve`). r is trusted like a recursive residual: verified before convergence is accepted.
   */
  resume?: { r: VectorInput; p: VectorInput; rho: number };
}

/** cg's options, checked by `parseOptions`: every key of CgOptions, nothing else. */
export const CG_SPEC = {
  x0: optional(vectorOrBlock),
  rtol: withDefault(nonNegativeOrInfinity, 1e-5),
  atol: withDefault(nonNegativeOrInfinity, 0),
  maxiter: optional(positiveInt),
  M: optional(operatorLike),
  callback: optional(func),
  onProgress: optional(func),
  residualCheckEvery: withDefault(nonNegativeInt, 25),
  verify: withDefault(boolean, true),
  throwOnNoConvergence: withDefault(boolean, false),
  relaxed: optional(nested({ A: operatorLike, below: nonNegativeNumber })),
  resume: optional(nested({ r: vectorLike, p: vectorLike, rho: positiveNumber })),
} satisfies Record<keyof CgOptions, OptionField<unknown>>;

/**
 * The cause of a breakdown: a non-finite residual ('nonfinite'), rᵀM r ≤ 0 — M not positive definite as applied
 * ('preconditioner') — or pᵀA p ≤ 0 or NaN ('operator').
 */
export type CgBreakdown = 'nonfinite' | 'preconditioner' | 'operator';

export interface CgResult<X = Float64Array, R = number[]> {
  x: X;
  /** 0 converged; > 0 iterations done without convergence (= maxiter); < 0 breakdown (see `message`). */
  info: number;
  /** Iterations done (for a block: the largest over the columns). */
  iterations: number;
  /** Residual-norm history, entry 0 the initial one; true residuals replace recursive ones where checked. For a block: one history per column. */
  residualNorms: R;
  /** Operator products used, counted in vectors (a k-column matmat counts k). */
  matvecs: number;
  /** Why it stopped, when it did not converge. */
  message?: string;
  /** What broke down, when info < 0 (for a block: the first column that did). */
  breakdown?: CgBreakdown;
  /** Block only: info per column. */
  columnInfo?: number[];
  /** Block only: iterations per column. */
  columnIterations?: number[];
}

export class CgNoConvergence extends Error {
  constructor(readonly result: CgResult<Float64Array | Matrix, number[] | number[][]>) {
    super(
      result.info < 0
        ? `cg: breakdown after ${result.iterations} iterations: ${result.message}`
        // the why (maxiter against the tolerance, a stagnation's cause, and from `solve` what CG ran on) is in the
        // message thrown, not only in `result.message`: a user sees the error, not the object
        : `cg: no convergence after ${result.iterations} iterations${result.message ? `: ${result.message}` : ` (residual ${lastResidual(result)})`}${grewNote(result)}`,
    );
    this.name = 'CgNoConvergence';
  }
}

/**
 * Where a column's residual ended above where it started (x worse than x0): said, with what it usually means — CG's
 * residual on an SPD system rises only so far; a singular, inconsistent system (a kernel at α = 0 with a repeated point
 * and two targets there) drove it to 106·‖b‖ with nothing in the message to tell why.
 */
function grewNote(result: CgResult<unknown, number[] | number[][]>): string {
  // a run stopped at the products' accuracy floor jitters there: that is no sign of singularity
  if (result.message?.includes('stagnated')) return '';
  const histories = residualHistories(result);
  // the peak, not the last: an unconverged run returns its best iterate, whose residual may be the first again (a
  // singular system: 2.2 → 7e15 → back to x0's 2.2); CG's own residual may rise a little on a definite A, not tenfold
  const peak = (h: readonly number[]) => Math.max(...h.slice(1));
  const grew = histories.findIndex((h) => h.length > 1 && (h[h.length - 1]! > h[0]! || peak(h) > 10 * h[0]!));
  if (grew < 0) return '';
  const h = histories[grew]!;
  const which = histories.length > 1 ? ` of column ${grew}` : '';
  return `; the residual${which} grew from ${h[0]!.toExponential(3)} (${(peak(h) / h[0]!).toPrecision(3)} times): A + αI is likely singular or indefinite`;
}

function lastResidual(result: CgResult<unknown, number[] | number[][]>): string {
  return residualHistories(result).map((h) => h[h.length - 1]!.toExponential(3)).join(', ');
}

/** The residual history of each column (one for a vector b). */
function residualHistories(result: CgResult<unknown, number[] | number[][]>): number[][] {
  const r = result.residualNorms;
  return Array.isArray(r[0]) ? (r as number[][]) : [r as number[]];
}

const enum Status {
  Running,
  Converged,
  MaxIter,
  Breakdown,
}

interface Column {
  b: Float64Array;
  x: Float64Array;
  r: Float64Array;
  p: Float64Array | null;
  rhoPrev: number;
  rnorm: number;
  tol: number;
  /** r equals b − A x as computed (not recursively updated) since the last product. */
  fresh: boolean;
  sinceCheck: number;
  /** Best verified true residual and refused convergence claims since it improved. */
  bestTrue: number;
  refusals: number;
  /**
   * The iterate with the smallest verified true residual, that residual, the checks since it last
   * improved by 10%, and the restarts from it (inexact — float32 — products make CG drift away).
   */
  best: { x: Float64Array; r: Float64Array; norm: number } | null;
  checksSinceProgress: number;
  restarts: number;
  /** The recursive residual has drifted from b − A x by > 1%: the products are inexact. */
  drifted: boolean;
  /** The largest pᵀAp/pᵀp seen (≤ ‖A‖): the scale of the products' rounding that `stagnationCause` quotes. */
  normA: number;
  iterations: number;
  status: Status;
  message?: string;
  breakdown?: CgBreakdown;
  history: number[];
  /** The residual (×‖b‖) below which products may use `relaxed.A`; 0 once a refused claim turned it off. */
  relaxBelow: number;
}

/** Checks without a 10% gain in the verified residual before CG gives up (250 iterations by default). */
const STALL_CHECKS = 10;
/** Restarts from the best iterate before CG gives up. */
const MAX_RESTARTS = 3;

/**
 * Keeps the best verified iterate and protects CG from drifting away from it. With inexact
 * (float32) products the recursion loses conjugacy once the residual nears the products' accuracy;
 * the verified residual then stalls or grows. This only acts once the recursive residual has been
 * seen to drift from b − A x (> 1%): CG's residual norm is not monotone, and with exact products
 * its oscillations are no reason to intervene. Then a verified residual above twice the best
 * restarts CG from the best iterate (fresh residual, no search direction), and repeated restarts or
 * a long stall end the solve with the best iterate. Returns true when it restored or stopped.
 */
function guardAgainstDrift(c: Column, trueR: Float64Array, gap: number): 'stalled' | 'restored' | false {
  const trueNorm = norm(trueR);
  if (gap > 0.01 * trueNorm) c.drifted = true;
  if (c.best === null || trueNorm < c.best.norm) {
    c.checksSinceProgress = c.best !== null && trueNorm > 0.9 * c.best.norm ? c.checksSinceProgress + 1 : 0;
    if (c.best === null) c.best = { x: Float64Array.from(c.x), r: Float64Array.from(trueR), norm: trueNorm };
    else { c.best.x.set(c.x); c.best.r.set(trueR); c.best.norm = trueNorm; }
    return false;
  }
  c.checksSinceProgress++;
  if (!c.drifted) return false;
  const diverging = trueNorm > 2 * c.best.norm;
  if (diverging) c.restarts++;
  if (c.checksSinceProgress >= STALL_CHECKS || c.restarts > MAX_RESTARTS) {
    restoreBest(c);
    c.status = Status.MaxIter;
    c.message = `stagnated at residual ${c.best.norm.toExponential(3)} > tolerance ${c.tol.toExponential(3)} after ` +
      `${c.iterations} iterations (returning the best iterate): `; // its cause follows (`stagnationCause`)
    return 'stalled';
  }
  if (diverging) {
    restoreBest(c);
    return 'restored';
  }
  return false;
}

/**
 * A stalled residual within this factor of ε·‖A‖·‖x‖ is put down to the products' accuracy: a backward-stable solve
 * ends there too (a dense float64 factor of a Gaussian K + αI, n = 2,000–6,000, α = 10⁻⁶…10⁻¹⁰: 0.2–0.3 times it),
 * and CG's recursion a few times above it (1.2 at n = 6,000, α = 10⁻⁸). Far above it the rounding of many slow
 * iterations accumulated: CG with an indefinite landmark preconditioner stalled at 22 and 100 times it (α = 10⁻⁸, 10⁻¹⁰).
 */
export const PRODUCT_FLOOR_MARGIN = 10;

/**
 * Why a drifted column stalled: the products' rounding at its x (ε·‖A‖·‖x‖), or, far above it, slow convergence. ‖A‖
 * is the larger of the iterations' pᵀAp/pᵀp and ‖A²z‖/‖Az‖ for a seeded z (two products: preconditioned directions
 * can all lie low in A's spectrum — a dense factor's do — and understate it).
 */
async function stagnationCause(run: CgRun, c: Column): Promise<string> {
  const { A, n } = run.s;
  const z = await A.matvec(randomVector(n, mulberry32(n)));
  const normA = Math.max(c.normA, norm(await A.matvec(z)) / norm(z));
  run.matvecs += 2;
  const dtype = A.dtype;
  const xnorm = norm(c.best!.x);
  const floor = dtypeEps(dtype) * normA * xnorm;
  const times = c.best!.norm / floor;
  const at = `ε·‖A‖·‖x‖ ≈ ${floor.toExponential(1)} (‖x‖ = ${xnorm.toExponential(1)}, ‖A‖ ≥ ${normA.toExponential(1)})`;
  if (!(times > PRODUCT_FLOOR_MARGIN)) {
    return `the products' accuracy limits the attainable residual: the ${dtype} rounding at this x is ${at}, the residual ${times.toPrecision(2)} times that`;
  }
  return `${times.toPrecision(2)} times what the ${dtype} products' rounding costs at this x (${at}), so not their accuracy: ` +
    `the rounding of ${c.iterations} slowly converging iterations accumulated — the system, as preconditioned, is too ill-conditioned for CG`;
}

function restoreBest(c: Column): void {
  const best = c.best!;
  c.x.set(best.x);
  c.r.set(best.r);
  c.rnorm = best.norm;
  c.p = null; // restart: the old search direction belongs to the abandoned iterate
  c.fresh = true;
}

/** Everything a cg run needs, checked: the options parsed against CG_SPEC and sized against A and b. */
interface CgSetup {
  A: LinearOperator;
  n: number;
  block: boolean;
  bs: Float64Array[];
  rtol: number;
  atol: number;
  maxiter: number;
  verify: boolean;
  checkEvery: number;
  M: LinearOperator | undefined;
  relaxed: { A: LinearOperator; below: number } | undefined;
  x0s: Float64Array[] | undefined;
  resume: { r: Float64Array; p: Float64Array; rho: number } | undefined;
  callback: ((xk: Float64Array | Matrix) => void) | undefined;
  onProgress: ((p: IterationProgress) => void) | undefined;
  throwOnNoConvergence: boolean;
}

function requireShape(op: LinearOperator, n: number, what: string): LinearOperator {
  if (op.shape[0] !== n || op.shape[1] !== n) {
    throw new RangeError(`cg: ${what} has shape ${op.shape[0]}x${op.shape[1]}, expected ${n}x${n} like A`);
  }
  return op;
}

/** Parses cg's arguments (options against CG_SPEC, then every vector against n). */
function setupCg(Ain: OperatorInput, b: VectorInput | BlockInput, options: unknown): CgSetup {
  const fn = 'cg';
  const o = parseOptions(fn, options, CG_SPEC);
  const A = toOperator(Ain, fn);
  const n = requireSquare(A, fn);
  const block = isBlock(b);
  const bs = block ? blockArg(b, n, fn, 'b') : [vectorArg(b, n, fn, 'b')];
  let x0s: Float64Array[] | undefined;
  if (o.x0 !== undefined) {
    if (block !== isBlock(o.x0)) throw new TypeError(`${fn}: x0 must be a ${block ? 'block (Matrix n×k)' : 'vector'} like b`);
    x0s = isBlock(o.x0) ? blockArg(o.x0, n, fn, 'x0') : [vectorArg(o.x0, n, fn, 'x0')];
    if (x0s.length !== bs.length) throw new RangeError(`${fn}: x0 has ${x0s.length} columns, b has ${bs.length}`);
  }
  if (o.resume !== undefined && (block || x0s === undefined)) throw new TypeError(`${fn}: resume needs one right-hand side and its x0`);
  return {
    A, n, block, bs, x0s,
    rtol: o.rtol,
    atol: o.atol,
    maxiter: o.maxiter ?? 10 * n,
    // relaxed products and a resumed residual are never trusted without a true residual
    verify: o.verify || o.relaxed !== undefined || o.resume !== undefined,
    checkEvery: o.residualCheckEvery,
    M: o.M && requireShape(o.M, n, 'M'),
    relaxed: o.relaxed && { A: requireShape(o.relaxed.A, n, 'relaxed.A'), below: o.relaxed.below },
    resume: o.resume && { r: vectorArg(o.resume.r, n, fn, 'resume.r'), p: vectorArg(o.resume.p, n, fn, 'resume.p'), rho: o.resume.rho },
    callback: o.callback as CgSetup['callback'],
    onProgress: o.onProgress as CgSetup['onProgress'],
    throwOnNoConvergence: o.throwOnNoConvergence,
  };
}

/** A cg run in progress: its setup, its columns, the products spent. */
interface CgRun {
  readonly s: CgSetup;
  readonly cols: Column[];
  matvecs: number;
  iteration: number;
  readonly start: number;
}

function initColumns(s: CgSetup): Column[] {
  const n = s.n;
  return s.bs.map((bj, j) => {
    const bnorm = norm(bj);
    const zero = bnorm === 0;
    const x = zero ? new Float64Array(n) : s.x0s ? s.x0s[j]! : new Float64Array(n);
    return {
      b: bj, x, r: Float64Array.from(bj), p: null, rhoPrev: 0, rnorm: bnorm,
      // rtol or atol = Infinity: converged at once (scipy's reading), x0 returned
      tol: zero ? 0 : Math.max(s.rtol * bnorm, s.atol), fresh: true, sinceCheck: 0, bestTrue: Infinity, refusals: 0,
      iterations: 0, best: null, checksSinceProgress: 0, restarts: 0, drifted: false, normA: 0, relaxBelow: (s.relaxed?.below ?? 0) * bnorm,
      // b = 0: x = 0 is exact, whatever x0 says (scipy returns b).
      status: zero ? Status.Converged : Status.Running, history: [] as number[],
    };
  });
}

/** True residuals b − A x of the given columns, in one product. */
async function trueResiduals(run: CgRun, which: readonly Column[]): Promise<Float64Array[]> {
  if (which.length === 0) return [];
  const Ax = await applyColumns(run.s.A, which.map((c) => c.x));
  run.matvecs += which.length;
  return which.map((c, i) => {
    const ax = Ax[i]!;
    for (let t = 0; t < ax.length; t++) ax[t] = c.b[t]! - ax[t]!;
    return ax;
  });
}

function replaceResidual(c: Column, r: Float64Array): void {
  c.r.set(r);
  c.rnorm = norm(r);
  c.fresh = true;
}

/** The initial residuals: b, b − A x0 (one product), or a resumed run's r and p. */
async function startColumns(run: CgRun): Promise<void> {
  const { resume, x0s } = run.s;
  const first = run.cols[0]!;
  if (resume && first.status === Status.Running) {
    first.r = Float64Array.from(resume.r);
    first.rnorm = norm(first.r);
    first.p = Float64Array.from(resume.p);
    first.rhoPrev = resume.rho;
    first.fresh = false;
  } else if (x0s) {
    const which = run.cols.filter((c) => c.status === Status.Running && c.x.some((v) => v !== 0));
    (await trueResiduals(run, which)).forEach((r, i) => replaceResidual(which[i]!, r));
  }
  for (const c of run.cols) {
    c.history.push(c.rnorm);
    // the starting iterate's residual is a true one: the best so far, so that a run that only grows it (a singular
    // A + αI: 2.2 → 2.3e2, x ≈ 5.6e31) ends on x0 rather than on its last iterate
    // (x0 = 0, the usual start: a fresh zero array, whose pages the OS provides only once written)
    if (!resume && c.status === Status.Running) {
      const x = c.x.some((v) => v !== 0) ? Float64Array.from(c.x) : new Float64Array(c.x.length);
      c.best = { x, r: Float64Array.from(c.r), norm: c.rnorm };
    }
  }
}

/**
 * Convergence claims of the recursive residual are verified against b − A x before they are accepted (and the
 * residual replaced); a refused claim that does not improve the true residual 5 times in a row ends the column
 * (the products' accuracy floor). The periodic check replaces the recursive residual only when it has drifted
 * (> 1% of its norm, e.g. float32 products): replacing it needlessly perturbs the recurrence — measured +10%
 * iterations in float64 when replacing every 25 iterations.
 */
async function checkResiduals(run: CgRun, running: readonly Column[]): Promise<void> {
  const { verify, checkEvery, A } = run.s;
  const claims = running.filter((c) => c.rnorm <= c.tol && !c.fresh && verify);
  const periodic = running.filter((c) => !claims.includes(c) && checkEvery > 0 && c.sinceCheck >= checkEvery);
  const checked = [...claims, ...periodic];
  const truths = await trueResiduals(run, checked);
  for (const [i, c] of checked.entries()) {
    const r = truths[i]!;
    c.sinceCheck = 0;
    let gap = 0;
    for (let t = 0; t < r.length; t++) gap += (r[t]! - c.r[t]!) ** 2;
    const guarded = guardAgainstDrift(c, r, Math.sqrt(gap));
    if (guarded === 'stalled') c.message += await stagnationCause(run, c);
    if (guarded) continue;
    const claim = claims.includes(c);
    if (claim || !(Math.sqrt(gap) <= 0.01 * c.rnorm)) {
      replaceResidual(c, r);
      c.history[c.history.length - 1] = c.rnorm;
    }
    if (!claim || c.rnorm <= c.tol) continue;
    c.relaxBelow = 0; // the relaxed products may be what limits it: exact ones from now on
    if (c.rnorm < 0.9 * c.bestTrue) {
      c.bestTrue = c.rnorm;
      c.refusals = 0;
    } else if (++c.refusals >= 5) {
      c.status = Status.MaxIter;
      c.message = `stagnated at residual ${c.rnorm.toExponential(3)} > tolerance ${c.tol.toExponential(3)} after ` +
        `${c.iterations} iterations: the tolerance is below the accuracy of the ${A.dtype} products`;
    }
  }
}

/** Whether a running column stops here: a non-finite residual (breakdown), converged, or out of iterations. */
function settleColumn(c: Pick<Column, 'rnorm' | 'tol' | 'iterations' | 'status' | 'message' | 'breakdown'>, maxiter: number): void {
  if (c.status !== Status.Running) return;
  if (!Number.isFinite(c.rnorm)) {
    c.status = Status.Breakdown;
    c.breakdown = 'nonfinite';
    c.message = `residual norm became ${c.rnorm} at iteration ${c.iterations} (NaN/Inf from the operator?)`;
  } else if (c.rnorm <= c.tol) c.status = Status.Converged;
  else if (c.iterations >= maxiter) {
    c.status = Status.MaxIter;
    c.message = `maxiter = ${maxiter} reached with residual ${c.rnorm.toExponential(3)} > tolerance ${c.tol.toExponential(3)}`;
  }
}

/** Whether rᵀz may round to 0 for nonzero r and z: ‖r‖·‖z‖ near or below float64's least normal value. */
function productUnderflows(r: Float64Array, z: Float64Array): boolean {
  const [a, b] = [norm(r), norm(z)];
  return a > 0 && b > 0 && Math.log2(a) + Math.log2(b) < -960; // in logarithms: the product itself may underflow
}

/** The next search directions p = M r + β p of the running columns; a column with rᵀM r ≤ 0 breaks down. */
async function nextDirections(run: CgRun, running: readonly Column[]): Promise<Column[]> {
  const { M, n } = run.s;
  const zs = M ? await applyColumns(M, running.map((c) => c.r)) : running.map((c) => c.r);
  const stepping: Column[] = [];
  running.forEach((c, i) => {
    const z = zs[i]!;
    const rho = dot(c.r, z);
    if (rho === 0 && productUnderflows(c.r, z)) {
      // r and M r so small that rᵀM r rounds to 0 (a tolerance no product can verify, rtol = 0 after a dense factor):
      // no sign to read — not a breakdown of M, which a positive definite factor was blamed for
      c.status = Status.MaxIter;
      c.message = `stagnated at iteration ${c.iterations}: the recursive residual fell to ${c.rnorm.toExponential(3)}, where rᵀM r ` +
        `underflows to 0, with the tolerance ${c.tol.toExponential(3)} not met: it is below what the ${run.s.A.dtype} products can verify`;
      return;
    }
    if (!(rho > 0)) {
      c.status = Status.Breakdown;
      c.breakdown = 'preconditioner';
      c.message = `rᵀM r = ${rho} at iteration ${c.iterations}: the preconditioner M is not positive definite`;
      return;
    }
    if (c.p === null) c.p = Float64Array.from(z);
    else {
      const beta = rho / c.rhoPrev;
      const p = c.p;
      for (let t = 0; t < n; t++) p[t] = z[t]! + beta * p[t]!;
      if (!Number.isFinite(norm(p))) {
        overflowed(c, `the search direction overflowed at iteration ${c.iterations} (β = ${beta.toExponential(3)})`);
        return;
      }
    }
    c.rhoPrev = rho;
    stepping.push(c);
  });
  return stepping;
}

/** A p for the stepping columns, one product (columns whose residual allows it take the relaxed operator's). */
async function directionProducts(run: CgRun, stepping: readonly Column[]): Promise<Float64Array[]> {
  const { A, relaxed } = run.s;
  const relaxedCols = relaxed ? stepping.filter((c) => c.rnorm <= c.relaxBelow) : [];
  const exactCols = stepping.filter((c) => !relaxedCols.includes(c));
  const [exactQ, relaxedQ] = await Promise.all([
    applyColumns(A, exactCols.map((c) => c.p!)),
    relaxedCols.length > 0 ? applyColumns(relaxed!.A, relaxedCols.map((c) => c.p!)) : Promise.resolve([]),
  ]);
  run.matvecs += stepping.length;
  return stepping.map((c) => (relaxedCols.includes(c) ? relaxedQ[relaxedCols.indexOf(c)]! : exactQ[exactCols.indexOf(c)]!));
}

/** One CG step x += α p, r −= α A p for every stepping column; pᵀA p ≤ 0 or NaN is a breakdown. */
async function stepColumns(run: CgRun, stepping: readonly Column[]): Promise<void> {
  const qs = await directionProducts(run, stepping);
  run.iteration++;
  stepping.forEach((c, i) => {
    const q = qs[i]!;
    const p = c.p!;
    const pq = dot(p, q);
    if (!(pq > 0)) {
      c.status = Status.Breakdown;
      c.breakdown = 'operator';
      c.message = Number.isNaN(pq)
        ? `pᵀA p is NaN at iteration ${c.iterations + 1} (the operator returned NaN)`
        : `pᵀA p = ${pq} ≤ 0 at iteration ${c.iterations + 1}: A is not positive definite`;
      return;
    }
    const pnorm = norm(p); // for the step's overflow check below and ‖A‖'s estimate (one pass over p)
    if (pnorm > 0) c.normA = Math.max(c.normA, pq / (pnorm * pnorm));
    const alpha = c.rhoPrev / pq;
    // the step itself overflows (pᵀA p > 0 but vanishing against ‖p‖²): x keeps its last finite value
    if (!Number.isFinite(Math.abs(alpha) * pnorm)) {
      overflowed(c, `the step α·p overflows at iteration ${c.iterations + 1} (α = ${alpha.toExponential(3)}, pᵀA p = ${pq.toExponential(3)})`);
      return;
    }
    axpy(alpha, p, c.x);
    axpy(-alpha, q, c.r);
    c.rnorm = norm(c.r);
    c.fresh = false;
    c.sinceCheck++;
    c.iterations++;
    c.history.push(c.rnorm);
  });
}

/**
 * A breakdown where x would leave float64's range: what CG does on a singular A whose range misses part of b (the
 * residual's part in A's null space never shrinks, and the steps along it grow without bound). Before, the next
 * product refused the non-finite direction with a message about its input.
 */
function overflowed(c: Pick<Column, 'status' | 'breakdown' | 'message'>, what: string): void {
  c.status = Status.Breakdown;
  c.breakdown = 'operator';
  c.message = `${what}: A is singular along the residual (b has a part outside A's range) or not positive definite`;
}

async function report(run: CgRun, stepping: readonly Column[]): Promise<void> {
  const { block, n, callback, onProgress } = run.s;
  const cols = run.cols;
  if (callback) await settleCallback(callback(block ? Block.fromColumns(cols.map((c) => c.x), n).toMatrix() : Float64Array.from(cols[0]!.x)));
  if (onProgress) {
    const active = stepping.filter((c) => c.status === Status.Running);
    await settleCallback(onProgress({
      iteration: run.iteration,
      residualNorm: Math.max(0, ...active.map((c) => c.rnorm)),
      ...(block ? { residualNorms: cols.map((c) => c.rnorm) } : {}),
      elapsedMs: now() - run.start,
    }));
  }
}

/** A column that stopped without converging returns its best verified iterate, its history ending on a measured residual. */
async function restoreBestIterates(run: CgRun): Promise<void> {
  const stopped = run.cols.filter((c) => c.status === Status.MaxIter);
  // a fresh column's residual was just measured; the others' are measured now
  const measured = stopped.filter((c) => !c.fresh);
  const finalTruths = await trueResiduals(run, measured);
  measured.forEach((c, i) => {
    // the history ends on the residual of the x returned, measured (a recursive one had underflowed to 5e-173 where
    // b − Ax was 1e-12)
    if (norm(finalTruths[i]!) !== c.rnorm) replaceResidual(c, finalTruths[i]!);
  });
  for (const c of stopped) {
    // the best iterate, or at an equal residual the shorter x (a singular A + αI: x0 = 0 beside x ≈ ±5.6e31 along
    // its null space, both with residual ‖b‖)
    const best = c.best;
    if (best !== null && (best.norm < c.rnorm || (best.norm <= c.rnorm * (1 + 1e-12) && norm(best.x) < norm(c.x)))) restoreBest(c);
    c.history[c.history.length - 1] = c.rnorm;
    if (c.message?.startsWith('maxiter = ')) {
      c.message = `maxiter = ${run.s.maxiter} reached with residual ${c.rnorm.toExponential(3)} > tolerance ${c.tol.toExponential(3)}`;
    }
  }
}

function cgResult(run: CgRun): CgResult<Float64Array | Matrix, number[] | number[][]> {
  const { cols, s } = run;
  const infoOf = (c: Column): number => (c.status === Status.Converged ? 0 : c.status === Status.Breakdown ? -1 : c.iterations);
  const broken = cols.find((c) => c.status === Status.Breakdown);
  const unconverged = cols.filter((c) => c.status === Status.MaxIter);
  const result: CgResult<Float64Array | Matrix, number[] | number[][]> = {
    x: s.block ? Block.fromColumns(cols.map((c) => c.x), s.n).toMatrix() : cols[0]!.x,
    info: broken ? -1 : unconverged.length > 0 ? Math.max(1, ...unconverged.map((c) => c.iterations)) : 0,
    iterations: Math.max(...cols.map((c) => c.iterations)),
    residualNorms: s.block ? cols.map((c) => c.history) : cols[0]!.history,
    matvecs: run.matvecs,
  };
  if (broken) result.breakdown = broken.breakdown!;
  const why = broken ?? unconverged[0];
  if (why) result.message = s.block ? `column ${cols.indexOf(why)}: ${why.message}` : why.message!;
  if (s.block) {
    result.columnInfo = cols.map(infoOf);
    result.columnIterations = cols.map((c) => c.iterations);
  }
  return result;
}

export function cg(A: OperatorInput, b: VectorInput, options?: CgOptions<Float64Array>): Promise<CgResult<Float64Array, number[]>>;
export function cg(A: OperatorInput, b: BlockInput, options?: CgOptions<Matrix>): Promise<CgResult<Matrix, number[][]>>;
export function cg(
  A: OperatorInput,
  b: VectorInput | BlockInput,
  options?: CgOptions,
): Promise<CgResult<Float64Array | Matrix, number[] | number[][]>>;
export async function cg(
  Ain: OperatorInput,
  b: VectorInput | BlockInput,
  options?: CgOptions<never>,
): Promise<CgResult<Float64Array | Matrix, number[] | number[][]>> {
  const s = setupCg(Ain, b, options);
  s.A.expectRepeatedProducts(); // a Krylov method applies A many times
  const run: CgRun = { s, cols: initColumns(s), matvecs: 0, iteration: 0, start: now() };
  await startColumns(run);
  for (;;) {
    let running = run.cols.filter((c) => c.status === Status.Running);
    await checkResiduals(run, running);
    for (const c of running) settleColumn(c, s.maxiter);
    running = running.filter((c) => c.status === Status.Running);
    if (running.length === 0) break;
    const stepping = await nextDirections(run, running);
    if (stepping.length === 0) continue;
    await stepColumns(run, stepping);
    await report(run, stepping);
  }
  await restoreBestIterates(run);
  const result = cgResult(run);
  if (result.info !== 0 && s.throwOnNoConvergence) throw new CgNoConvergence(result);
  return result;
}
