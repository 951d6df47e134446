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
import type { LinearOperator } from '../operators/linear-operator.js';
import { finiteNumber, func, optional, parseOptions, positiveInt, withDefault, type OptionField, type ParsedOptions } from '../operators/options.js';
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
  if (o.inner.shape[0] !== n || o.inner.shape[1] !== n) {
    throw new RangeError(`${fn}: inner operator must be ${n}x${n} like A, got ${o.inner.shape[0]}x${o.inner.shape[1]}`);
  }
  const b = vectorArg(bInput, n, fn, 'b');
  const run = new Refinement(A, b, o, now());
  const x0 = o.x0 !== undefined ? vectorArg(o.x0, n, fn, 'x0') : undefined;
  await run.start(x0);
  return run.solve();
}

type ParsedRefinedCg = ParsedOptions<typeof REFINED_CG_SPEC>;

/** One refinement: the iterate, its true residual, and the counts its result reports. */
class Refinement {
  private readonly x: Float64Array;
  private r: Float64Array;
  private rnorm = 0;
  private readonly residualNorms: number[] = [];
  private readonly innerIterations: number[] = [];
  /** Inner iterations, over every step and the fallback. */
  private total = 0;
  private matvecs = 0;
  private info = 0;
  private message: string | undefined;
  private breakdown: CgBreakdown | undefined;
  private fellBack = false;
  /** The true residual norm to reach: scipy's rule on A. */
  private readonly target: number;
  private readonly maxiter: number;

  constructor(private readonly A: LinearOperator, private readonly b: Float64Array, private readonly o: ParsedRefinedCg, private readonly t0: number) {
    const n = b.length;
    this.x = new Float64Array(n);
    this.r = Float64Array.from(b);
    this.maxiter = o.maxiter ?? 10 * n;
    this.target = Math.max(o.rtol * norm(b), o.atol);
  }

  /** The first residual: from `x0` where given (one product with A), else b. */
  async start(x0: Float64Array | undefined): Promise<void> {
    if (x0) {
      this.x.set(x0);
      this.r = await this.trueResidual(this.x);
    }
    this.rnorm = norm(this.r);
    if (!Number.isFinite(this.rnorm)) throw new RangeError(`refinedCg: the initial residual is not finite (${this.rnorm}); check b, x0 and A`);
    this.residualNorms.push(this.rnorm);
  }

  /** Outer steps till the target, maxiter or maxOuter; CG on A finishes where refinement breaks down or stalls. */
  async solve(): Promise<RefinedCgResult> {
    const { maxOuter, innerRtol } = this.o;
    let eta = innerRtol;
    for (let outer = 0; ; outer++) {
      if (this.rnorm <= this.target) return this.finish();
      const left = this.maxiter - this.total;
      if (left <= 0 || outer >= maxOuter) {
        return this.stop(left <= 0 ? `maxiter (${this.maxiter}) inner iterations reached` : `maxOuter (${maxOuter}) refinement steps reached`);
      }
      // the last step needs only what is left to the target
      const step = await this.innerSolve(left, Math.max(eta, (0.5 * this.target) / this.rnorm));
      if (step.info < 0) {
        // breakdown of the inner solve (Ã or M not positive definite as applied): the accurate operator decides
        this.message = `inner CG broke down (${step.message ?? 'no message'}); CG on the accurate operator finished`;
        return this.fallBack();
      }
      const contraction = await this.take(step.x, outer, step.iterations);
      if (this.rnorm <= this.target) return this.finish();
      // the inner solve used up maxiter: no iterations are left for anything else
      if (step.info > 0) return this.stop(`maxiter (${this.maxiter}) inner iterations reached`);
      if (!(contraction <= MAX_REFINEMENT_CONTRACTION)) {
        this.message = `refinement contracted by only ${contraction.toPrecision(3)} per step; CG on the accurate operator finished`;
        return this.fallBack();
      }
      // the products' error, not η, limits a step that contracted less than asked: ask no more than that next time
      eta = Math.max(innerRtol, Math.min(MAX_REFINEMENT_CONTRACTION / 2, contraction / 2));
    }
  }

  /** d ≈ Ã⁻¹ r by CG to relative tolerance `rtol`, within `left` iterations. */
  private async innerSolve(left: number, rtol: number): Promise<CgResult<Float64Array>> {
    const callback = this.callback;
    const step = await cg(this.o.inner, this.r, {
      rtol,
      maxiter: left,
      ...this.shared(),
      ...(callback ? { callback: (d: Float64Array | unknown) => { const xk = Float64Array.from(this.x); axpy(1, d as Float64Array, xk); return callback(xk); } } : {}),
    }) as CgResult<Float64Array>;
    this.total += step.iterations;
    this.matvecs += step.matvecs;
    this.innerIterations.push(step.iterations);
    return step;
  }

  /** x + d, kept where its true residual is smaller (reported either way); returns the contraction ‖r'‖/‖r‖. */
  private async take(d: Float64Array, outer: number, innerIterations: number): Promise<number> {
    const candidate = Float64Array.from(this.x);
    axpy(1, d, candidate);
    const rNext = await this.trueResidual(candidate);
    const nextNorm = norm(rNext);
    const contraction = nextNorm / this.rnorm;
    if (nextNorm < this.rnorm) {
      this.x.set(candidate);
      this.r = rNext;
      this.rnorm = nextNorm;
    }
    this.residualNorms.push(this.rnorm);
    const onOuter = this.o.onOuter as ((p: RefinementProgress) => void) | undefined;
    await settleCallback(onOuter?.({ outer: outer + 1, residualNorm: this.rnorm, innerIterations, contraction, elapsedMs: now() - this.t0 }));
    return contraction;
  }

  /** CG on A from the best iterate, with the same preconditioner and the iterations left. */
  private async fallBack(): Promise<RefinedCgResult> {
    this.fellBack = true;
    const callback = this.callback;
    const rest = await cg(this.A, this.b, {
      x0: this.x, rtol: this.o.rtol, atol: this.o.atol, maxiter: Math.max(1, this.maxiter - this.total),
      ...this.shared(),
      ...(callback ? { callback: (xk: Float64Array | unknown) => callback(xk as Float64Array) } : {}),
    }) as CgResult<Float64Array>;
    this.total += rest.iterations;
    this.matvecs += rest.matvecs;
    this.x.set(rest.x);
    this.residualNorms.push(...rest.residualNorms.slice(1));
    this.info = rest.info === 0 ? 0 : rest.info < 0 ? rest.info : Math.max(1, this.total);
    if (rest.info !== 0) this.message = `${this.message ?? ''}; ${rest.message ?? 'no convergence'}`;
    if (rest.breakdown !== undefined) this.breakdown = rest.breakdown;
    return this.finish();
  }

  /** The caller's per-iteration callback, given the full iterate. */
  private get callback(): ((xk: Float64Array) => void) | undefined {
    return this.o.callback as ((xk: Float64Array) => void) | undefined;
  }

  /** What the inner solves and the fallback share: M, the residual checks, progress numbered on across the solves. */
  private shared(): CgOptions<Float64Array> {
    const onProgress = this.o.onProgress as ((p: IterationProgress) => void) | undefined;
    const base = this.total;
    return {
      ...(this.o.M !== undefined ? { M: this.o.M } : {}),
      residualCheckEvery: this.o.residualCheckEvery,
      verify: this.o.verify,
      ...(onProgress ? { onProgress: (p: IterationProgress) => onProgress({ ...p, iteration: base + p.iteration, elapsedMs: now() - this.t0 }) } : {}),
    };
  }

  private async trueResidual(at: Float64Array): Promise<Float64Array> {
    const Ax = await this.A.matvec(at);
    this.matvecs++;
    const r = Float64Array.from(this.b);
    axpy(-1, Ax, r);
    return r;
  }

  /** Not converged within the limits: info = the iterations spent (at least 1). */
  private stop(message: string): RefinedCgResult {
    this.info = Math.max(1, this.total);
    this.message = message;
    return this.finish();
  }

  private finish(): RefinedCgResult {
    const { x, info, total, residualNorms, matvecs, innerIterations, fellBack, message, breakdown } = this;
    const result: RefinedCgResult = {
      x, info, iterations: total, residualNorms, matvecs, outerIterations: innerIterations.length, innerIterations, fellBack,
      ...(message !== undefined ? { message } : {}), ...(breakdown !== undefined ? { breakdown } : {}),
    };
    if (info !== 0 && this.o.throwOnNoConvergence) throw new CgNoConvergence(result);
    return result;
  }
}
