/**
 * eigsh: a few eigenpairs of a symmetric operator, scipy.sparse.linalg.eigsh's contract, by
 * thick-restart Lanczos (Wu & Simon 2000) with full reorthogonalisation.
 *
 * One cycle: extend the basis V (kept Ritz vectors, then Lanczos vectors) to ncv columns, each
 * new vector orthogonalised against all of V by classical Gram–Schmidt, repeated once when the
 * DGKS test says it lost too much (twice is enough); Rayleigh–Ritz on the ncv×ncv projection T
 * (tridiagonal in the first cycle, tridiagonal bordered by an arrow after a restart); restart with
 * the most wanted Ritz vectors plus the last Lanczos vector, so that
 *   A V = V T + β v_{ncv} e_ncvᵀ  stays exact and  ‖A x_i − θ_i x_i‖ = β·|y_i(ncv)|.
 * A Ritz pair is accepted as ARPACK does: β·|y_i(ncv)| ≤ tol·max(eps^(2/3), |θ_i|).
 *
 * Shift-invert (`sigma`): Lanczos runs on OP = (A − σI)⁻¹, applied by an inner minres solve
 * (or cg when the shifted operator is known SPD), and λ = σ + 1/ν; `which` applies to ν as in
 * scipy, so the default 'LM' returns the eigenvalues nearest σ.
 *
 * Small problems (n ≤ 2·ncv, where Lanczos would span most of the space anyway) are solved
 * densely: A is materialised with one matmat against the identity and decomposed.
 */
import type { Matrix } from 'ml-matrix';
import type { LinearOperator } from '../operators/linear-operator.js';
import { cg } from './cg.js';
import { minres } from './minres.js';
import { mulberry32, randomVector } from './random.js';
import { symmetricEigen, tridiagonalEigen } from './tridiagonal.js';
import {
  applyColumns,
  axpy,
  checkNonNegative,
  checkPositiveInt,
  columnsToMatrix,
  dot,
  dtypeEps,
  norm,
  now,
  requireSquare,
  toOperator,
  vectorArg,
  type OperatorInput,
  type VectorInput,
} from './util.js';

export type Which = 'LM' | 'SM' | 'LA' | 'SA' | 'BE';
const WHICH: readonly Which[] = ['LM', 'SM', 'LA', 'SA', 'BE'];

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
  /** Restart cycles allowed (default 10·n, scipy's). */
  maxiter?: number;
  /** Relative accuracy of the eigenvalues; 0 = machine precision of the operator's dtype. */
  tol?: number;
  returnEigenvectors?: boolean;
  /** Seed of the start vector when v0 is not given (default 0: reproducible, like ARPACK). */
  seed?: number;
  onProgress?: (p: EigshProgress) => void;
  /** Shift-invert inner solver: 'auto' (cg when A is declared positive semidefinite and σ < 0, else minres). */
  sigmaSolver?: 'auto' | 'cg' | 'minres';
  /** Shift-invert inner solver tolerance (default 1e-12 in float64, 1e-6 in float32). */
  sigmaRtol?: number;
  /** 'auto' (dense when n ≤ 2·ncv), or force 'lanczos' / 'dense'. */
  method?: 'auto' | 'lanczos' | 'dense';
}

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
  ) {
    super(`eigsh: no convergence (${iterations} iterations, ${matvecs} matvecs, ${eigenvalues.length}/${k} eigenvectors converged)`);
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

/** CGS against V[0..count), repeated once by the DGKS test. Returns the coefficients and whether w is (numerically) in span(V). */
function orthogonalize(w: Float64Array, V: readonly Float64Array[], count: number, h: Float64Array): { wnorm: number; dependent: boolean } {
  h.fill(0, 0, count);
  let before = norm(w);
  const c = new Float64Array(count);
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < count; i++) c[i] = dot(V[i]!, w);
    for (let i = 0; i < count; i++) {
      axpy(-c[i]!, V[i]!, w);
      h[i]! += c[i]!;
    }
    const after = norm(w);
    if (after >= Math.SQRT1_2 * before) return { wnorm: after, dependent: false };
    if (pass === 1) return { wnorm: after, dependent: true };
    before = after;
  }
  return { wnorm: norm(w), dependent: true };
}

/** A random unit vector orthogonal to V[0..count) (used when Lanczos finds an invariant subspace). */
function randomOrthogonal(V: readonly Float64Array[], count: number, n: number, rng: () => number): Float64Array {
  const h = new Float64Array(count);
  for (let attempt = 0; attempt < 5; attempt++) {
    const w = randomVector(n, rng);
    const { wnorm, dependent } = orthogonalize(w, V, count, h);
    if (!dependent && wnorm > 0) {
      for (let i = 0; i < n; i++) w[i]! /= wnorm;
      return w;
    }
  }
  throw new Error(`eigsh: could not extend an orthonormal basis of ${count} vectors in dimension ${n}`);
}

interface LanczosOutcome {
  theta: Float64Array; // wanted Ritz values of OP, in `which` order
  vectors?: Float64Array[];
  converged: boolean[];
  iterations: number;
  matvecs: number;
}

async function thickRestartLanczos(
  op: (x: Float64Array) => Promise<Float64Array>,
  n: number,
  k: number,
  which: Which,
  ncv: number,
  maxiter: number,
  tol: number,
  v0: Float64Array,
  rng: () => number,
  report: (iteration: number, matvecs: number, nconv: number, theta: Float64Array, est: Float64Array) => void,
): Promise<LanczosOutcome> {
  const eps23 = Math.pow(2.220446049250313e-16, 2 / 3);
  const V: Float64Array[] = new Array(ncv + 1);
  const v0norm = norm(v0);
  V[0] = v0.map((v) => v / v0norm);
  let T = new Float64Array(ncv * ncv);
  const h = new Float64Array(ncv + 1);
  let kept = 0;
  let matvecs = 0;
  let anorm = 0; // running estimate of ‖OP‖ for the invariant-subspace test
  /**
   * Rayleigh–Ritz on the leading size×size block of T (plain tridiagonal before the first restart): Ritz values,
   * vectors Y (row-major size×size), the wanted ones in `which` order and their residual estimates |β·y_last|.
   */
  const rayleighRitz = (size: number, beta: number) => {
    let theta: Float64Array;
    let Y: Float64Array;
    if (kept === 0) {
      const d = new Float64Array(size);
      const e = new Float64Array(Math.max(0, size - 1));
      for (let i = 0; i < size; i++) d[i] = T[i * ncv + i]!;
      for (let i = 0; i < size - 1; i++) e[i] = T[i * ncv + i + 1]!;
      const r = tridiagonalEigen(d, e, { eigenvectors: true });
      theta = r.eigenvalues;
      Y = r.eigenvectors!;
    } else {
      const block = new Float64Array(size * size);
      for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) block[i * size + j] = T[i * ncv + j]!;
      const r = symmetricEigen(block, size);
      theta = r.eigenvalues;
      Y = r.eigenvectors;
    }
    const order = wantedOrder(theta, which);
    const est = Float64Array.from(theta, (_, i) => Math.abs(beta * Y[(size - 1) * size + i]!));
    const wanted = order.slice(0, k);
    const converged = wanted.map((i) => est[i]! <= tol * Math.max(eps23, Math.abs(theta[i]!)));
    return { theta, Y, order, est, wanted, converged, nconv: converged.filter(Boolean).length };
  };
  const ritzVectorsOf = (Y: Float64Array, size: number, cols: number[]): Float64Array[] =>
    cols.map((c) => {
      const x = new Float64Array(n);
      for (let j = 0; j < size; j++) axpy(Y[j * size + c]!, V[j]!, x);
      return x;
    });
  for (let iteration = 1; ; iteration++) {
    let betaLast = 0;
    for (let j = kept; j < ncv; j++) {
      const w = await op(V[j]!);
      matvecs++;
      const { wnorm, dependent } = orthogonalize(w, V, j + 1, h);
      // With full reorthogonalisation the projection keeps only the Lanczos entries: the diagonal,
      // and after a restart the arrow couplings already set from the Ritz residuals.
      T[j * ncv + j] = h[j]!;
      anorm = Math.max(anorm, Math.abs(h[j]!) + wnorm);
      let beta = wnorm;
      let next: Float64Array;
      if (dependent || wnorm <= 2.220446049250313e-16 * anorm) {
        // Invariant subspace found: continue in a fresh direction with a zero coupling.
        beta = 0;
        next = randomOrthogonal(V, j + 1, n, rng);
      } else {
        next = w;
        for (let i = 0; i < n; i++) next[i]! /= beta;
      }
      V[j + 1] = next;
      if (j + 1 < ncv) {
        T[j * ncv + j + 1] = beta;
        T[(j + 1) * ncv + j] = beta;
        // A restarted cycle may end early: once every wanted Ritz pair of the basis so far has converged, the
        // rest of the cycle's products would be spent for nothing (an s×s eigenproblem, s ≤ ncv, costs no
        // product). Not in the first cycle, whose basis has not yet been through a full-size Rayleigh–Ritz: a
        // short Krylov space can hold converged pairs while a wanted eigenvalue has not emerged yet.
        if (kept > 0) {
          const rr = rayleighRitz(j + 1, beta);
          if (rr.nconv === k) {
            report(iteration, matvecs, k, Float64Array.from(rr.wanted, (i) => rr.theta[i]!), Float64Array.from(rr.wanted, (i) => rr.est[i]!));
            return {
              theta: Float64Array.from(rr.wanted, (i) => rr.theta[i]!), vectors: ritzVectorsOf(rr.Y, j + 1, rr.wanted),
              converged: rr.converged, iterations: iteration, matvecs,
            };
          }
        }
      } else betaLast = beta;
    }

    const { theta, Y, order, est, wanted, converged, nconv } = rayleighRitz(ncv, betaLast);
    report(iteration, matvecs, nconv, Float64Array.from(wanted, (i) => theta[i]!), Float64Array.from(wanted, (i) => est[i]!));

    const ritzVectors = (cols: number[]): Float64Array[] => ritzVectorsOf(Y, ncv, cols);
    if (nconv === k || iteration >= maxiter) {
      return { theta: Float64Array.from(wanted, (i) => theta[i]!), vectors: ritzVectors(wanted), converged, iterations: iteration, matvecs };
    }

    // Thick restart with the most wanted Ritz vectors, continuing from the last Lanczos vector.
    // For the largest end ('LM', 'LA' — also of the shift-inverted operator) k plus half the spare
    // room from the first restart on; elsewhere ARPACK's choice (dsaup2): k plus as many as have
    // converged, up to half the spare room. Matvecs measured (ARPACK's rule → a fixed half): Gaussian
    // kernels, k = 5 'LM', ncv 20: n = 16,384, σ = 0.1, d = 3: 60 → 52; n = 3000: 88 → 76; n = 4000,
    // σ = 0.05: 168 → 132; 'LA', k = 3: 100 → 65; the fixtures' 'LM'/'LA' cases 29 → 27, 33 → 28,
    // 86 → 65 (σ = −0.1), 32 → 34. For 'SA'/'SM'/'BE' the fixed half ran out of restarts (SA, SM)
    // or needed about as many (BE: 1675 → 1742, 1967 → 1500), so they keep ARPACK's rule.
    let keep = k + (which === 'LM' || which === 'LA' ? Math.floor((ncv - k) / 2) : Math.min(nconv, Math.floor((ncv - k) / 2)));
    if (keep === 1) keep = ncv >= 6 ? Math.floor(ncv / 2) : 2; // one vector alone would be a plain restart
    keep = Math.min(keep, ncv - 1);
    const keepIdx = order.slice(0, keep);
    const newV = ritzVectors(keepIdx);
    newV.push(V[ncv]!);
    for (let i = 0; i <= keep; i++) V[i] = newV[i]!;
    T = new Float64Array(ncv * ncv);
    keepIdx.forEach((c, i) => {
      T[i * ncv + i] = theta[c]!;
      const s = betaLast * Y[(ncv - 1) * ncv + c]!;
      T[i * ncv + keep] = s;
      T[keep * ncv + i] = s;
    });
    kept = keep;
  }
}

/** Picks `k` wanted among the dense eigenvalues (of A, or of ν = 1/(λ − σ)). */
function denseSelect(values: Float64Array, k: number, which: Which, sigma: number | undefined): number[] {
  const key = sigma === undefined ? values : Float64Array.from(values, (l) => (l === sigma ? Number.MAX_VALUE : 1 / (l - sigma)));
  return wantedOrder(key, which).slice(0, k);
}

export async function eigsh(Ain: OperatorInput, k = 6, options: EigshOptions = {}): Promise<EigshResult> {
  const fn = 'eigsh';
  const A = toOperator(Ain, fn);
  const n = requireSquare(A, fn);
  A.expectRepeatedProducts(); // a Krylov method applies A many times
  if (typeof k !== 'number' || !Number.isInteger(k) || k <= 0 || k >= n) {
    throw new RangeError(`${fn}: k must be an integer with 0 < k < n = ${n}, got k = ${String(k)}`);
  }
  const which = options.which ?? 'LM';
  if (!WHICH.includes(which)) throw new RangeError(`${fn}: which must be one of ${WHICH.join(', ')}, got ${String(which)}`);
  const ncv = options.ncv ?? Math.min(n, Math.max(2 * k + 1, 20));
  if (!Number.isInteger(ncv) || ncv <= k || ncv > n) {
    throw new RangeError(`${fn}: ncv must be an integer with k < ncv <= n (k = ${k}, n = ${n}), got ncv = ${ncv}`);
  }
  const maxiter = checkPositiveInt(options.maxiter ?? 10 * n, fn, 'maxiter');
  const eps = dtypeEps(A.dtype);
  const tolIn = checkNonNegative(options.tol ?? 0, fn, 'tol');
  const sigma = options.sigma;
  if (sigma !== undefined && (typeof sigma !== 'number' || !Number.isFinite(sigma))) {
    throw new RangeError(`${fn}: sigma must be a finite number, got ${String(sigma)}`);
  }
  const v0 = options.v0 !== undefined ? vectorArg(options.v0, n, fn, 'v0') : randomVector(n, mulberry32(options.seed ?? 0));
  if (norm(v0) === 0) throw new RangeError(`${fn}: v0 must not be the zero vector`);
  const returnVectors = options.returnEigenvectors ?? true;
  const method = options.method ?? 'auto';
  if (!['auto', 'lanczos', 'dense'].includes(method)) throw new RangeError(`${fn}: method must be 'auto', 'lanczos' or 'dense', got ${String(method)}`);
  const start = now();

  if (method === 'dense' || (method === 'auto' && n <= 2 * ncv)) {
    // Materialise A (one n-column product), symmetrise against rounding, decompose.
    const I = Array.from({ length: n }, (_, j) => {
      const e = new Float64Array(n);
      e[j] = 1;
      return e;
    });
    const cols = await applyColumns(A, I);
    const dense = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) dense[i * n + j] = 0.5 * (cols[j]![i]! + cols[i]![j]!);
    const { eigenvalues, eigenvectors } = symmetricEigen(dense, n);
    const sel = denseSelect(eigenvalues, k, which, sigma).sort((a, b) => eigenvalues[a]! - eigenvalues[b]!);
    const result: EigshResult = { eigenvalues: Float64Array.from(sel, (i) => eigenvalues[i]!), iterations: 1, matvecs: n, method: 'dense' };
    if (returnVectors) {
      result.eigenvectors = columnsToMatrix(
        sel.map((c) => Float64Array.from({ length: n }, (_, i) => eigenvectors[i * n + c]!)),
        n,
      );
    }
    return result;
  }

  let op: (x: Float64Array) => Promise<Float64Array>;
  let tol = tolIn > 0 ? tolIn : eps;
  let innerMatvecs = 0;
  if (sigma === undefined) {
    // the largest eigenvalues only: a cheaper operator's rounding (e.g. a float32 kernel's float32-sums view at
    // float32 tolerance, ≈ 2⁻²⁴·λ_max) would keep the smallest from converging relative to themselves
    const B = which === 'LM' || which === 'LA' ? A.lanczosOperator(tol) : A;
    op = (x) => B.matvec(x);
  } else {
    const innerRtol = options.sigmaRtol ?? (A.dtype === 'float32' ? 1e-6 : 1e-12);
    // An inexact OP caps the attainable Ritz residual near the inner tolerance.
    if (tolIn === 0) tol = Math.max(eps, 100 * innerRtol);
    const declaredPsd = (A as unknown as { positiveSemidefinite?: boolean }).positiveSemidefinite === true;
    let useCg = options.sigmaSolver === 'cg' || ((options.sigmaSolver ?? 'auto') === 'auto' && declaredPsd && sigma < 0);
    const shifted = A.shift(-sigma);
    op = async (x) => {
      if (useCg) {
        const r = await cg(shifted, x, { rtol: innerRtol, maxiter: 10 * n });
        innerMatvecs += r.matvecs;
        if (r.info === 0) return r.x;
        if (options.sigmaSolver === 'cg') {
          throw new Error(`${fn}: inner cg solve of (A − ${sigma}·I) y = v failed (info ${r.info}: ${r.message}); use sigmaSolver 'minres'`);
        }
        useCg = false; // not SPD after all: minres from now on
      }
      const r = await minres(A, x, { shift: sigma, rtol: innerRtol, maxiter: 10 * n });
      innerMatvecs += r.matvecs;
      if (r.info < 0) throw new Error(`${fn}: inner minres solve of (A − ${sigma}·I) y = v broke down: ${r.message}`);
      return r.x;
    };
  }
  const toLambda = (nu: number): number => (sigma === undefined ? nu : sigma + 1 / nu);
  const rng = mulberry32((options.seed ?? 0) + 1);
  const out = await thickRestartLanczos(op, n, k, which, ncv, maxiter, tol, v0, rng, (iteration, mv, nconv, theta, est) => {
    options.onProgress?.({
      iteration, matvecs: mv, nconv, ritzValues: theta.map(toLambda), ritzEstimates: est, elapsedMs: now() - start,
    });
  });

  const pick = Array.from(out.theta, (_, i) => i).filter((i) => out.converged[i]);
  const lambda = out.theta.map(toLambda);
  if (sigma !== undefined && pick.length > 0) {
    // σ + 1/ν inherits the inner solves' error linearly; the Rayleigh quotient xᵀAx of the same
    // vector is accurate to its square, for one k-column product.
    const xs = pick.map((i) => out.vectors![i]!);
    const Ax = await applyColumns(A, xs);
    innerMatvecs += xs.length;
    pick.forEach((i, t) => (lambda[i] = dot(xs[t]!, Ax[t]!) / dot(xs[t]!, xs[t]!)));
  }
  pick.sort((a, b) => lambda[a]! - lambda[b]!);
  const eigenvalues = Float64Array.from(pick, (i) => lambda[i]!);
  const eigenvectors = returnVectors ? columnsToMatrix(pick.map((i) => out.vectors![i]!), n) : undefined;
  if (pick.length < k) throw new EigshNoConvergence(eigenvalues, eigenvectors, out.iterations, out.matvecs, k);
  const result: EigshResult = { eigenvalues, iterations: out.iterations, matvecs: out.matvecs, method: 'lanczos' };
  if (eigenvectors) result.eigenvectors = eigenvectors;
  if (sigma !== undefined) result.innerMatvecs = innerMatvecs;
  return result;
}
