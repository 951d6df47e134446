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
  applyColumns,
  axpy,
  blockArg,
  checkNonNegative,
  checkPositiveInt,
  columnsToMatrix,
  dot,
  isBlock,
  norm,
  now,
  requireSquare,
  toOperator,
  vectorArg,
  type BlockInput,
  type OperatorInput,
  type VectorInput,
} from './util.js';

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
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 0). */
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
        : `cg: no convergence after ${result.iterations} iterations (residual ${lastResidual(result)})`,
    );
    this.name = 'CgNoConvergence';
  }
}

function lastResidual(result: CgResult<unknown, number[] | number[][]>): string {
  const r = result.residualNorms;
  const lasts = (Array.isArray(r[0]) ? (r as number[][]).map((h) => h[h.length - 1]!) : [(r as number[])[r.length - 1]!]);
  return lasts.map((v) => v.toExponential(3)).join(', ');
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
function guardAgainstDrift(c: Column, trueR: Float64Array, gap: number): boolean {
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
      `${c.iterations} iterations (returning the best iterate): the products' accuracy limits the attainable residual`;
    return true;
  }
  if (diverging) {
    restoreBest(c);
    return true;
  }
  return false;
}

function restoreBest(c: Column): void {
  const best = c.best!;
  c.x.set(best.x);
  c.r.set(best.r);
  c.rnorm = best.norm;
  c.p = null; // restart: the old search direction belongs to the abandoned iterate
  c.fresh = true;
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
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the overloads above type the callback
  options: CgOptions<any> = {},
): Promise<CgResult<Float64Array | Matrix, number[] | number[][]>> {
  const fn = 'cg';
  const A = toOperator(Ain, fn);
  const n = requireSquare(A, fn);
  A.expectRepeatedProducts(); // a Krylov method applies A many times
  const block = isBlock(b);
  const bs = block ? blockArg(b as BlockInput, n, fn, 'b') : [vectorArg(b, n, fn, 'b')];
  const k = bs.length;
  const rtol = checkNonNegative(options.rtol ?? 1e-5, fn, 'rtol');
  const atol = checkNonNegative(options.atol ?? 0, fn, 'atol');
  const maxiter = checkPositiveInt(options.maxiter ?? 10 * n, fn, 'maxiter');
  if (options.verify !== undefined && typeof options.verify !== 'boolean') {
    throw new TypeError(`${fn}: verify must be true or false, got ${String(options.verify)}`);
  }
  const verifyClaims = options.verify !== false || options.relaxed !== undefined || options.resume !== undefined;
  const checkEvery = options.residualCheckEvery ?? 25;
  if (!Number.isInteger(checkEvery) || checkEvery < 0) {
    throw new RangeError(`${fn}: residualCheckEvery must be an integer ≥ 0, got ${checkEvery}`);
  }
  let M: LinearOperator | undefined;
  if (options.M !== undefined) {
    M = toOperator(options.M, fn, 'M');
    if (M.shape[0] !== n || M.shape[1] !== n) {
      throw new RangeError(`${fn}: M has shape ${M.shape[0]}x${M.shape[1]}, expected ${n}x${n} like A`);
    }
  }
  let relaxedA: LinearOperator | undefined;
  let relaxBelow = 0;
  if (options.relaxed !== undefined) {
    relaxedA = toOperator(options.relaxed.A, fn, 'relaxed.A');
    if (relaxedA.shape[0] !== n || relaxedA.shape[1] !== n) {
      throw new RangeError(`${fn}: relaxed.A has shape ${relaxedA.shape[0]}x${relaxedA.shape[1]}, expected ${n}x${n} like A`);
    }
    relaxBelow = options.relaxed.below;
    if (typeof relaxBelow !== 'number' || !(relaxBelow >= 0) || !Number.isFinite(relaxBelow)) {
      throw new RangeError(`${fn}: relaxed.below must be a finite number ≥ 0, got ${String(relaxBelow)}`);
    }
  }
  let x0s: Float64Array[] | undefined;
  if (options.x0 !== undefined) {
    if (block !== isBlock(options.x0)) throw new TypeError(`${fn}: x0 must be a ${block ? 'block (Matrix n×k)' : 'vector'} like b`);
    x0s = block ? blockArg(options.x0 as BlockInput, n, fn, 'x0') : [vectorArg(options.x0, n, fn, 'x0')];
    if (x0s.length !== k) throw new RangeError(`${fn}: x0 has ${x0s.length} columns, b has ${k}`);
  }

  let resume: { r: Float64Array; p: Float64Array; rho: number } | undefined;
  if (options.resume !== undefined) {
    if (block || x0s === undefined) throw new TypeError(`${fn}: resume needs one right-hand side and its x0`);
    const rho = options.resume.rho;
    if (typeof rho !== 'number' || !(rho > 0) || !Number.isFinite(rho)) {
      throw new RangeError(`${fn}: resume.rho must be a positive finite number, got ${String(rho)}`);
    }
    resume = { r: vectorArg(options.resume.r, n, fn, 'resume.r'), p: vectorArg(options.resume.p, n, fn, 'resume.p'), rho };
  }

  const start = now();
  let matvecs = 0;
  const cols: Column[] = bs.map((bj, j) => {
    const bnorm = norm(bj);
    const zero = bnorm === 0;
    const x = zero ? new Float64Array(n) : x0s ? x0s[j]! : new Float64Array(n);
    return {
      b: bj, x, r: Float64Array.from(bj), p: null, rhoPrev: 0, rnorm: bnorm,
      tol: Math.max(rtol * bnorm, atol), fresh: true, sinceCheck: 0, bestTrue: Infinity, refusals: 0, iterations: 0,
      best: null, checksSinceProgress: 0, restarts: 0, drifted: false, relaxBelow: relaxBelow * bnorm,
      // b = 0: x = 0 is exact, whatever x0 says (scipy returns b).
      status: zero ? Status.Converged : Status.Running, history: [] as number[],
    };
  });

  // True residuals b − A x for the given columns, in one product.
  const trueResiduals = async (which: Column[]): Promise<Float64Array[]> => {
    if (which.length === 0) return [];
    const Ax = await applyColumns(A, which.map((c) => c.x));
    matvecs += which.length;
    return which.map((c, i) => {
      const ax = Ax[i]!;
      for (let t = 0; t < n; t++) ax[t] = c.b[t]! - ax[t]!;
      return ax;
    });
  };
  const replaceResidual = (c: Column, r: Float64Array): void => {
    c.r.set(r);
    c.rnorm = norm(r);
    c.fresh = true;
  };
  const recomputeResiduals = async (which: Column[]): Promise<void> => {
    (await trueResiduals(which)).forEach((r, i) => replaceResidual(which[i]!, r));
  };

  if (resume && cols[0]!.status === Status.Running) {
    const c = cols[0]!;
    c.r = Float64Array.from(resume.r);
    c.rnorm = norm(c.r);
    c.p = Float64Array.from(resume.p);
    c.rhoPrev = resume.rho;
    c.fresh = false;
  } else if (x0s) await recomputeResiduals(cols.filter((c) => c.status === Status.Running && c.x.some((v) => v !== 0)));
  for (const c of cols) c.history.push(c.rnorm);

  let iteration = 0;
  for (;;) {
    // Convergence claims of the recursive residual are verified against b − A x before they are
    // accepted (and the residual replaced). The periodic check replaces the recursive residual only
    // when it has drifted (> 1% of its norm, e.g. float32 products): replacing it needlessly perturbs
    // the recurrence — measured +10% iterations in float64 when replacing every 25 iterations.
    let running = cols.filter((c) => c.status === Status.Running);
    const claims = running.filter((c) => c.rnorm <= c.tol && !c.fresh && verifyClaims);
    const periodic = running.filter((c) => !claims.includes(c) && checkEvery > 0 && c.sinceCheck >= checkEvery);
    const checked = [...claims, ...periodic];
    const truths = await trueResiduals(checked);
    checked.forEach((c, i) => {
      const r = truths[i]!;
      c.sinceCheck = 0;
      let gap = 0;
      for (let t = 0; t < n; t++) gap += (r[t]! - c.r[t]!) ** 2;
      if (guardAgainstDrift(c, r, Math.sqrt(gap))) return;
      if (claims.includes(c) || !(Math.sqrt(gap) <= 0.01 * c.rnorm)) {
        replaceResidual(c, r);
        c.history[c.history.length - 1] = c.rnorm;
      }
      if (claims.includes(c) && c.rnorm > c.tol) {
        c.relaxBelow = 0; // the relaxed products may be what limits it: exact ones from now on
        // A refused claim: the recursion ran below what the products can deliver. Give up after
        // 5 refusals in a row without the true residual improving by 10% (float32 floor).
        if (c.rnorm < 0.9 * c.bestTrue) {
          c.bestTrue = c.rnorm;
          c.refusals = 0;
        } else if (++c.refusals >= 5) {
          c.status = Status.MaxIter;
          c.message =
            `stagnated at residual ${c.rnorm.toExponential(3)} > tolerance ${c.tol.toExponential(3)} after ` +
            `${c.iterations} iterations: the tolerance is below the accuracy of the ${A.dtype} products`;
        }
      }
    });
    for (const c of running) {
      if (c.status !== Status.Running) continue;
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
    running = running.filter((c) => c.status === Status.Running);
    if (running.length === 0) break;

    // One preconditioned CG step for every running column.
    const zs = M ? await applyColumns(M, running.map((c) => c.r)) : running.map((c) => c.r);
    const stepping: Column[] = [];
    running.forEach((c, i) => {
      const z = zs[i]!;
      const rho = dot(c.r, z);
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
      }
      c.rhoPrev = rho;
      stepping.push(c);
    });
    if (stepping.length === 0) continue;
    // columns whose residual allows it take the relaxed operator's products
    const relaxedCols = relaxedA ? stepping.filter((c) => c.rnorm <= c.relaxBelow) : [];
    const exactCols = stepping.filter((c) => !relaxedCols.includes(c));
    const [exactQ, relaxedQ] = await Promise.all([
      applyColumns(A, exactCols.map((c) => c.p!)),
      relaxedCols.length > 0 ? applyColumns(relaxedA!, relaxedCols.map((c) => c.p!)) : Promise.resolve([]),
    ]);
    const qs = stepping.map((c) => (relaxedCols.includes(c) ? relaxedQ[relaxedCols.indexOf(c)]! : exactQ[exactCols.indexOf(c)]!));
    matvecs += stepping.length;
    iteration++;
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
      const alpha = c.rhoPrev / pq;
      axpy(alpha, p, c.x);
      axpy(-alpha, q, c.r);
      c.rnorm = norm(c.r);
      c.fresh = false;
      c.sinceCheck++;
      c.iterations++;
      c.history.push(c.rnorm);
    });
    if (options.callback) options.callback(block ? columnsToMatrix(cols.map((c) => c.x), n) : Float64Array.from(cols[0]!.x));
    if (options.onProgress) {
      const active = stepping.filter((c) => c.status === Status.Running);
      options.onProgress({
        iteration,
        residualNorm: Math.max(0, ...active.map((c) => c.rnorm)),
        ...(block ? { residualNorms: cols.map((c) => c.rnorm) } : {}),
        elapsedMs: now() - start,
      });
    }
  }

  // a column that stopped without converging returns its best verified iterate
  const stopped = cols.filter((c) => c.status === Status.MaxIter && c.best !== null && !c.fresh);
  const finalTruths = await trueResiduals(stopped);
  stopped.forEach((c, i) => {
    if (c.best!.norm < norm(finalTruths[i]!)) restoreBest(c);
  });
  const infoOf = (c: Column): number =>
    c.status === Status.Converged ? 0 : c.status === Status.Breakdown ? -1 : c.iterations;
  const columnInfo = cols.map(infoOf);
  const broken = cols.find((c) => c.status === Status.Breakdown);
  const unconverged = cols.find((c) => c.status === Status.MaxIter);
  const info = broken ? -1 : unconverged ? Math.max(1, ...cols.filter((c) => c.status === Status.MaxIter).map((c) => c.iterations)) : 0;
  const iterations = Math.max(...cols.map((c) => c.iterations));
  const result: CgResult<Float64Array | Matrix, number[] | number[][]> = {
    x: block ? columnsToMatrix(cols.map((c) => c.x), n) : cols[0]!.x,
    info,
    iterations,
    residualNorms: block ? cols.map((c) => c.history) : cols[0]!.history,
    matvecs,
  };
  if (broken) result.breakdown = broken.breakdown!;
  const why = broken ?? unconverged;
  if (why) result.message = block ? `column ${cols.indexOf(why)}: ${why.message}` : why.message!;
  if (block) {
    result.columnInfo = columnInfo;
    result.columnIterations = cols.map((c) => c.iterations);
  }
  if (info !== 0 && options.throwOnNoConvergence) throw new CgNoConvergence(result);
  return result;
}
