/**
 * Mixed-precision iterative refinement with preconditioned CG as the inner solver:
 *
 *   r_k = b − A x_k            (A: the accurate, expensive products),
 *   d_k ≈ Ã⁻¹ r_k              (PCG on Ã, cheaper products of the same matrix, to relative tolerance η_k),
 *   x_{k+1} = x_k + d_k.
 *
 * With Ã = A − E, r_{k+1} = r_k − A d_k = (r_k − Ã d_k) − E d_k, so ‖r_{k+1}‖ ≤ (η_k + ‖E Ã⁻¹‖)‖r_k‖: every outer
 * step gains what the inner tolerance and the cheap products' error allow, and the result meets rtol as measured by
 * A (the stopping rule is scipy's on A's true residual). For a kernel solve (K + αI) on the GPU, A is the compensated
 * product and Ã the float32 one: ‖E‖ is a small multiple of float32 rounding of ‖K‖ in the rough directions that
 * (K + αI)⁻¹ amplifies by 1/α, so the contraction is ≈ ‖E‖/α — measured per outer step here rather than modelled.
 *
 * Safeguards: a step that does not reduce the true residual is rejected; when one reduces it by less than
 * MAX_REFINEMENT_CONTRACTION (the cheap products are too inaccurate for this α), CG on A itself finishes the solve
 * from the best iterate, with the same preconditioner (`fellBack`). η_k follows the measured contraction: solving the
 * inner system further than the products' error lets the next residual fall is wasted work.
 */
import { finiteNumber, func, optional, parseOptions, positiveInt, withDefault, type OptionField } from '../operators/options.js';
import { settleCallback } from '../operators/validate.js';
import type { CgBreakdown, CgOptions, CgResult, IterationProgress } from './cg.js';
import { CG_SPEC, CgNoConvergence, cg } from './cg.js';
import {
  axpy,
  norm,
  now,
  operatorLike,
  requireSquare,
  toOperator,
  vectorArg,
  vectorLike,
  type OperatorInput,
} from './util.js';

/** Default inner relative tolerance η. */
export const DEFAULT_INNER_RTOL = 0.05;
/** A refinement step must reduce the true residual at least by this factor, else CG on the accurate operator takes over. */
export const MAX_REFINEMENT_CONTRACTION = 0.5;

export interface RefinementProgress {
  /** Outer steps done. */
  outer: number;
  /** True residual norm ‖b − A x‖ after it. */
  residualNorm: number;
  /** Inner CG iterations of this step. */
  innerIterations: number;
  /** ‖r_{k+1}‖/‖r_k‖ of this step. */
  contraction: number;
  elapsedMs: number;
}

export interface RefinedCgOptions extends Omit<CgOptions<Float64Array>, 'relaxed' | 'resume' | 'x0'> {
  /** Starting guess (default 0). */
  x0?: Float64Array | Float32Array | number[];
  /** Ã: cheaper, less accurate products of the same (shifted) matrix, for the inner solves. */
  inner: OperatorInput;
  /** η, the inner solves' relative tolerance (default DEFAULT_INNER_RTOL; raised to the measured contraction). */
  innerRtol?: number;
  /** Outer steps at most (default 50). */
  maxOuter?: number;
  /** Called after every outer step with the true residual. (`onProgress` reports the inner iterations, numbered across steps.) */
  onOuter?: (p: RefinementProgress) => void;
}

const { relaxed: _relaxed, resume: _resume, ...CG_SHARED } = CG_SPEC;
/**
 * refinedCg's options, checked by `parseOptions`: cg's (but `relaxed`, `resume`: refinement is how it relaxes; `verify`,
 * `residualCheckEvery` and `M` go to the CG runs it makes) and its own.
 */
export const REFINED_CG_SPEC = {
  ...CG_SHARED,
  x0: optional(vectorLike),
  inner: operatorLike,
  innerRtol: withDefault(finiteNumber({ above: 0, below: 1 }), DEFAULT_INNER_RTOL),
  maxOuter: withDefault(positiveInt, 50),
  onOuter: optional(func),
} satisfies Record<keyof RefinedCgOptions, OptionField<unknown>>;

export interface RefinedCgResult extends CgResult<Float64Array> {
  /** Outer steps (products with A beyond the first residual). */
  outerIterations: number;
  /** Inner CG iterations per outer step. */
  innerIterations: number[];
  /** Whether CG on A finished the solve because refinement stopped contracting. */
  fellBack: boolean;
}

export async function refinedCg(Ainput: OperatorInput, bInput: Float64Array, options: RefinedCgOptions): Promise<RefinedCgResult> {
  const fn = 'refinedCg';
  const o = parseOptions(fn, options, REFINED_CG_SPEC);
  const A = toOperator(Ainput, fn);
  const n = requireSquare(A, fn);
  const inner = o.inner;
  if (inner.shape[0] !== n || inner.shape[1] !== n) {
    throw new RangeError(`${fn}: inner operator must be ${n}x${n} like A, got ${inner.shape[0]}x${inner.shape[1]}`);
  }
  const b = vectorArg(bInput, n, fn, 'b');
  const { rtol, atol, maxOuter, innerRtol } = o;
  const maxiter = o.maxiter ?? 10 * n;
  const t0 = now();
  const bnorm = norm(b);
  const target = Math.max(rtol * bnorm, atol);

  const x = o.x0 !== undefined ? vectorArg(o.x0, n, fn, 'x0') : new Float64Array(n);
  let matvecs = 0;
  const trueResidual = async (at: Float64Array): Promise<Float64Array> => {
    const Ax = await A.matvec(at);
    matvecs++;
    const r = Float64Array.from(b);
    axpy(-1, Ax, r);
    return r;
  };
  let r = o.x0 !== undefined ? await trueResidual(x) : Float64Array.from(b);
  let rnorm = norm(r);
  if (!Number.isFinite(rnorm)) throw new RangeError(`${fn}: the initial residual is not finite (${rnorm}); check b, x0 and A`);
  const residualNorms = [rnorm];
  const innerIterations: number[] = [];
  let total = 0;
  let eta = innerRtol;
  let info = 0;
  let message: string | undefined;
  let breakdown: CgBreakdown | undefined;
  let fellBack = false;

  const finish = (): RefinedCgResult => {
    const result: RefinedCgResult = {
      x, info, iterations: total, residualNorms, matvecs, outerIterations: innerIterations.length, innerIterations, fellBack,
      ...(message !== undefined ? { message } : {}), ...(breakdown !== undefined ? { breakdown } : {}),
    };
    if (info !== 0 && o.throwOnNoConvergence) throw new CgNoConvergence(result);
    return result;
  };

  const callback = o.callback as ((xk: Float64Array) => void) | undefined;
  const onProgress = o.onProgress as ((p: IterationProgress) => void) | undefined;
  const onOuter = o.onOuter as ((p: RefinementProgress) => void) | undefined;
  /** What the inner solves and the fallback share: M, the residual checks, progress numbered on from `base` iterations. */
  const common = (base: number): CgOptions<Float64Array> => ({
    ...(o.M !== undefined ? { M: o.M } : {}),
    residualCheckEvery: o.residualCheckEvery,
    verify: o.verify,
    ...(onProgress ? { onProgress: (p: IterationProgress) => onProgress({ ...p, iteration: base + p.iteration, elapsedMs: now() - t0 }) } : {}),
  });
  for (let outer = 0; ; outer++) {
    if (rnorm <= target) return finish();
    const left = maxiter - total;
    if (left <= 0 || outer >= maxOuter) {
      info = Math.max(1, total);
      message = left <= 0 ? `maxiter (${maxiter}) inner iterations reached` : `maxOuter (${maxOuter}) refinement steps reached`;
      return finish();
    }
    // the last step needs only what is left to the target
    const tol = Math.max(eta, (0.5 * target) / rnorm);
    const step = await cg(inner, r, {
      rtol: tol,
      maxiter: left,
      ...common(total),
      ...(callback ? { callback: (d: Float64Array | unknown) => { const xk = Float64Array.from(x); axpy(1, d as Float64Array, xk); return callback(xk); } } : {}),
    }) as CgResult<Float64Array>;
    total += step.iterations;
    matvecs += step.matvecs;
    innerIterations.push(step.iterations);
    if (step.info < 0) {
      // breakdown of the inner solve (Ã or M not positive definite as applied): the accurate operator decides
      message = `inner CG broke down (${step.message ?? 'no message'}); CG on the accurate operator finished`;
      return fallBack();
    }
    const candidate = Float64Array.from(x);
    axpy(1, step.x, candidate);
    const rNext = await trueResidual(candidate);
    const nextNorm = norm(rNext);
    const contraction = nextNorm / rnorm;
    if (nextNorm < rnorm) {
      x.set(candidate);
      r = rNext;
      rnorm = nextNorm;
    }
    residualNorms.push(rnorm);
    await settleCallback(onOuter?.({ outer: outer + 1, residualNorm: rnorm, innerIterations: step.iterations, contraction, elapsedMs: now() - t0 }));
    if (rnorm <= target) return finish();
    if (step.info > 0) {
      // the inner solve used up maxiter: no iterations are left for anything else
      info = Math.max(1, total);
      message = `maxiter (${maxiter}) inner iterations reached`;
      return finish();
    }
    if (!(contraction <= MAX_REFINEMENT_CONTRACTION)) {
      message = `refinement contracted by only ${contraction.toPrecision(3)} per step; CG on the accurate operator finished`;
      return fallBack();
    }
    // the products' error, not η, limits a step that contracted less than asked: ask no more than that next time
    eta = Math.max(innerRtol, Math.min(MAX_REFINEMENT_CONTRACTION / 2, contraction / 2));
  }

  async function fallBack(): Promise<RefinedCgResult> {
    fellBack = true;
    const rest = await cg(A, b, {
      x0: x, rtol, atol, maxiter: Math.max(1, maxiter - total),
      ...common(total),
      ...(callback ? { callback: (xk: Float64Array | unknown) => callback(xk as Float64Array) } : {}),
    }) as CgResult<Float64Array>;
    total += rest.iterations;
    matvecs += rest.matvecs;
    x.set(rest.x);
    residualNorms.push(...rest.residualNorms.slice(1));
    info = rest.info === 0 ? 0 : rest.info < 0 ? rest.info : Math.max(1, total);
    if (rest.info !== 0) message = `${message ?? ''}; ${rest.message ?? 'no convergence'}`;
    if (rest.breakdown !== undefined) breakdown = rest.breakdown;
    return finish();
  }
}
