/**
 * eigsh: a few eigenpairs of a symmetric operator, scipy.sparse.linalg.eigsh's contract, by
 * thick-restart Lanczos (Wu & Simon 2000) with full reorthogonalisation.
 *
 * One cycle: extend the basis V (kept Ritz vectors, then Lanczos vectors) to ncv columns, each
 * new vector orthogonalised against all of V by classical Gram–Schmidt, repeated once when the
 * DGKS test says it lost too much (twice is enough); Rayleigh–Ritz on the ncv×ncv projection T
 * (tridiagonal in the first cycle, tridiagonal bordered by an arrow after a restart — the arrow's block rotated to
 * tridiagonal form once per restart, so that every Rayleigh–Ritz step is a tridiagonal QL); restart with
 * the most wanted Ritz vectors plus the last Lanczos vector, so that
 *   A V = V T + β v_{ncv} e_ncvᵀ  stays exact and  ‖A x_i − θ_i x_i‖ = β·|y_i(ncv)|.
 * A Ritz pair is accepted as ARPACK does: β·|y_i(ncv)| ≤ tol·max(eps^(2/3), |θ_i|).
 *
 * Shift-invert (`sigma`): Lanczos runs on OP = (A − σI)⁻¹ — a dense factor of A − σI made once where it fits,
 * else inner iterative solves (shift-invert.ts) — and λ = σ + 1/ν; `which` applies to ν as in scipy, so the
 * default 'LM' returns the eigenvalues nearest σ.
 *
 * A must be symmetric: eigsh checks it (symmetry.ts) unless the caller declares `symmetric: true`.
 *
 * Small problems (n ≤ 2·ncv, where Lanczos would span most of the space anyway) are solved
 * densely: A is materialised with one matmat against the identity and decomposed.
 */
import type { Matrix } from 'ml-matrix';
import { matmatBlock, type LinearOperator } from '../operators/linear-operator.js';
import { describeValue, firstNonFinite, settleCallback } from '../operators/validate.js';
import {
  any, boolean, checkArgument, field, finiteNumber, func, integer, nonNegativeNumber, oneOf, optional, OptionRangeError, parseOptions,
  positiveInt, positiveNumber, refined, withDefault, type OptionField,
} from '../operators/options.js';
import { missedEigenvalue } from './missed-eigenvalue.js';
import { mulberry32, randomVector } from './random.js';
import { denseShiftInvert, shiftInvert, type ShiftInvert, type SigmaSolver } from './shift-invert.js';
import { asymmetricError, denseAsymmetry, probeSymmetry, structuralSymmetry, symmetryTolerance } from './symmetry.js';
import { arrowToTridiagonal, prepareTridiagonalEigen, symmetricEigen, tridiagonalEigen, unrotate } from './tridiagonal.js';
import { lanczosBasis, type LanczosBasis } from '../operators/basis.js';
import {
  applyColumns,
  dot,
  dtypeEps,
  norm,
  now,
  residualNorm,
  requireSquare,
  toOperator,
  vectorArg,
  type OperatorInput,
  type VectorInput,
} from './util.js';
import { Block } from '../operators/block.js';

export type Which = 'LM' | 'SM' | 'LA' | 'SA' | 'BE';

/**
 * Default restart limit: ARPACK's own drivers use 300 (scipy's 10·n let a case that cannot converge run for
 * hours); the smaller of the two.
 */
export const EIGSH_DEFAULT_MAXITER = 300;

/** Slack of the shift-invert pairs' true-residual check (verifyShiftInvert), for the rounding of Ax itself and of the bound. */
const TRUE_RESIDUAL_SLACK = 10;

export interface EigshProgress {
  /** Restart cycles done. */
  iteration: number;
  /** Operator applications so far (of OP in shift-invert mode). */
  matvecs: number;
  /** Wanted Ritz pairs that meet the tolerance. */
  nconv: number;
  /** Wanted Ritz values (of A, mapped back in shift-invert mode) and their residual estimates. */
  ritzValues: Float64Array;
  ritzEstimates: Float64Array;
  elapsedMs: number;
}

export interface EigshOptions {
  which?: Which;
  /** Shift-invert: find eigenvalues near sigma (with `which` applied to 1/(λ − σ)). */
  sigma?: number;
  /** Start vector (default: seeded uniform random in [−1, 1), as ARPACK). */
  v0?: VectorInput;
  /** Basis size, k < ncv ≤ n (default min(n, max(2k + 1, 20))). */
  ncv?: number;
  /** Restart cycles allowed (default min(10·n, EIGSH_DEFAULT_MAXITER = 300)). */
  maxiter?: number;
  /** Relative accuracy of the eigenvalues; 0 = machine precision of the operator's dtype. */
  tol?: number;
  returnEigenvectors?: boolean;
  /** Seed of the start vector when v0 is not given, and of the symmetry probe (default 0: reproducible, like ARPACK). */
  seed?: number;
  onProgress?: (p: EigshProgress) => void;
  /**
   * Shift-invert inner solver: 'auto' (default: A − σI materialised and factored once — Cholesky, else pivoted
   * LU — where its dense form is cheap and fits the dense-cache budget; else minres), 'dense', 'minres', 'cg'.
   */
  sigmaSolver?: SigmaSolver;
  /** Tolerance of the iterative inner solves (default: tol, or 2·eps of the dtype for tol = 0, as scipy's). */
  sigmaRtol?: number;
  /**
   * 'auto' (dense when n ≤ 2·ncv and none of v0, maxiter, sigmaSolver, sigmaRtol — options only Lanczos reads — is
   * given), or force 'lanczos' / 'dense' (which refuses those and ncv by name).
   */
  method?: 'auto' | 'lanczos' | 'dense';
  /** Declares A symmetric, skipping eigsh's check (structure, else a one-product probe). `false` is refused. */
  symmetric?: true;
  /** scipy's mode: only 'normal' ('buckling' and 'cayley' need the generalized problem, not supported). */
  mode?: 'normal';
}

/** A field that refuses any value, naming why (options scipy has and eigsh does not support). */
function unsupported(why: string): OptionField<never> {
  return {
    expected: 'absent',
    check: (value, where) => {
      throw new OptionRangeError(`${where} is not supported: ${why} (got ${describeValue(value)})`, where);
    },
  };
}

const GENERALIZED = 'eigsh solves the standard problem A x = λ x only; the generalized problem A x = λ M x (M, Minv, OPinv, mode \'buckling\' or \'cayley\') is not implemented';

export const EIGSH_SPEC = {
  which: withDefault(oneOf('LM', 'SM', 'LA', 'SA', 'BE'), 'LM' as Which),
  sigma: optional(finiteNumber()),
  v0: optional(any),
  ncv: optional(integer({ min: 1 })),
  maxiter: optional(positiveInt),
  tol: withDefault(nonNegativeNumber, 0),
  returnEigenvectors: withDefault(boolean, true),
  seed: withDefault(integer(), 0),
  onProgress: optional(func),
  sigmaSolver: withDefault(oneOf('auto', 'dense', 'cg', 'minres'), 'auto' as SigmaSolver),
  sigmaRtol: optional(positiveNumber),
  method: withDefault(oneOf('auto', 'lanczos', 'dense'), 'auto' as 'auto' | 'lanczos' | 'dense'),
  symmetric: optional(oneOf(true)),
  mode: optional(refined(oneOf('normal', 'buckling', 'cayley'), (v, where) => {
    if (v !== 'normal') throw new OptionRangeError(`${where} '${v}' is not supported: ${GENERALIZED}`, where);
    return v;
  })),
  M: optional(unsupported(GENERALIZED)),
  Minv: optional(unsupported(GENERALIZED)),
  OPinv: optional(unsupported('the inverse comes from sigmaSolver (a dense factor or inner minres/cg solves)')),
} as const;

export interface EigshResult {
  /** Ascending, as scipy returns them. */
  eigenvalues: Float64Array;
  /** n×k, column i ↔ eigenvalues[i]; absent when returnEigenvectors is false. */
  eigenvectors?: Matrix;
  /** Restart cycles (1 for the dense path). */
  iterations: number;
  /** Applications of the Lanczos operator: A, or (A − σI)⁻¹ in shift-invert mode (n for the dense path). */
  matvecs: number;
  /** Shift-invert only: products with A spent inside the inner solves. */
  innerMatvecs?: number;
  method: 'lanczos' | 'dense';
}

export class EigshNoConvergence extends Error {
  constructor(
    readonly eigenvalues: Float64Array,
    readonly eigenvectors: Matrix | undefined,
    readonly iterations: number,
    readonly matvecs: number,
    readonly k: number,
    detail?: string,
  ) {
    super(`eigsh: no convergence (${iterations} iterations, ${matvecs} matvecs, ${eigenvalues.length}/${k} eigenvectors converged)${detail ? `: ${detail}` : ''}`);
    this.name = 'EigshNoConvergence';
  }
}

/** Sort keys: smaller = more wanted. */
function wantedOrder(theta: Float64Array, which: Which): number[] {
  const idx = Array.from(theta, (_, i) => i);
  switch (which) {
    case 'LA':
      return idx.sort((a, b) => theta[b]! - theta[a]!);
    case 'SA':
      return idx.sort((a, b) => theta[a]! - theta[b]!);
    case 'LM':
      return idx.sort((a, b) => Math.abs(theta[b]!) - Math.abs(theta[a]!));
    case 'SM':
      return idx.sort((a, b) => Math.abs(theta[a]!) - Math.abs(theta[b]!));
    case 'BE': {
      // Alternate ends, high first: the first k hold ceil(k/2) from the top and floor(k/2) from the
      // bottom, ARPACK's split (the extra one from the high end).
      const asc = idx.sort((a, b) => theta[a]! - theta[b]!);
      const out: number[] = [];
      let lo = 0;
      let hi = asc.length - 1;
      while (lo <= hi) {
        out.push(asc[hi--]!);
        if (lo <= hi) out.push(asc[lo++]!);
      }
      return out;
    }
  }
}

/** ‖w‖ from the sum of squares a sweep formed; out of its safe range, the scaled norm. */
const normFrom = (ww: number, w: Float64Array): number => (ww > 1e-280 && ww < 1e280 ? Math.sqrt(ww) : norm(w));

/** CGS of slot `at` against V[0..count), repeated once by the DGKS test. Returns the coefficients and whether it is (numerically) in span(V). */
async function orthogonalize(V: LanczosBasis, at: number, count: number, h: Float64Array): Promise<{ wnorm: number; dependent: boolean }> {
  const w = V.column(at);
  h.fill(0, 0, count);
  const c = new Float64Array(count);
  const next = new Float64Array(count);
  let before = normFrom(await V.dots(c, count, at), w);
  for (let pass = 0; pass < 2; pass++) {
    // the first subtraction's sweep also forms the second pass' dots (used only if the DGKS test asks for them)
    const ww = pass === 0 ? await V.subtractAndDots(at, count, c, next) : await V.subtract(at, count, c);
    for (let i = 0; i < count; i++) h[i]! += c[i]!;
    const after = normFrom(ww, w);
    if (after >= Math.SQRT1_2 * before) return { wnorm: after, dependent: false };
    if (pass === 1) return { wnorm: after, dependent: true };
    before = after;
    c.set(next);
  }
  return { wnorm: norm(w), dependent: true };
}

/** Slot `count` ← a random unit vector orthogonal to V[0..count) (used when Lanczos finds an invariant subspace). */
async function randomOrthogonal(V: LanczosBasis, count: number, n: number, rng: () => number): Promise<void> {
  const h = new Float64Array(count);
  for (let attempt = 0; attempt < 5; attempt++) {
    const w = V.column(count);
    w.set(randomVector(n, rng));
    const { wnorm, dependent } = await orthogonalize(V, count, count, h);
    if (!dependent && wnorm > 0) {
      await V.divide(count, wnorm);
      return;
    }
  }
  throw new Error(`eigsh: could not extend an orthonormal basis of ${count} vectors in dimension ${n}`);
}

interface LanczosOutcome {
  theta: Float64Array; // wanted Ritz values of OP, in `which` order
  /** Their residual estimates |β·y_last| (the convergence test's). */
  estimates: Float64Array;
  /** max |θ| over the last projection's Ritz values (wanted or not): ‖OP‖ as far as Lanczos has seen it. */
  ritzNorm: number;
  vectors?: Float64Array[];
  converged: boolean[];
  iterations: number;
  matvecs: number;
}

/** What a thick-restart Lanczos run is asked for (`thickRestartLanczos`), besides its operator and basis. */
interface LanczosRun {
  /** Wanted Ritz pairs, which end of the spectrum, and the basis size (k < ncv). */
  readonly k: number;
  readonly which: Which;
  readonly ncv: number;
  /** Restarts allowed. */
  readonly maxiter: number;
  /** ARPACK's relative convergence test (see `rayleighRitz`). */
  readonly tol: number;
  /** The start vector (any nonzero norm) and the generator of fresh directions after an invariant subspace. */
  readonly v0: Float64Array;
  readonly rng: () => number;
  /** Called after every Rayleigh–Ritz of a full basis (and at an early exit), with the wanted values' estimates. */
  readonly report: (iteration: number, matvecs: number, nconv: number, theta: Float64Array, est: Float64Array) => unknown;
}

async function thickRestartLanczos(op: (x: Float64Array) => Promise<Float64Array>, V: LanczosBasis, run: LanczosRun): Promise<LanczosOutcome> {
  return new ThickRestart(op, V, run).solve();
}

/** A Rayleigh–Ritz of the projection's leading block (`ThickRestart.rayleighRitz`). */
interface RitzStep {
  theta: Float64Array;
  Y: Float64Array;
  order: number[];
  est: Float64Array;
  wanted: number[];
  converged: boolean[];
  nconv: number;
}

/** `values` (one per Ritz pair of `rr`) of the wanted pairs, in `which` order. */
const wantedOf = (rr: RitzStep, values: Float64Array): Float64Array => Float64Array.from(rr.wanted, (i) => values[i]!);

/** One thick-restart Lanczos run: the basis' projection and the counts its outcome reports. */
class ThickRestart {
  private readonly eps23 = Math.pow(Number.EPSILON, 2 / 3);
  // The projection VᵀAV, tridiagonal: diagonal and couplings (off[i] couples i and i + 1). After a restart its
  // leading arrow (the kept Ritz values and their couplings) is held rotated to tridiagonal form by `rotation`.
  private readonly diag: Float64Array;
  private readonly off: Float64Array;
  private rotation: Float64Array | null = null;
  private readonly h: Float64Array;
  private kept = 0;
  private matvecs = 0;
  private anorm = 0; // running estimate of ‖OP‖ for the invariant-subspace test

  constructor(private readonly op: (x: Float64Array) => Promise<Float64Array>, private readonly V: LanczosBasis, private readonly run: LanczosRun) {
    this.diag = new Float64Array(run.ncv);
    this.off = new Float64Array(run.ncv);
    this.h = new Float64Array(run.ncv + 1);
  }

  async solve(): Promise<LanczosOutcome> {
    const { k, ncv, maxiter, which } = this.run;
    this.start();
    for (let iteration = 1; ; iteration++) {
      let betaLast = 0;
      for (let j = this.kept; j < ncv; j++) {
        const beta = await this.extend(j);
        if (j + 1 === ncv) {
          betaLast = beta;
          continue;
        }
        this.off[j] = beta;
        // A restarted cycle may end early: once every wanted Ritz pair of the basis so far has converged, the
        // rest of the cycle's products would be spent for nothing (an s×s eigenproblem, s ≤ ncv, costs no
        // product). Not in the first cycle, whose basis has not yet been through a full-size Rayleigh–Ritz: a
        // short Krylov space can hold converged pairs while a wanted eigenvalue has not emerged yet.
        if (this.kept > 0 && this.rayleighRitz(j + 1, beta, true).nconv === k) {
          // the same decomposition again with every row of Y, for the Ritz vectors (the values are the same)
          const rr = this.rayleighRitz(j + 1, beta);
          await this.report(iteration, k, rr);
          return this.outcome(rr, j + 1, iteration);
        }
      }
      const rr = this.rayleighRitz(ncv, betaLast);
      await this.report(iteration, rr.nconv, rr);
      if (rr.nconv === k || iteration >= maxiter) return this.outcome(rr, ncv, iteration);
      await this.restart(rr, restartSize(k, ncv, rr.nconv, which, rr.theta, rr.order), betaLast);
    }
  }

  /** The run's report of the wanted Ritz values and their estimates (awaited where it returns a promise). */
  private report(iteration: number, nconv: number, rr: RitzStep): Promise<void> {
    return settleCallback(this.run.report(iteration, this.matvecs, nconv, wantedOf(rr, rr.theta), wantedOf(rr, rr.est)));
  }

  /** The start vector, normalised, as the basis' first column. */
  private start(): void {
    const { v0 } = this.run;
    const v0norm = norm(v0);
    this.V.column(0).set(v0);
    // in JS: a sweep would wait here for the basis programs, which compile while the first product runs
    const q0 = this.V.column(0);
    for (let i = 0; i < this.V.n; i++) q0[i]! /= v0norm;
  }

  /** Lanczos step j: column j + 1 from OP·v_j, orthogonalised and normalised; the projection's diagonal; returns β. */
  private async extend(j: number): Promise<number> {
    const { V, h } = this;
    const n = V.n;
    const w = V.column(j + 1);
    const product = await this.op(V.column(j));
    w.set(product);
    this.matvecs++;
    const { wnorm, dependent } = await orthogonalize(V, j + 1, j + 1, h);
    // a non-finite product makes every sum after it NaN: said here, where tridiagonalEigen would say only "non-finite"
    if (!Number.isFinite(wnorm) || !Number.isFinite(h[j]!)) {
      const at = firstNonFinite(product);
      throw new RangeError(`eigsh: the operator's product at Lanczos step ${this.matvecs} has a non-finite entry${at >= 0 ? ` (index ${at}: ${product[at]})` : ''}; A's products (or, in shift-invert mode, its inner solves) must be finite`);
    }
    // With full reorthogonalisation the projection keeps only the Lanczos entries: the diagonal,
    // and after a restart the arrow couplings already set from the Ritz residuals.
    this.diag[j] = h[j]!;
    this.anorm = Math.max(this.anorm, Math.abs(h[j]!) + wnorm);
    if (dependent || wnorm <= Number.EPSILON * this.anorm) {
      // Invariant subspace found: continue in a fresh direction with a zero coupling — none is left once the
      // basis spans the whole space (ncv = n): the projection is then A itself and every Ritz pair exact.
      if (j + 1 < n) await randomOrthogonal(V, j + 1, n, this.run.rng);
      else w.fill(0);
      return 0;
    }
    if (j + 1 >= n) {
      // n orthonormal vectors span the space: what is left of w is rounding
      w.fill(0);
      return 0;
    }
    await V.divide(j + 1, wnorm);
    return wnorm;
  }

  /**
   * Rayleigh–Ritz on the leading size×size block of the projection: Ritz values, vectors Y (row-major size×size, in
   * the basis V; with `lastRowOnly`, only Y's last row, 1×size — all the convergence test reads, and which the
   * rotation of the kept vectors leaves alone), the wanted ones in `which` order and their residual estimates |β·y_last|.
   */
  private rayleighRitz(size: number, beta: number, lastRowOnly = false): RitzStep {
    const { k, which, tol } = this.run;
    const r = tridiagonalEigen(this.diag.subarray(0, size), this.off.subarray(0, size - 1), { eigenvectors: lastRowOnly ? [size - 1] : true });
    const theta = r.eigenvalues;
    const Y = r.eigenvectors!;
    if (!lastRowOnly && this.rotation) unrotate(Y, size, this.rotation, this.kept);
    const order = wantedOrder(theta, which);
    const last = Y.length === size ? 0 : (size - 1) * size;
    const est = Float64Array.from(theta, (_, i) => Math.abs(beta * Y[last + i]!));
    const wanted = order.slice(0, k);
    // ARPACK's test est ≤ tol·max(ε^⅔, |θ|), with its floor relative to the operator's scale (the largest |θ|, a lower
    // bound of ‖OP‖): an absolute ε^⅔ passed loose eigenvectors of a small operator (‖Av − λv‖/‖A‖ = 2.7e-8 at
    // ‖A‖ ≈ 1e-19, up to 1e-2 at 1e-99, bench/algebra-fuzz.mjs) and asked more than rounding allows of a large one
    let scale = 0;
    for (let i = 0; i < theta.length; i++) scale = Math.max(scale, Math.abs(theta[i]!));
    const converged = wanted.map((i) => est[i]! <= tol * Math.max(this.eps23 * scale, Math.abs(theta[i]!)));
    return { theta, Y, order, est, wanted, converged, nconv: converged.filter(Boolean).length };
  }

  /** The wanted Ritz pairs of `rr` (a basis of `size` vectors): their vectors formed in place — the basis is not used again. */
  private async outcome(rr: RitzStep, size: number, iteration: number): Promise<LanczosOutcome> {
    await this.V.combineInPlace(rr.Y, size, rr.wanted);
    return {
      theta: wantedOf(rr, rr.theta), estimates: wantedOf(rr, rr.est), ritzNorm: maxAbs(rr.theta),
      // views valid until the basis' release
      vectors: rr.wanted.map((_, t) => this.V.column(t)),
      converged: rr.converged, iterations: iteration, matvecs: this.matvecs,
    };
  }

  /** Thick restart: the `keep` most wanted Ritz vectors, then the last Lanczos vector; the projection becomes their arrow. */
  private async restart(rr: RitzStep, keep: number, betaLast: number): Promise<void> {
    const { ncv } = this.run;
    const keepIdx = rr.order.slice(0, keep);
    await this.V.combineInPlace(rr.Y, ncv, keepIdx);
    this.V.column(keep).set(this.V.column(ncv));
    // the new projection's arrow: the kept Ritz values, coupled to the continuing vector by their residuals
    const arrow = arrowToTridiagonal(
      Float64Array.from(keepIdx, (c) => rr.theta[c]!), Float64Array.from(keepIdx, (c) => betaLast * rr.Y[(ncv - 1) * ncv + c]!),
    );
    this.diag.set(arrow.d);
    this.off.set(arrow.e);
    this.rotation = arrow.Q;
    this.kept = keep;
  }
}

/**
 * How many of the most wanted Ritz vectors a thick restart keeps (the basis continues from the last Lanczos vector).
 * For the largest end ('LM', 'LA' — also of the shift-inverted operator) k plus half the spare
 * room from the first restart on; elsewhere ARPACK's choice (dsaup2): k plus as many as have
 * converged, up to half the spare room. Matvecs measured (ARPACK's rule → a fixed half): Gaussian
 * kernels, k = 5 'LM', ncv 20: n = 16,384, σ = 0.1, d = 3: 60 → 52; n = 3000: 88 → 76; n = 4000,
 * σ = 0.05: 168 → 132; 'LA', k = 3: 100 → 65; the fixtures' 'LM'/'LA' cases 29 → 27, 33 → 28,
 * 86 → 65 (σ = −0.1), 32 → 34. For 'SA'/'SM'/'BE' the fixed half ran out of restarts (SA, SM)
 * or needed about as many (BE: 1675 → 1742, 1967 → 1500), so they keep ARPACK's rule.
 * The fixed half only where the wanted Ritz values lie at one end of the spectrum ('LA', or 'LM' while every Ritz
 * value has one sign, rounding aside: a semidefinite operator): there the discarded ones lie beyond the wanted
 * ones, away from what has not emerged yet. 'LM' over both signs keeps ARPACK's rule: with a fixed half its
 * discarded Ritz values, placed among the wanted ones' magnitudes — at the other end, too — filtered a wanted
 * eigenvalue out for good (indefinite 77×77 matrices, k = 5, ncv = 8: 14 seeds of 40 returned a smaller |λ| as
 * converged in place of a wanted one).
 */
function restartSize(k: number, ncv: number, nconv: number, which: Which, theta: Float64Array, order: number[]): number {
  const oneEnd = which === 'LA' || (which === 'LM' && oneSigned(theta, Math.abs(theta[order[k - 1]!]!)));
  let keep = k + (oneEnd ? Math.floor((ncv - k) / 2) : Math.min(nconv, Math.floor((ncv - k) / 2)));
  if (keep === 1) keep = ncv >= 6 ? Math.floor(ncv / 2) : 2; // one vector alone would be a plain restart
  keep = Math.min(keep, ncv - 1);
  return keep;
}

/**
 * Whether the Ritz values all have one sign, up to ONE_SIGN_SLACK times the k-th largest magnitude `scale`: the
 * rounding of a semidefinite operator's products (float32 kernels: ≈ 1e-7·‖K‖) leaves tiny Ritz values of either
 * sign. Relative to the k-th, not the largest: shift-invert near an eigenvalue makes one |θ| huge, and the choice
 * among the others — of both signs — is what matters then.
 */
function oneSigned(theta: Float64Array, scale: number): boolean {
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of theta) {
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  const slack = ONE_SIGN_SLACK * scale;
  return lo >= -slack || hi <= slack;
}
const ONE_SIGN_SLACK = 1e-4;

/**
 * What to try where Lanczos did not converge at the small end of a spectrum much wider than the wanted eigenvalues:
 * the smallest of a smooth kernel matrix (a Gaussian's at n = 60: 3e-14 … 3e-13 beside ‖K‖ = 34) lie in a cluster
 * tiny beside ‖A‖, where restarted Lanczos gains almost nothing per product — 300 restarts left Ritz values at
 * 2e-9 … 1e-6, whatever `tol` (scipy's ARPACK fails alike). Shift-invert at sigma = 0 (20 products there) and the
 * dense path find them. Undefined where the unconverged wanted Ritz values are not small beside ‖A‖.
 */
function smallEndHint(out: LanczosOutcome, o: ParsedEigsh, n: number): string | undefined {
  // (not 'LA' alone: the largest of a negative semidefinite A, K.scale(-1), are its small end)
  if (o.sigma !== undefined || out.ritzNorm === 0 || o.which === 'LM') return undefined;
  const open = Array.from(out.theta).filter((_, i) => !out.converged[i]);
  const small = SMALL_END * out.ritzNorm;
  if (open.length === 0 || !open.every((t) => Math.abs(t) <= small)) return undefined;
  const largest = maxAbs(open);
  const dense = densePathBytes(n) <= DENSE_PATH_MAX_BYTES ? ", or method 'dense' at this n" : '';
  return `the wanted eigenvalues are small beside ‖A‖ ≈ ${out.ritzNorm.toPrecision(3)} (the Ritz values left are within ${largest.toExponential(1)} of 0), `
    + `where restarted Lanczos converges very slowly; shift-invert near them (sigma = 0 for the smallest of a semidefinite A) finds them in a few products${dense}`;
}
/**
 * The wanted eigenvalues as a cluster the residual test has not split: all k wanted Ritz values (of OP) within
 * CLUSTER_WIDTH of each other, relative to their size, and some not converged. Why: shift-invert at σ = −1 into a
 * Gaussian kernel's numerically zero eigenvalues ran its 300 restarts and said nothing more — at kernel σ = 3 (≈ 50 of
 * 60 within 1e-14 of 0) to "1/4 converged", its Ritz values agreeing to 7e-12 with estimates near 1e-13 where tol = 0
 * asks about 1e-16; at kernel σ = 0.5 (eigenvalues 3e-14, 2e-13, 8e-13 …) to "0/2", its Ritz values 1.3e-6 apart in
 * (A + I)⁻¹. A tol above the estimates returns vectors of the cluster (tol = 1e-12: 52 products), as 'dense' finds
 * its values.
 */
function clusterHint(out: LanczosOutcome, o: ParsedEigsh, n: number, tol: number, toLambda: (nu: number) => number): string | undefined {
  const open = out.converged.flatMap((done, i) => (done ? [] : [i]));
  if (open.length === 0 || out.theta.length < 2) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of out.theta) {
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  const size = Math.max(Math.abs(lo), Math.abs(hi));
  if (!(size > 0) || hi - lo > CLUSTER_WIDTH * size) return undefined;
  const lambdas = Array.from(out.theta, toLambda);
  const [first, last] = [Math.min(...lambdas), Math.max(...lambdas)];
  // the loosest relative residual estimate left, rounded up past a margin of 10 to a power of ten
  const loosest = Math.max(...open.map((i) => out.estimates[i]! / Math.abs(out.theta[i]!)));
  const enough = Number.isFinite(loosest) && loosest > 0 ? `tol = ${(10 ** Math.ceil(Math.log10(10 * loosest))).toExponential(0)} or more accepts vectors of the cluster, ` : '';
  const where = o.sigma === undefined ? 'A' : `(A − σI)⁻¹`;
  const dense = densePathBytes(n) <= DENSE_PATH_MAX_BYTES ? `; method 'dense' at this n finds them too` : '';
  return `the ${o.k} wanted eigenvalues form a cluster: their Ritz values lie between ${first.toExponential(2)} and ${last.toExponential(2)}, `
    + `within ${((hi - lo) / size).toExponential(1)} of each other relative to their size in ${where} — a multiple eigenvalue or a tight cluster, `
    + `which Lanczos separates slowly — and the residual test at tol = ${tol === 0 ? '0 (machine precision)' : tol} has not split them; ${enough}a smaller k may leave the cluster${dense}`;
}

/**
 * Wanted Ritz values within this fraction of their size of each other form a cluster (`clusterHint`): the scale of the
 * small end's SMALL_END, and far tighter than the relative gaps restarted Lanczos resolves within its restarts.
 */
const CLUSTER_WIDTH = 1e-4;

/**
 * Why an unconverged run may have stopped, for its error: the wanted values as a cluster, the small end's hint, else a
 * basis narrower than the default (ncv = 3 for k = 2 at n = 100 ended "0/2 converged" with no word of ncv).
 */
function noConvergenceHint(out: LanczosOutcome, o: ParsedEigsh, n: number, tol: number, toLambda: (nu: number) => number): string | undefined {
  const cluster = clusterHint(out, o, n, tol, toLambda);
  if (cluster !== undefined) return cluster;
  const small = smallEndHint(out, o, n);
  if (small !== undefined) return small;
  const roomy = defaultNcv(o.k, n);
  if (o.ncv >= roomy) return undefined;
  return `ncv = ${o.ncv} leaves the restarts little room beside k = ${o.k}: a larger ncv (the default here is ${roomy}) converges in fewer products`;
}

/** Unconverged wanted Ritz values within this fraction of ‖A‖ of 0 are "small beside ‖A‖". */
const SMALL_END = 1e-4;

/** Picks `k` wanted among the dense eigenvalues (of A, or of ν = 1/(λ − σ)). */
function denseSelect(values: Float64Array, k: number, which: Which, sigma: number | undefined): number[] {
  const key = sigma === undefined ? values : Float64Array.from(values, (l) => (l === sigma ? Number.MAX_VALUE : 1 / (l - sigma)));
  return wantedOrder(key, which).slice(0, k);
}

type ParsedEigsh = ReturnType<typeof parseEigshOptions>;

/** The basis size eigsh uses unless told: min(n, max(2k + 1, 20)), as scipy's. */
const defaultNcv = (k: number, n: number): number => Math.min(n, Math.max(2 * k + 1, 20));

/** k and the options checked (k as a positional argument: its type is quoted), defaults applied. */
function parseEigshOptions(fn: string, k: unknown, options: unknown, n: number, dtype: 'float32' | 'float64') {
  const kField = field<number>(`an integer with 0 < k < n = ${n}`, (v) => typeof v === 'number', (v) => Number.isInteger(v) && v > 0 && v < n);
  const kk = checkArgument(fn, 'k', k, withDefault(kField, 6));
  const o = parseOptions(fn, options, EIGSH_SPEC);
  // the inner solve's options without a shift were accepted, ignored — and steered 'auto' off the dense path
  const given = (options ?? {}) as Record<string, unknown>;
  for (const key of ['sigmaSolver', 'sigmaRtol'] as const) {
    if (o.sigma === undefined && given[key] !== undefined && !(key === 'sigmaSolver' && given[key] === 'auto')) {
      throw new RangeError(`${fn}: option '${key}' is for the shift-invert solves of sigma, and no sigma is given`);
    }
  }
  const ncv = o.ncv ?? defaultNcv(kk, n);
  if (ncv <= kk || ncv > n) {
    throw new RangeError(`${fn}: ncv must be an integer with k < ncv <= n (k = ${kk}, n = ${n}), got ncv = ${ncv}`);
  }
  const v0 = o.v0 !== undefined ? vectorArg(o.v0, n, fn, 'v0') : randomVector(n, mulberry32(o.seed));
  if (norm(v0) === 0) throw new RangeError(`${fn}: v0 must not be the zero vector`);
  return {
    ...o, k: kk, ncv, v0,
    maxiter: o.maxiter ?? Math.min(10 * n, EIGSH_DEFAULT_MAXITER),
    eps: dtypeEps(dtype),
    onProgress: o.onProgress as ((p: EigshProgress) => void) | undefined,
  };
}

/** Options only the Lanczos iteration reads: given, they steer 'auto' to it; method 'dense' refuses them by name. */
const LANCZOS_ONLY_KEYS = ['v0', 'maxiter', 'sigmaSolver', 'sigmaRtol'] as const;

/**
 * Whether eigsh takes the dense path: method 'dense' (which refuses a Lanczos-only option, and ncv, by name), or 'auto'
 * where n ≤ 2·ncv and no Lanczos-only option was given ('auto' as the sigmaSolver is not one). The seed is not one
 * either: it makes the result reproducible, which the dense path is.
 */
function chooseDense(fn: string, n: number, o: ParsedEigsh, options: EigshOptions | undefined): boolean {
  const given = (options ?? {}) as Record<string, unknown>;
  const lanczosKey = LANCZOS_ONLY_KEYS.find((key) => given[key] !== undefined && !(key === 'sigmaSolver' && given[key] === 'auto'));
  if (o.method === 'dense') {
    const key = lanczosKey ?? (given['ncv'] !== undefined ? 'ncv' : undefined);
    if (key !== undefined) throw new RangeError(`${fn}: option '${key}' is for the Lanczos iteration; method 'dense' does not use it`);
    return true;
  }
  return o.method === 'auto' && lanczosKey === undefined && n <= 2 * o.ncv;
}

/** Materialises A (one n-column product), checks or restores its symmetry, and decomposes it; reports once, at the end. */
async function denseEigsh(fn: string, A: LinearOperator, n: number, o: ParsedEigsh, checkEntries: boolean, start: number): Promise<EigshResult> {
  const bytes = densePathBytes(n);
  if (bytes > DENSE_PATH_MAX_BYTES) {
    throw new RangeError(`${fn}: method 'dense' at n = ${n} needs ≈ ${(bytes / 2 ** 30).toFixed(1)} GiB (three ${n}×${n} float64 matrices) ` +
      `beyond the dense path's ${(DENSE_PATH_MAX_BYTES / 2 ** 30).toFixed(1)} GiB, and O(n³) work on one thread; use method 'lanczos' (the default past n = 2·ncv)`);
  }
  // the identity's columns a block at a time: n of them at once were another n×n (14 GB of RSS at n = 30,000 before
  // the product refused its memory)
  const cols: Float64Array[] = [];
  for (let j0 = 0; j0 < n; j0 += DENSE_COLUMNS_PER_PRODUCT) {
    const block = Array.from({ length: Math.min(DENSE_COLUMNS_PER_PRODUCT, n - j0) }, (_, t) => {
      const e = new Float64Array(n);
      e[j0 + t] = 1;
      return e;
    });
    cols.push(...(await applyColumns(A, block)));
  }
  // a product's NaN is not an asymmetry (NaN ≠ NaN), and the eigensolver would say only "non-finite"
  for (let j = 0; j < n; j++) {
    const i = firstNonFinite(cols[j]!);
    if (i >= 0) throw new RangeError(`${fn}: A (${A}) has a non-finite entry (${i}, ${j}) = ${cols[j]![i]} (its products returned it)`);
  }
  if (checkEntries) {
    const why = denseAsymmetry((i, j) => cols[j]![i]!, n, symmetryTolerance(A.dtype));
    if (why) throw asymmetricError(fn, `${A}: ${why}`);
  }
  const dense = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) dense[i * n + j] = 0.5 * (cols[j]![i]! + cols[i]![j]!);
  const { eigenvalues, eigenvectors } = symmetricEigen(dense, n);
  const sel = denseSelect(eigenvalues, o.k, o.which, o.sigma).sort((a, b) => eigenvalues[a]! - eigenvalues[b]!);
  const result: EigshResult = { eigenvalues: Float64Array.from(sel, (i) => eigenvalues[i]!), iterations: 1, matvecs: n, method: 'dense' };
  await settleCallback(o.onProgress?.({
    iteration: 1, matvecs: n, nconv: o.k, ritzValues: result.eigenvalues.slice(), ritzEstimates: new Float64Array(o.k), elapsedMs: now() - start,
  }));
  if (o.returnEigenvectors) {
    result.eigenvectors = Block.fromColumns(sel.map((c) => Float64Array.from({ length: n }, (_, i) => eigenvectors[i * n + c]!)), n).toMatrix();
  }
  return result;
}

/**
 * Most bytes the dense path holds (A's columns, the symmetrised matrix, the eigensolver's copy): 2 GiB, the dense
 * cache's largest budget (src/cpu/memory-pool.ts, which this layer does not import) — n ≈ 9,450; its O(n³) one-thread
 * eigensolver already takes minutes there.
 */
const DENSE_PATH_MAX_BYTES = 2 ** 31;

/** What the dense path holds at n: A's columns, the symmetrised matrix and the eigensolver's working copy, three n×n float64. */
const densePathBytes = (n: number): number => 3 * n * n * 8;

/** The largest |t| (0 for none). */
const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

/** Identity columns per product of the dense path (A's columns are read a block at a time). */
const DENSE_COLUMNS_PER_PRODUCT = 256;

/**
 * Largest n at which 'SM' goes through a dense factor unasked. An indefinite (or numerically singular) A is factored by
 * LU (dense-lu-wasm.ts): 0.04 s at n = 500, 0.08 s at 1,000, 0.24 s at 1,500, 0.57 s at 2,000 on the development VM
 * (the plain-JS LU it replaced: 0.07, 0.40, 1.4, 3.6 s; scipy's LAPACK: 0.01–0.08 s) — past this size it can cost
 * more than the Lanczos run it makes reliable, and a positive definite A ('SM' = 'SA') needs no help.
 */
const SM_FACTOR_MAX_N = 1024;

/** What Lanczos applies (A, or OP = (A − σI)⁻¹), its convergence tolerance, and what shift-invert adds. */
interface LanczosOperator {
  op: (x: Float64Array) => Promise<Float64Array>;
  tol: number;
  innerMatvecs: (() => number) | undefined;
  /** ‖A − σI‖_∞ where known: shift-invert pairs are checked against A with it. */
  normBound: () => number | undefined;
  release: () => void;
}

/** The Lanczos operator and tolerance: A (or its cheaper Lanczos view), or (A − σI)⁻¹ with the tolerance its application allows. */
async function lanczosOperator(fn: string, A: LinearOperator, n: number, o: ParsedEigsh): Promise<LanczosOperator> {
  const tol = o.tol > 0 ? o.tol : o.eps;
  if (o.sigma === undefined) {
    // the largest eigenvalues only: a cheaper operator's rounding (e.g. a float32 kernel's float32-sums view at
    // float32 tolerance, ≈ 2⁻²⁴·λ_max) would keep the smallest from converging relative to themselves
    const B = o.which === 'LM' || o.which === 'LA' ? A.lanczosOperator(tol) : A;
    // the internal product: the basis vector is finite and left alone while the product runs, so it is not copied
    return { op: async (x: Float64Array) => (await matmatBlock(B, new Block(x, n, 1))).data, tol, innerMatvecs: undefined, normBound: () => undefined, release: () => undefined };
  }
  // scipy's iterative OPinv: the inner tolerance is the outer one, 2·eps for tol = 0
  const innerRtol = o.sigmaRtol ?? (o.tol > 0 ? o.tol : 2 * o.eps);
  const si = await shiftInvert(fn, A, n, o.sigma, { solver: o.sigmaSolver, innerRtol });
  // an inexact OP caps the attainable Ritz residual near the inner tolerance; a factor's solves are exact to rounding
  const exact = si.kind === 'cholesky' || si.kind === 'lu';
  return exact ? exactShiftInvert(si, o) : { ...shiftInvertOperator(si), tol: o.tol > 0 ? tol : Math.max(o.eps, 100 * innerRtol) };
}

/** The Lanczos operator of a dense factor's OP: exact to rounding, so the outer tolerance is the dtype's (or tol). */
function exactShiftInvert(si: ShiftInvert, o: ParsedEigsh): LanczosOperator {
  return { ...shiftInvertOperator(si), tol: o.tol > 0 ? o.tol : o.eps };
}

function shiftInvertOperator(si: ShiftInvert): Omit<LanczosOperator, 'tol'> {
  return { op: si.apply, innerMatvecs: () => si.innerMatvecs(), normBound: () => si.normBound, release: () => si.release() };
}

/** EigshNoConvergence for a missed wanted eigenvalue: it carries the found pairs that stay wanted beside it. */
function missedError(
  out: LanczosOutcome, pick: number[], lambda: Float64Array, missed: number, toLambda: (nu: number) => number, o: ParsedEigsh, n: number,
): EigshNoConvergence {
  const order = wantedOrder(Float64Array.from([missed, ...pick.map((i) => out.theta[i]!)]), o.which);
  const stay = order.slice(0, order.indexOf(0)).map((r) => pick[r - 1]!).sort((a, b) => lambda[a]! - lambda[b]!);
  const vectors = o.returnEigenvectors ? Block.fromColumns(stay.map((i) => out.vectors![i]!), n).toMatrix() : undefined;
  return new EigshNoConvergence(Float64Array.from(stay, (i) => lambda[i]!), vectors, out.iterations, out.matvecs, o.k,
    `${o.k} Ritz pairs converged, but a wanted eigenvalue was not among them: with them deflated, A still has a Ritz value ${toLambda(missed).toPrecision(6)} that belongs in the wanted set (ncv = ${o.ncv} leaves little room: use a larger ncv, e.g. the default ${defaultNcv(o.k, n)})`);
}

/**
 * Shift-invert pairs checked against A: Lanczos on an exact OP leaves ‖Ax − λx‖ ≤ ‖A − σI‖·(tol + √n·eps·‖OP‖/|ν|)
 * (its rounding is eps·‖OP‖, mapped back through |λ − σ| = 1/|ν|; √n for the rounding of n-term sums — the factor's
 * backward error and the product Ax — which grows as √n in practice, as n in the worst case). Without the √n, Laplacian
 * kernels at n = 160 on the scale 1e-19 with σ = −1e-17 left residuals of 6–22·eps·‖A − σI‖_∞ with a factor exact to
 * rounding (six seeds, two summation orders of the factor's panels), where the bound allowed 20. Far above that, OP
 * was not what Lanczos assumed — a nearly singular A − σI, whose solves are exact only in the backward sense — and
 * those pairs are not reported converged: EigshNoConvergence carries the others.
 */
function verifyShiftInvert(
  out: LanczosOutcome, pick: number[], lambda: Float64Array, xs: Float64Array[], Ax: Float64Array[], normShifted: number, tol: number,
  o: ParsedEigsh, n: number,
): void {
  const opNorm = Math.max(...Array.from(out.theta, Math.abs));
  const residual = (t: number) => residualNorm(Ax[t]!, lambda[pick[t]!]!, xs[t]!) / norm(xs[t]!);
  // the rounding term, capped at √ε: past it (σ within ≈ √ε·‖A‖ of an eigenvalue, exactly on one of a non-diagonal A
  // where LU's pivots are ≈ 1e-16, not 0) the bound said nothing — QΛQᵀ with λ = 0..59 at σ = 3 returned 2.219 and
  // 4.050 for 2 and 4 — and such pairs are refused; the pair at σ itself stays accurate
  const rounding = Math.sqrt(n) * Number.EPSILON * opNorm;
  const bound = (t: number) => TRUE_RESIDUAL_SLACK * normShifted * (tol + Math.min(rounding / Math.abs(out.theta[pick[t]!]!), Math.sqrt(Number.EPSILON)));
  const bad = pick.map((_, t) => t).filter((t) => !(residual(t) <= bound(t)));
  if (bad.length === 0) return;
  const good = pick.filter((_, t) => !bad.includes(t)).sort((a, b) => lambda[a]! - lambda[b]!);
  const vectors = o.returnEigenvectors ? Block.fromColumns(good.map((i) => out.vectors![i]!), n).toMatrix() : undefined;
  const t = bad[0]!;
  throw new EigshNoConvergence(Float64Array.from(good, (i) => lambda[i]!), vectors, out.iterations, out.matvecs, o.k,
    `${bad.length} Ritz pairs met the Lanczos test but not the true residual's: ‖Ax − λx‖ = ${residual(t).toExponential(1)} > ${bound(t).toExponential(1)} at λ = ${lambda[pick[t]!]}; A − σI is nearly singular at sigma = ${o.sigma}`);
}

/**
 * k eigenpairs of a symmetric A (scipy.sparse.linalg.eigsh's contract). Throws RangeError on a non-symmetric A,
 * SingularShiftError when A − σI is singular, EigshNoConvergence (carrying the converged pairs) after maxiter restarts.
 */
export async function eigsh(Ain: OperatorInput, k?: number, options?: EigshOptions): Promise<EigshResult> {
  const fn = 'eigsh';
  const A = toOperator(Ain, fn);
  const n = requireSquare(A, fn);
  const o = parseEigshOptions(fn, k, options, n, A.dtype);
  const symmetry = o.symmetric ? { kind: 'symmetric' as const } : structuralSymmetry(A);
  if (symmetry.kind === 'asymmetric') throw asymmetricError(fn, symmetry.why);
  A.expectRepeatedProducts(); // a Krylov method applies A many times
  // the tridiagonal eigenproblems' program compiles on a background thread while A is stored or factored and applied
  // (its result comes at the event loop's next turn: a shift-invert factor's prefault, a pooled product)
  prepareTridiagonalEigen();
  const start = now();

  if (chooseDense(fn, n, o, options)) return denseEigsh(fn, A, n, o, symmetry.kind === 'unknown', start);
  if (symmetry.kind === 'unknown') {
    const probe = await probeSymmetry(A, o.seed);
    if (probe.kind === 'asymmetric') throw asymmetricError(fn, probe.why);
  }

  // the basis' programs compile while the operator is planned (a shift-invert factor takes tens of ms)
  const pendingBasis = lanczosBasis(n, o.ncv + 1);
  pendingBasis.catch(() => undefined); // a failure (no memory) is thrown where it is awaited, not left unhandled
  try {
    // 'SM': interior eigenvalues where A is indefinite, which Lanczos on A can miss (one that has not emerged when the
    // others converge). Through (A − 0·I)⁻¹ they are the largest, which it finds reliably: done up to SM_FACTOR_MAX_N
    // wherever sigma = 0 would plan a dense factor (A's entries stored or cheap to read, within the dense budget);
    // elsewhere Lanczos on A.
    const smallest = o.sigma === undefined && o.which === 'SM' && n <= SM_FACTOR_MAX_N ? await denseShiftInvert(fn, A, 0) : undefined;
    const viaInverse = smallest ? await smallestThroughInverse(A, await pendingBasis, o, smallest, start) : undefined;
    if (viaInverse) return viaInverse;
    const lanczos = await lanczosOperator(fn, A, n, o);
    try {
      return await lanczosEigsh(A, await pendingBasis, o, lanczos, start);
    } finally {
      lanczos.release(); // a dense factor's memory goes back at once
    }
  } finally {
    // the results are copies: the basis' memory goes back for reuse (also where planning failed before it was used)
    (await pendingBasis.catch(() => undefined))?.release();
  }
}

/**
 * 'SM' as sigma = 0 on the planned dense factor; undefined where that run ends without convergence or A is
 * numerically singular at 0 (an eigenvalue within √ε·‖A‖ of 0) — the factor's solves then amplify rounding by ‖A⁻¹‖
 * and the other pairs are not to be trusted (an exact 0 of QΛQᵀ came back with 1.010 and 2.234 for 1 and 2), so eigsh
 * runs Lanczos on A, as where no factor is planned. The factor's memory goes back either way.
 */
async function smallestThroughInverse(
  A: LinearOperator, basis: LanczosBasis, o: ParsedEigsh, si: ShiftInvert, start: number,
): Promise<EigshResult | undefined> {
  const run: ParsedEigsh = { ...o, sigma: 0, which: 'LM' };
  const lanczos = exactShiftInvert(si, run);
  try {
    const result = await lanczosEigsh(A, basis, run, lanczos, start);
    const scale = lanczos.normBound() ?? 0;
    return result.eigenvalues.some((l) => Math.abs(l) <= Math.sqrt(Number.EPSILON) * scale) ? undefined : result;
  } catch (error) {
    if (error instanceof EigshNoConvergence) return undefined;
    throw error;
  } finally {
    lanczos.release();
  }
}

/** Thick-restart Lanczos on the planned operator; shift-invert pairs refined by Rayleigh quotients and verified. */
async function lanczosEigsh(
  A: LinearOperator, basis: LanczosBasis, o: ParsedEigsh, lanczos: LanczosOperator, start: number,
): Promise<EigshResult> {
  const { op, tol, innerMatvecs, normBound } = lanczos;
  const sigma = o.sigma;
  const toLambda = (nu: number): number => (sigma === undefined ? nu : sigma + 1 / nu);
  const rng = mulberry32(o.seed + 1);
  const n = basis.n;
  const out = await thickRestartLanczos(op, basis, {
    k: o.k, which: o.which, ncv: o.ncv, maxiter: o.maxiter, tol, v0: o.v0, rng,
    report: (iteration, mv, nconv, theta, est) => o.onProgress?.({
      iteration, matvecs: mv, nconv, ritzValues: theta.map(toLambda), ritzEstimates: est, elapsedMs: now() - start,
    }),
  });

  const pick = Array.from(out.theta, (_, i) => i).filter((i) => out.converged[i]);
  const lambda = out.theta.map(toLambda);
  // less room than the default: look for a wanted eigenvalue that had not emerged (missed-eigenvalue.ts). With
  // ncv < 2k + 1 alone, 3 of 2,000 random cases (eigen-fuzz eigsh seeds 405, 411, 414–421: 'LM' of indefinite A, k = 2
  // with ncv = 7 among them) came back wrong; with every ncv below the default and 4·ncv steps, none (the checks' products:
  // at most 9 % of the runs')
  const roomy = defaultNcv(o.k, n);
  if (pick.length === o.k && o.ncv < roomy) {
    const found = pick.map((i) => out.theta[i]!);
    // a Ritz value within 100 times the found values' relative accuracy of the k-th is a tie
    const margin = 100 * Math.max(tol, 1e-10) * Math.max(...found.map(Math.abs));
    const steps = Math.min(Math.max(20, 4 * o.ncv), 2 * roomy);
    const check = await missedEigenvalue(op, pick.map((i) => out.vectors![i]!), found, o.which, steps, margin, rng);
    out.matvecs += check.matvecs;
    if (check.missed !== undefined) throw missedError(out, pick, lambda, check.missed, toLambda, o, n);
  }
  let rayleighProducts = 0;
  if (sigma !== undefined && pick.length > 0) {
    // σ + 1/ν inherits the inner solves' error linearly; the Rayleigh quotient xᵀAx of the same
    // vector is accurate to its square, for one k-column product.
    const xs = pick.map((i) => out.vectors![i]!);
    const Ax = await applyColumns(A, xs);
    rayleighProducts = xs.length;
    pick.forEach((i, t) => (lambda[i] = dot(xs[t]!, Ax[t]!) / dot(xs[t]!, xs[t]!)));
    const normShifted = normBound();
    if (normShifted !== undefined) verifyShiftInvert(out, pick, lambda, xs, Ax, normShifted, Math.max(tol, o.eps), o, n);
  }
  pick.sort((a, b) => lambda[a]! - lambda[b]!);
  const eigenvalues = Float64Array.from(pick, (i) => lambda[i]!);
  const eigenvectors = o.returnEigenvectors ? Block.fromColumns(pick.map((i) => out.vectors![i]!), n).toMatrix() : undefined;
  if (pick.length < o.k) throw new EigshNoConvergence(eigenvalues, eigenvectors, out.iterations, out.matvecs, o.k, noConvergenceHint(out, o, n, o.tol, toLambda));
  const result: EigshResult = { eigenvalues, iterations: out.iterations, matvecs: out.matvecs, method: 'lanczos' };
  if (eigenvectors) result.eigenvectors = eigenvectors;
  if (innerMatvecs) result.innerMatvecs = innerMatvecs() + rayleighProducts;
  return result;
}
