/**
 * The shift-invert operator OP = (A − σI)⁻¹ of eigsh, and how it is applied.
 *
 * How it is applied is planned where every solve is planned, src/preconditioners/solve.ts (`planShiftedInverse`,
 * reached by a lazy import: that module sits beside this one and imports krylov solvers): a dense factor of A − σI
 * where it fits — Cholesky when positive definite, else LU with partial pivoting, as scipy's eigsh factors a dense A
 * (LAPACK getrf) — and every application is two triangular solves, exact to rounding, so the outer Lanczos tolerance
 * can be the dtype's. Otherwise each application is an inner minres solve (cg on request) to a tolerance that follows
 * the outer one, as scipy's iterative OPinv does. Either way a singular A − σI (σ an eigenvalue of A) is reported,
 * never solved silently in the least-squares sense.
 */
import type { LinearOperator } from '../operators/linear-operator.js';
import { allFinite } from '../operators/validate.js';
import { cg } from './cg.js';
import { minres } from './minres.js';
import { mulberry32, randomVector } from './random.js';
import { tridiagonalEigen } from './tridiagonal.js';
import { project } from './missed-eigenvalue.js';
import { norm } from './util.js';

export type SigmaSolver = 'auto' | 'dense' | 'cg' | 'minres';

/** Inner iterative solves stop after this many iterations at most (a restart stays bounded). */
export const INNER_MAXITER_CAP = 2000;

export interface ShiftInvert {
  /** y = (A − σI)⁻¹ x. */
  apply(x: Float64Array): Promise<Float64Array>;
  /** 'cholesky' | 'lu' (dense factor) or 'cg' | 'minres' (inner iterative solves). */
  readonly kind: 'cholesky' | 'lu' | 'cg' | 'minres';
  /** Why this kind (the plan's reason). */
  readonly reason: string;
  /** Products with A spent so far (materialisation by products, inner iterations). */
  innerMatvecs(): number;
  /** ‖A − σI‖_∞ (≥ its 2-norm) where the matrix was materialised: eigsh checks true residuals against it. */
  readonly normBound?: number;
  /** Hands a dense factor's memory back (eigsh calls it when done); `apply` throws afterwards. */
  release(): void;
}

/** A − σI is singular: σ is (to working precision) an eigenvalue of A. */
export class SingularShiftError extends Error {
  constructor(message: string, readonly sigma: number) {
    super(message);
    this.name = 'SingularShiftError';
  }
}

function singular(fn: string, sigma: number, detail: string): SingularShiftError {
  return new SingularShiftError(
    `${fn}: A − σI is singular for sigma = ${sigma} (${detail}): sigma is an eigenvalue of A; move sigma off it (e.g. by a relative 1e-8)`,
    sigma,
  );
}

export interface ShiftInvertOptions {
  solver: SigmaSolver;
  /** Relative tolerance of the inner iterative solves. */
  innerRtol: number;
}

/** OP = (A − σI)⁻¹ for eigsh as `planShiftedInverse` decides: a dense factor, else inner iterative solves. */
export async function shiftInvert(fn: string, A: LinearOperator, n: number, sigma: number, options: ShiftInvertOptions): Promise<ShiftInvert> {
  const { planShiftedInverse } = await import('../preconditioners/solve.js');
  const plan = await planShiftedInverse(A, -sigma, options.solver);
  if (plan.method === 'singular') throw singular(fn, sigma, plan.reason);
  const dense = factored(fn, sigma, plan);
  if (dense) return dense;
  await refuseRemoteShiftByProducts(fn, A, n, sigma);
  return (plan.method === 'cg' ? innerCg : innerMinres)(fn, { A, n, sigma, innerRtol: options.innerRtol, reason: plan.reason });
}

/**
 * OP = (A − σI)⁻¹ by a dense factor where 'auto' would plan one (A's entries stored or cheap to read, the factor within
 * the dense budget); undefined where it would not, or where A − σI is singular — nothing then is spent on inner solves.
 */
export async function denseShiftInvert(fn: string, A: LinearOperator, sigma: number): Promise<ShiftInvert | undefined> {
  const { planShiftedInverse } = await import('../preconditioners/solve.js');
  return factored(fn, sigma, await planShiftedInverse(A, -sigma, 'auto'));
}

type Plan = Awaited<ReturnType<typeof import('../preconditioners/solve.js').planShiftedInverse>>;

/** The plan's dense factor as OP, or undefined where the plan is not one. */
function factored(fn: string, sigma: number, plan: Plan): ShiftInvert | undefined {
  if (plan.method === 'cholesky' || plan.method === 'lu') {
    const { factor } = plan;
    refuseRemoteShift(fn, sigma, factor.scaleBound, () => factor.release());
    return {
      kind: plan.method, reason: plan.reason, normBound: factor.normBound, innerMatvecs: () => factor.matvecs, release: () => factor.release(),
      apply: async (x) => {
        const y = factor.solve(x);
        if (!allFinite(y)) throw singular(fn, sigma, `the solve with its ${plan.method === 'lu' ? 'LU' : 'Cholesky'} factor overflowed`);
        return y;
      },
    };
  }
  return undefined;
}

/**
 * A − σI holds A's diagonal only to ε·|σ|: with |σ| beyond ‖A‖/√ε, fewer than half of the digits of A's own scale
 * survive, and the eigenpairs come back exact for a matrix that differs from A by ≈ n·ε·|σ| — an algebra fuzz case
 * (‖A‖ ≈ 3e-19, σ = −8.5e-5) returned −3.071e-19 for −3.089e-19 and passed the residual test, which measures against
 * ‖A − σI‖. Refused where the factor gives ‖A‖ (`scale`, ‖A‖_∞); an A of exactly 0 has exact eigenvalues at any σ.
 */
function refuseRemoteShift(fn: string, sigma: number, scale: number, release: () => void): void {
  if (!(scale > 0) || !(Math.abs(sigma) * Math.sqrt(Number.EPSILON) > scale)) return;
  release();
  throw new RangeError(`${fn}: sigma = ${sigma} is ${(Math.abs(sigma) / scale).toExponential(1)} times ‖A‖_∞ = ${scale.toExponential(2)}: `
    + `A − σI keeps A's entries only to ε·|σ| ≈ ${(Number.EPSILON * Math.abs(sigma)).toExponential(1)}, so the eigenvalues nearest σ would carry fewer than half `
    + `of the digits on A's scale; give a sigma within ‖A‖/√ε ≈ ${(scale / Math.sqrt(Number.EPSILON)).toExponential(1)} of 0, or ask for an end of the spectrum (which 'LA' or 'SA') without sigma`);
}

/** Lanczos steps that estimate ‖A‖ for the inner paths' remote-σ check (`refuseRemoteShiftByProducts`). */
export const NORM_LANCZOS_STEPS = 20;
/**
 * The inner paths refuse σ only beyond this many times ‖A‖/√ε: their ‖A‖ is a Lanczos estimate (from below, within a
 * few per cent after NORM_LANCZOS_STEPS steps from a random start), where the dense path has ‖A‖_∞ (from above).
 */
export const REMOTE_SHIFT_MARGIN = 10;

/**
 * `refuseRemoteShift` where no factor gives ‖A‖ (inner cg or minres solves): the same loss — λ = σ + 1/θ keeps
 * ε·|σ| of A's scale, and the Ritz residuals are measured against ‖A − σI‖ ≈ |σ| — returned eigenvalues 99% off
 * (‖A‖ ≈ 5e-18, σ = 1e3: 3.9e-20 for −1.2e-18) with every pair converged. One product bounds ‖A‖ from below (‖Av‖ for
 * a seeded unit v) and settles the usual σ; beyond it, NORM_LANCZOS_STEPS Lanczos steps on A estimate ‖A‖ (their
 * largest |Ritz value|), and σ beyond REMOTE_SHIFT_MARGIN·‖A‖/√ε is refused.
 */
async function refuseRemoteShiftByProducts(fn: string, A: LinearOperator, n: number, sigma: number): Promise<void> {
  const threshold = Math.abs(sigma) * Math.sqrt(Number.EPSILON);
  if (!(threshold > 0)) return;
  const rng = mulberry32(0x5eed);
  const q = randomVector(n, rng);
  scaleInPlace(q, 1 / norm(q));
  const basis: Float64Array[] = [q];
  const alpha: number[] = [];
  const beta: number[] = [];
  let lower = 0;
  for (let j = 0; j < Math.min(n, NORM_LANCZOS_STEPS); j++) {
    const w = await A.matvec(basis[j]!);
    lower = Math.max(lower, norm(w)); // ‖A q‖ ≤ ‖A‖ for a unit q
    if (threshold <= lower) return;
    // full reorthogonalisation (twice): the estimate needs no more than a handful of accurate steps; the
    // coefficient on the newest basis vector is the diagonal entry
    alpha.push(project(w, basis)[j]!);
    const b = norm(w);
    if (!(b > 1e-12 * lower) || j === Math.min(n, NORM_LANCZOS_STEPS) - 1) break; // an invariant subspace: its Ritz values are exact
    beta.push(b);
    scaleInPlace(w, 1 / b);
    basis.push(w);
  }
  const ritz = tridiagonalEigen(alpha, beta.slice(0, alpha.length - 1)).eigenvalues;
  const estimate = Math.max(lower, Math.abs(ritz[0]!), Math.abs(ritz[ritz.length - 1]!));
  // an A of exactly 0 has exact eigenvalues at any σ (as on the dense path)
  if (!(estimate > 0) || threshold <= REMOTE_SHIFT_MARGIN * estimate) return;
  throw new RangeError(`${fn}: sigma = ${sigma} is ${(Math.abs(sigma) / estimate).toExponential(1)} times ‖A‖ ≈ ${estimate.toExponential(2)} (${alpha.length} Lanczos steps): `
    + `A − σI keeps A's scale only to ε·|σ| ≈ ${(Number.EPSILON * Math.abs(sigma)).toExponential(1)}, so the eigenvalues nearest σ would carry fewer than half `
    + `of the digits on A's scale; give a sigma within ‖A‖/√ε ≈ ${(estimate / Math.sqrt(Number.EPSILON)).toExponential(1)} of 0, or ask for an end of the spectrum (which 'LA' or 'SA') without sigma`);
}

function scaleInPlace(x: Float64Array, c: number): void {
  for (let i = 0; i < x.length; i++) x[i]! *= c;
}

interface InnerSolve {
  A: LinearOperator;
  n: number;
  sigma: number;
  innerRtol: number;
  reason: string;
}

function innerCg(fn: string, { A, n, sigma, innerRtol, reason }: InnerSolve): ShiftInvert {
  const maxiter = Math.min(10 * n, INNER_MAXITER_CAP);
  const shifted = A.shift(-sigma);
  let matvecs = 0;
  return {
    kind: 'cg', reason, innerMatvecs: () => matvecs, release: () => undefined,
    apply: async (x) => {
      const r = await cg(shifted, x, { rtol: innerRtol, maxiter });
      matvecs += r.matvecs;
      if (r.info !== 0) {
        throw new Error(`${fn}: inner cg solve of (A − ${sigma}·I) y = v failed (info ${r.info}: ${r.message}); A − σI may be indefinite or singular: use sigmaSolver 'minres' or 'dense'`);
      }
      return r.x;
    },
  };
}

/** Below this inner rtol, float32 products commonly stagnate (a few hundred ε₃₂ of rounding in the residual). */
const FLOAT32_INNER_RTOL_FLOOR = 1e-5;

function innerMinres(fn: string, { A, n, sigma, innerRtol, reason }: InnerSolve): ShiftInvert {
  const maxiter = Math.min(10 * n, INNER_MAXITER_CAP);
  let matvecs = 0;
  // minres's estimate of ‖A − σI‖, the largest seen: eigsh checks true residuals against it
  let anorm = 0;
  return {
    kind: 'minres', reason, innerMatvecs: () => matvecs, release: () => undefined,
    get normBound() {
      return anorm > 0 ? anorm : undefined;
    },
    apply: async (x) => {
      const r = await minres(A, x, { shift: sigma, rtol: innerRtol, maxiter });
      matvecs += r.matvecs;
      anorm = Math.max(anorm, r.anorm);
      // istop 1 (a solution) or 3 (accuracy at eps); 2 (least squares), 4/5 (cond ≥ 0.1/eps) mean a singular A − σI
      if (r.istop === 2 || r.istop === 4 || r.istop === 5) throw singular(fn, sigma, `inner minres: ${r.message}`);
      // istop 3 with info > 0: the residual is at the accuracy float64 attains (‖A − σI‖·‖y‖·eps), above an rtol of 2·eps
      if (r.info !== 0 && r.istop !== 3) {
        // a float32 operator's products stop short of an rtol near float32's ε: say so, not only "nearly singular"
        const floor = A.dtype === 'float32' && innerRtol < FLOAT32_INNER_RTOL_FLOOR
          ? `; A's products are float32, whose rounding (ε = 1.2e-7) this rtol is below: give sigmaRtol ≥ ${FLOAT32_INNER_RTOL_FLOOR} (or tol), sigmaSolver 'dense', or dtype 'float64'`
          : "; A − σI may be nearly singular: try sigmaSolver 'dense', a larger tol, or sigma further from the eigenvalues";
        throw new Error(`${fn}: inner minres solve of (A − ${sigma}·I) y = v did not converge (${r.message}, ${r.iterations} iterations, rtol ${innerRtol})${floor}`);
      }
      return r.x;
    },
  };
}
