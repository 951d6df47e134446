/**
 * KernelOperator: the symbolic matrix K_ij = F(x_i, y_j, p) of a formula and its bound points.
 * K is never stored (unless the dense cache below decides it pays); products are kernel
 * reductions compiled from the formula AST by the backend.
 */
import { defaultDenseCacheBytes } from '../cpu/memory-pool.js';
import { Matrix } from 'ml-matrix';
import { Block } from './block.js';
import type { Node } from '../formula/ast.js';
import { collectVariables, distinctNodes, rowCounts, swapIJ, type FormulaVariables } from '../formula/analyze.js';
import { Formula } from '../formula/builder.js';
import { compileScalarJs, evaluateDenseJs, evaluateDiagonalJs } from '../formula/emit-js.js';
import { describeNode } from '../formula/print.js';
import { isStructurallySymmetric } from '../formula/symmetry.js';
import { isUnitBounded } from '../formula/sign.js';
import { registerFormulaOperator } from '../formula/operator-hook.js';
import { reduceKernel } from '../cpu/reduce.js';
import { DenseKernelMatrix, F32_SUMS_ERROR } from '../cpu/dense-product.js';
import { narrowWithSquares } from '../cpu/narrow.js';
import { autoPrefersGpu, backendSetting } from '../gpu/device.js';
import { gpuReduceKernel, maxAbsOf, prepareGpuKernel, tryGpuMatvec, type GpuKernelOptions } from '../gpu/reduce.js';
import { GPU_SINCOS_LIMIT, hasLongNorm2 } from '../gpu/wgsl-emit.js';
import { SINCOS_LIMIT } from '../cpu/wasm-math.js';
import { LinearOperator, type DenseSource, type SolveCapabilities } from './linear-operator.js';
import type { BlockLike, Dtype, KrylovOptions, VectorLike } from './types.js';
import { loadAutodiffModule } from './autodiff-bridge.js';
import { allFinite } from './validate.js';
import type { MatvecWithVjp, SolveWithVjp } from './vjp-types.js';
import {
  assertOptionsObject, boolean, field, finiteNumber, integer, nested, oneOf, optional, parseOptions, positiveInt, string, type OptionField,
} from './options.js';

export type BackendChoice = 'auto' | 'cpu' | 'gpu';

/**
 * When the dense matrix is cached: 'auto' caches once the operator has served
 * `DENSE_CACHE_AFTER_PRODUCTS` products and K fits in `denseCacheBytes` (default
 * `defaultDenseCacheBytes()`: an eighth of the machine's memory, at most 2 GiB); 'never' and
 * 'always' force the choice. The cache is evaluated in float64 and stored in the operator's dtype
 * (float32 operators: 4 bytes per entry, each rounded once); a symmetric operator stores each pair
 * once (packed: n = 16,384 takes 0.5 GiB in float32), and the budget counts the bytes stored,
 * row padding included (`DenseKernelMatrix.storedBytes`).
 */
export type DenseCachePolicy = 'auto' | 'never' | 'always';

export interface KernelOperatorOptions {
  /** Precision of the products: 'float64' (CPU default) or 'float32' (GPU default; the GPU has no float64). */
  dtype?: Dtype;
  /**
   * Where products run: 'cpu'; 'gpu' (WebGPU, float32; the first product fails when there is no
   * adapter); 'auto' (default): the global `setBackend` choice, which for 'auto' means the GPU when
   * a hardware adapter has been acquired, n·m ≥ GPU_AUTO_MIN_PAIRS and dtype is not 'float64'.
   * Fixed at construction (transposes keep it).
   */
  backend?: BackendChoice;
  /** Shape of the GPU kernel (rows per thread, workgroup size, tile, …); defaults follow the problem size. */
  gpu?: GpuKernelOptions;
  /**
   * Declares K symmetric (x and y the same points and F(x, y) = F(y, x)): then K.T === K. Left out, it is inferred
   * from the formula (`isStructurallySymmetric`: Vi and Vj on the same points, F unchanged by swapping them);
   * `false` turns the inference off.
   */
  symmetric?: boolean;
  /** Shown by toString(), e.g. "gaussian σ=0.1". */
  label?: string;
  /** Named kernel parameters (σ, ν, …), for introspection and gradients. */
  params?: Readonly<Record<string, number>>;
  denseCache?: DenseCachePolicy;
  /** Memory budget of the 'auto' dense cache in bytes stored (default `defaultDenseCacheBytes()`; see DenseCachePolicy). */
  denseCacheBytes?: number;
}

/**
 * Dense products beat recomputing K only after a few products (materialising costs one
 * product) and only while K fits comfortably in memory; measured figures in bench/RESULTS.md.
 */
export const DENSE_CACHE_AFTER_PRODUCTS = 2;

/** 2⁻²⁴: the unit roundoff of float32. */
export const FLOAT32_UNIT_ROUNDOFF = 2 ** -24;

/**
 * The largest float32 floor ε₃₂·λ̂/α at which a GPU solve refines float32 inner solves instead of running CG on
 * compensated products throughout (see `refinesOnTwin`): a tenth of the inner tolerance DEFAULT_INNER_RTOL = 0.05.
 */
export const REFINEMENT_MAX_FLOOR = 5e-3;

export { defaultDenseCacheBytes };

const scaledBySigma = new WeakSet<KernelOperator>();

/**
 * Records that K's points are bound as (x − c)/σ with σ = K.params.sigma (operators/kernels.ts `scaledPoints`, the
 * kernels of r/σ): σ is then in no formula node, and ∂K/∂σ and ∂K/∂x go through the points
 * (src/autodiff/kernel-derivatives.ts). Kept here, beside `_transpose`, which passes it on.
 */
export function markPointsScaledBySigma(K: KernelOperator): void {
  scaledBySigma.add(K);
}

/** Whether K's points are bound as (x − c)/σ (see `markPointsScaledBySigma`). */
export function pointsScaledBySigma(K: KernelOperator): boolean {
  return scaledBySigma.has(K);
}

/** What `gpu` may hold (GpuKernelOptions): values typed here, checked against the device's limits at the first product. */
const GPU_KERNEL_SPEC = {
  workgroupSize: optional(positiveInt),
  rowsPerThread: optional(integer({ min: 1, max: 32 })),
  tile: optional(positiveInt),
  columnsPerPass: optional(oneOf(1, 4, 8)),
  splits: optional(positiveInt),
  targetWorkgroups: optional(positiveInt),
  kahan: optional(boolean),
  compensated: optional(boolean),
  lightGuards: optional(boolean),
  maxBindingBytes: optional(positiveInt),
  expandedGaussian: optional(boolean),
  dimensionChunk: optional(integer({ min: 0, max: 64 })),
  uploadChunks: optional(integer({ min: 1, max: 64 })),
} satisfies Record<keyof GpuKernelOptions, OptionField<unknown>>;

/** Named kernel parameters: a plain object of finite numbers. */
const paramsRecord: OptionField<Readonly<Record<string, number>>> = {
  expected: 'an object of finite numbers',
  check: (value, where) => {
    assertOptionsObject(where.slice(0, where.lastIndexOf(':')), value, 'params');
    for (const [key, v] of Object.entries(value ?? {})) finiteNumber().check(v, `${where}.${key}`);
    return value as Readonly<Record<string, number>>;
  },
};

/** A byte budget: a number ≥ 0 up to 2⁵³ (Infinity is no budget). */
const byteBudget = field<number>('a number of bytes ≥ 0', (v) => typeof v === 'number', (v) => v >= 0 && v <= Number.MAX_SAFE_INTEGER);

/** KernelOperatorOptions, checked by `parseOptions` (unknown keys refused by name). */
export const KERNEL_OPERATOR_SPEC = {
  dtype: optional(oneOf('float32', 'float64')),
  backend: optional(oneOf('auto', 'cpu', 'gpu')),
  gpu: optional(nested(GPU_KERNEL_SPEC)),
  symmetric: optional(boolean),
  label: optional(string),
  params: optional(paramsRecord),
  denseCache: optional(oneOf('auto', 'never', 'always')),
  denseCacheBytes: optional(byteBudget),
} satisfies Record<keyof KernelOperatorOptions, OptionField<unknown>>;

/** float32's largest finite value. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Non-finite entries of a float32 product recomputed in float64 before it is refused or let stand. */
const FLOAT32_CHECKED_ROWS = 8;

/**
 * The refusal of a float32 product or result `got` (NaN or ±∞) at `where` whose float64 value `exact` is finite: a value inside
 * the formula left float32's range. `what` names the operator or reduction.
 */
export function float32OverflowError(what: string, noun: 'product' | 'result', got: number, where: string, exact: number): RangeError {
  return new RangeError(`${what}: the float32 ${noun} is ${got} at ${where} where float64 gives ${exact}: a value inside the formula ` +
    `leaves float32's range (|v| ≤ ${FLOAT32_MAX}); use dtype 'float64' or rescale the inputs`);
}

/** The refusal of a float64 product that is NaN where the JS twin (Math.sin, Math.cos) gives a finite value. */
function periodicNaNError(what: string, got: number, where: string, exact: number): RangeError {
  return new RangeError(`${what}: the product is ${got} at ${where} where the float64 JS evaluation gives ${exact}: the generated code ` +
    `gives sin and cos of arguments beyond ${pow2(SINCOS_LIMIT)} as NaN (no Payne–Hanek reduction); rescale the inputs`);
}

/** Where the generated sin/cos give NaN (SINCOS_LIMIT on the CPU, GPU_SINCOS_LIMIT for the GPU's float32), for messages. */
export const periodicLimits = `${pow2(SINCOS_LIMIT)} (${pow2(GPU_SINCOS_LIMIT)} on the GPU in float32)`;

/** `2^k` for a power of two (messages). */
function pow2(v: number): string {
  return `2^${Math.log2(v)}`;
}

/** The float32 refusal's second cause for a formula with sin/cos: the range of the generated code's argument reduction. */
export function periodicNaNHint(backend: 'cpu' | 'gpu'): string {
  const range = backend === 'cpu' ? `±${pow2(SINCOS_LIMIT)}` : `±${GPU_SINCOS_LIMIT} (${pow2(GPU_SINCOS_LIMIT)}: the GPU's float32 range reduction)`;
  return `; or sin/cos took an argument beyond ${range}, which the generated code gives as NaN`;
}

/** Whether the formula takes sin, cos or sinxdivx anywhere. */
export function usesPeriodic(node: Node): boolean {
  return distinctNodes(node).some((n) => n.op === 'sin' || n.op === 'cos' || n.op === 'sinxdivx');
}

/**
 * float64 asked for on the GPU backend, refused naming `fn` — the function the user called (gaussianKernel,
 * KernelRidge, knn … checked at their options, where it named kernelOperator or Formula.argKmin before).
 */
export function refuseGpuFloat64(fn: string, backend: unknown, dtype: unknown): void {
  if (backend === 'gpu' && dtype === 'float64') {
    throw new Error(`${fn}: float64 is not supported on the GPU backend; use dtype 'float32' or backend 'cpu'`);
  }
}

/**
 * Options the operator would not read, refused by name (they were ignored): GPU tuning on an operator asked to run on
 * the CPU, and the dense cache's budget with the cache off. (With backend 'auto' the `gpu` options stand for where it
 * lands on the GPU.)
 */
export function refuseUnusedKernelOptions(fn: string, o: Pick<KernelOperatorOptions, 'backend' | 'dtype' | 'gpu' | 'denseCache' | 'denseCacheBytes'>): void {
  if (o.backend === 'cpu' && o.gpu !== undefined) throw new RangeError(`${fn}: option 'gpu' tunes the GPU's products; backend 'cpu' does not use it`);
  // a float64 operator never runs on the GPU ('auto' keeps it on the CPU; 'gpu' refuses it): its gpu options were dead
  if (o.dtype === 'float64' && o.gpu !== undefined && o.backend !== 'gpu') {
    throw new RangeError(`${fn}: option 'gpu' tunes the GPU's products; a float64 operator runs on the CPU and does not use it`);
  }
  if (o.denseCache === 'never' && o.denseCacheBytes !== undefined) {
    throw new RangeError(`${fn}: option 'denseCacheBytes' is the dense cache's budget; denseCache 'never' does not use it`);
  }
}

/**
 * Where a new operator's products run and in what precision: its own choice, else the global setting
 * ('auto': see KernelOperatorOptions.backend); float64 on the CPU and float32 on the GPU unless given.
 */
export function resolvePlacement(requested: BackendChoice | undefined, dtype: Dtype | undefined, pairs: number): { backend: 'cpu' | 'gpu'; dtype: Dtype } {
  const backend = resolveBackend(requested ?? 'auto', dtype, pairs);
  refuseGpuFloat64('kernelOperator', backend, dtype);
  return { backend, dtype: dtype ?? (backend === 'gpu' ? 'float32' : 'float64') };
}

/**
 * Products scale a column whose largest magnitude is beyond 2^±SAFE_EXPONENT: float32 sums of n ≤ 2⁶⁰ terms of
 * |K_ij| ≤ 1 and entries ≤ 2⁶⁰ cannot overflow, and entries ≥ 2⁻⁶⁰ stay far above float32's underflow (2⁻¹²⁶).
 */
const SAFE_EXPONENT: Readonly<Record<Dtype, number>> = { float32: 60, float64: 500 };

/** The binary exponent of max = max|c| when it is beyond 2^±limit (then c·2^−e has its largest entry in [1, 2)), else 0. */
function outOfWindowExponent(max: number, limit: number): number {
  if (max === 0) return 0;
  const e = Math.floor(Math.log2(max));
  return Math.abs(e) > limit ? e : 0;
}

/** Two powers of two whose product is 2^e, each representable (2^e alone is not for |e| > 1023). */
function pow2Factors(e: number): [number, number] {
  return [2 ** Math.trunc(e / 2), 2 ** (e - Math.trunc(e / 2))];
}

/** c ← c·2^e, exact wherever the results are normal. */
export function scaleByPow2InPlace(c: Float64Array, e: number): void {
  const [a, b] = pow2Factors(e);
  for (let i = 0; i < c.length; i++) c[i] = c[i]! * a * b;
}

/** x·2^e, exact wherever the result is normal (as `scaleByPow2InPlace`, one value). */
export function timesPow2(x: number, e: number): number {
  const [a, b] = pow2Factors(e);
  return x * a * b;
}

const float32Checked = new WeakSet<Float64Array>();

/**
 * Refuses bound values a float32 operator cannot hold (|v| > FLOAT32_MAX becomes ±Infinity, and every product
 * touching it NaN), naming the variable, the entry and the value. Each point set is scanned once.
 */
export function assertFloat32Range(variables: FormulaVariables, fn: string): void {
  for (const v of [...variables.i, ...variables.j, ...variables.p]) {
    const { data, cols } = v.value;
    if (float32Checked.has(data)) continue;
    for (let t = 0; t < data.length; t++) {
      if (Math.abs(data[t]!) > FLOAT32_MAX) {
        const where = v.cat === 'p' ? `parameter ${v.name}${data.length > 1 ? `[${t}]` : ''}` : `${v.name} at row ${Math.floor(t / cols)}, column ${t % cols}`;
        throw new RangeError(`${fn}: ${where} is ${data[t]}, beyond float32's range (|v| ≤ ${FLOAT32_MAX}); use dtype 'float64'`);
      }
    }
    float32Checked.add(data);
  }
}

export class KernelOperator extends LinearOperator {
  /** The scalar formula F(x_i, y_j, p). */
  readonly formula: Formula;
  /** Where the products run (resolved from the options and `setBackend` at construction). */
  readonly backend: 'cpu' | 'gpu';
  readonly label: string;
  readonly params: Readonly<Record<string, number>>;
  private readonly variables: FormulaVariables;
  private readonly options: KernelOperatorOptions;
  private products = 0;
  private repeatedProducts = false;
  private dense: DenseKernelMatrix | undefined;
  private densePromise: Promise<DenseKernelMatrix> | undefined;
  private compensatedTwin: KernelOperator | undefined;
  private float64Twin: KernelOperator | undefined;
  /**
   * 0 ≤ K_ij ≤ 1 and never NaN for finite points (`isUnitBounded`: the Gaussian, Laplacian and Cauchy kernels): a
   * float32 product with finite x cannot leave float32's range, so `refuseFloat32Overflow` is not needed.
   */
  private readonly unitBounded: boolean;
  /** The formula takes sin, cos or sinxdivx, which the generated code gives as NaN past |x| = 2⁵¹ (float64 products are checked). */
  private readonly periodic: boolean;

  constructor(formula: Formula | Node, options: KernelOperatorOptions = {}) {
    const f = formula instanceof Formula ? formula : new Formula(formula);
    if (f.dim !== 1) {
      throw new Error(`kernelOperator: the formula must be scalar-valued, got dimension ${f.dim} for ${describeNode(f.node)}`);
    }
    const { n, m } = rowCounts(f.node);
    const o = parseOptions('kernelOperator', options, KERNEL_OPERATOR_SPEC);
    refuseUnusedKernelOptions('kernelOperator', o);
    const { backend, dtype } = resolvePlacement(o.backend, o.dtype, n * m);
    const variables = collectVariables(f.node);
    if (dtype === 'float32') assertFloat32Range(variables, 'kernelOperator');
    if (o.symmetric && n !== m) {
      throw new RangeError(`kernelOperator: symmetric requires a square operator, got ${n}x${m}`);
    }
    super([n, m], dtype, { symmetric: o.symmetric ?? (n === m && isStructurallySymmetric(f.node)) });
    this.formula = f;
    this.backend = backend;
    this.label = o.label ?? `formula ${describeNode(f.node)}`;
    this.params = Object.freeze({ ...(o.params ?? {}) });
    this.variables = variables;
    this.options = o;
    // the GPU's chunked norm2 reports a sum of squares out of float32's range as a NaN output: keep the check there
    this.unitBounded = isUnitBounded(f.node) && !(backend === 'gpu' && hasLongNorm2(f.node));
    this.periodic = usesPeriodic(f.node);
  }

  protected override describe(): string {
    return `KernelOperator(${this.label}${this.options.gpu?.compensated && this.backend === 'gpu' ? ', compensated products' : ''})`;
  }

  /**
   * How CG runs on (K + αI) x = b to rtol (see LinearOperator.solveCapabilities): on the twin of `solveTwin` (its
   * program compiled and buffers allocated ahead of the first product: on the GPU that product took 0.44 s more than
   * the next ones at n = 2²⁰, H100), refining where `refinesOnTwin` says so, with the relaxed products of
   * `relaxedProducts`. Compensated GPU products are the fixed float32 entries applied with ≈ float64 sums: CG's
   * recursive residual on them tracks the true one (H100, n = 2²⁰, α = 10⁻³: recursive and verified residual
   * agree, bench/RESULTS.md), so they are `exact` — no verifying product (1.2 s there).
   */
  override async solveCapabilities(alpha: number, rtol: number): Promise<SolveCapabilities> {
    const operator = await this.solveTwin(alpha, rtol);
    if (operator.backend === 'gpu' && operator.options.denseCache !== 'always') {
      await prepareGpuKernel(operator.formula.node, operator.variables, operator.shape[0], operator.shape[1], 1, operator.options.gpu);
    }
    const exact = operator.backend === 'gpu' && operator.options.gpu?.compensated === true;
    const refine = operator !== this && (await this.refinesOnTwin(alpha));
    const relaxed = await this.relaxedProducts(alpha, rtol);
    return { operator, exact, refine, ...(relaxed ? { relaxed } : {}) };
  }

  /**
   * A CPU operator whose K may be stored (symmetric, dense cache not 'never', and K plus a float64 factor of it
   * within `denseCacheBytes`): rows of the stored K, stored at once if it is not yet. A GPU operator's entries are
   * its CPU twin's (the same formula and dtype on the CPU, the GPU program's test oracle; `cpuTwin`): a dense factor
   * pays where K fits the budget whatever the device — without it a GPU solve at n = 1,257, d = 64, 10 columns ran
   * 507 iterations of block CG on compensated products where the factor takes 0.15–0.18 s — and it is computed on the CPU
   * anyway.
   */
  override denseSource(): DenseSource | undefined {
    const n = this.shape[0];
    if (!this.symmetric || this.options.denseCache === 'never') return undefined;
    if (this.backend !== 'cpu' && this.options.denseCache !== 'always') return this.cpuTwin().denseSource();
    const layout = { symmetric: true };
    const budget = this.options.denseCacheBytes ?? defaultDenseCacheBytes();
    const factorBytes = 8 * (Math.ceil(n / 4) * 4) ** 2;
    if (DenseKernelMatrix.storedBytes(n, n, this.dtype, layout) + factorBytes > budget) return undefined;
    if (!DenseKernelMatrix.fits(this.variables, n, n, this.dtype, layout)) return undefined;
    return {
      rows: async () => {
        this.expectRepeatedProducts();
        const dense = await this.denseIfWorthIt();
        if (!dense) throw new Error(`internal: ${this} did not store K for its dense factorisation`);
        return (i) => dense.row(i);
      },
      operator: this,
    };
  }

  /**
   * This GPU operator's formula, dtype and options on the CPU (made once; released by `dispose`), asked to store K
   * where this one was (`expectRepeatedProducts`): the entries of its dense factor (`denseSource`).
   */
  private cpuTwin(): KernelOperator {
    this.cpuEntriesTwin ??= new KernelOperator(this.formula, {
      ...this.optionsOnCpu(), dtype: this.dtype, symmetric: this.symmetric, denseCache: 'auto',
    });
    if (this.repeatedProducts) this.cpuEntriesTwin.expectRepeatedProducts();
    return this.cpuEntriesTwin;
  }

  /** This operator's options for a twin on the CPU: its GPU tuning dropped (a CPU operator refuses it). */
  private optionsOnCpu(): KernelOperatorOptions {
    const { gpu: _gpu, ...options } = this.options;
    return { ...options, backend: 'cpu' };
  }

  private cpuEntriesTwin: KernelOperator | undefined;

  /**
   * The operator `solve` runs CG on: this one, except where its products sum in float32 and the floor ε₃₂·λ̂/α
   * (λ̂ = ‖K1‖/‖1‖ ≤ λ_max, one product, remembered) is above rtol/10 — there float32 products stall CG above the
   * tolerance (measured: ≈ 1 at n = 2²⁰, σ = 0.1, α = 1e-3 on the GPU; ≈ 1e-4·‖b‖ at n = 600, σ = 0.3, α = 0.1 on the
   * CPU, where CG ran 245 iterations to rtol 1e-5 and stopped short). Such an operator gets a twin:
   * - on the GPU, compensated products (`GpuKernelOptions.compensated`): the same float32 entries applied in
   *   ≈ float64, at 3–4.75× the cost of a product on the H100 (an explicit `gpu: { compensated }` is kept as given);
   * - on the CPU, where K is not stored (a stored float32 K is applied with float64 sums already), the float64
   *   operator of the same formula (about 2.5× a float32 product's cost at d = 3).
   */
  private async solveTwin(alpha: number, rtol: number): Promise<KernelOperator> {
    if (!(alpha > 0) || !this.float32SumsInSolve()) return this;
    if (!(FLOAT32_UNIT_ROUNDOFF * (await this.lambdaHat()) / alpha > rtol / 10)) return this;
    if (this.backend === 'gpu') {
      this.compensatedTwin ??= new KernelOperator(this.formula, {
        ...this.options, backend: 'gpu', dtype: this.dtype, gpu: { ...this.options.gpu, compensated: true },
      });
      return this.compensatedTwin;
    }
    return this.exactEntriesOperator();
  }

  /**
   * The operator of K's exact entries: the float64 CPU operator of the same formula (made once, released by `dispose`;
   * this one where it is float64 on the CPU). Its products evaluate each K_ij in float64, as `toDense()` does — what
   * `solve` checks a float32 solve's answer against where the entries' rounding can matter (preconditioners/solve.ts,
   * `checkFloat32Entries`) and, for a float32 CPU operator whose K a solve does not store, the twin it refines on. Its
   * dense cache is off: where this operator's K is stored, a float64 copy would triple the memory, and where it is
   * not, the float64 K (twice the bytes) would not fit either.
   */
  exactEntriesOperator(): KernelOperator {
    if (this.backend === 'cpu' && this.dtype === 'float64') return this;
    const { denseCache: _policy, denseCacheBytes: _budget, ...options } = this.optionsOnCpu();
    this.float64Twin ??= new KernelOperator(this.formula, { ...options, dtype: 'float64', denseCache: 'never' });
    return this.float64Twin;
  }

  /**
   * Whether a solve's products sum in float32: a GPU operator's (unless `compensated` is set either way), a float32
   * CPU operator's whose K a solve does not store (the dense cache 'never', or K over its budget or a memory).
   */
  private float32SumsInSolve(): boolean {
    if (this.backend === 'gpu') return this.options.gpu?.compensated === undefined;
    if (this.dtype !== 'float32' || this.dense) return false;
    const policy = this.options.denseCache ?? 'auto';
    if (policy === 'always') return false;
    if (policy === 'never') return true;
    return !this.storableWithinBudget();
  }

  /** How K is stored: a symmetric K packed, each pair once (half the memory and half the evaluations). */
  private storedLayout(): { symmetric: boolean } {
    return { symmetric: this.symmetric && this.shape[0] === this.shape[1] };
  }

  /**
   * Whether the 'auto' dense cache may store K: its bytes (packed where symmetric) within `denseCacheBytes` and one
   * WebAssembly memory.
   */
  private storableWithinBudget(): boolean {
    const [n, m] = this.shape;
    const layout = this.storedLayout();
    const bytes = DenseKernelMatrix.storedBytes(n, m, this.dtype, layout);
    return bytes <= (this.options.denseCacheBytes ?? defaultDenseCacheBytes()) && DenseKernelMatrix.fits(this.variables, n, m, this.dtype, layout);
  }

  /**
   * Whether `solve` refines float32 inner solves on the twin of `solveTwin`: when the float32 floor ε₃₂·λ̂/α is
   * ≤ REFINEMENT_MAX_FLOOR. Float32 PCG stalls near that floor (llvmpipe, n = 8192, σ = 0.1, α = 2.6e-5, floor 0.3:
   * at 0.37·‖b‖ after 200 iterations where compensated products went on to 0.05), so its inner solves to η = 0.05
   * need a floor well below η; on the H100 at n = 2²⁰, α = 10⁻³ (floor ≈ 0.35) an inner solve took 154 iterations for
   * one contraction by 0.073 where CG on the twin needs ≈ 15 for it. (`solveCapabilities` asks only with a twin.)
   */
  private async refinesOnTwin(alpha: number): Promise<boolean> {
    if (!(alpha > 0)) return false;
    return FLOAT32_UNIT_ROUNDOFF * (await this.lambdaHat()) / alpha <= REFINEMENT_MAX_FLOOR;
  }

  /**
   * CG's relaxed products (see cg's `relaxed`): a symmetric float32 CPU operator's float32-sums view, whose error
   * per product is ≤ F32_SUMS_ERROR·‖K‖‖p‖ (K ≥ 0 entrywise; in general ‖|K|‖). By the inexact-Krylov bound the
   * error a product may make is ≈ rtol·‖b‖·λ_min/‖r_k‖, so with λ_min ≥ α and ‖K‖ ≈ λ̂ (the shared ‖K1‖/‖1‖) the
   * view serves once ‖r_k‖ ≤ rtol·‖b‖/(F32_SUMS_ERROR·(λ̂/α + 1)). Measured at n = 16,384, σ = 0.1, α = 1: views
   * from the third product on (‖r‖ = 0.18‖b‖, ten times past this bound) left a true residual of 3e-8·‖b‖; the
   * view throughout stalled at 1e-6·‖b‖.
   */
  private async relaxedProducts(alpha: number, rtol: number): Promise<{ operator: LinearOperator; below: number } | undefined> {
    const view = this.lanczosOperator(FLOAT32_UNIT_ROUNDOFF);
    // without a stored K the view's products are the symbolic ones: nothing to gain
    if (view === this || !(alpha > 0) || this.options.denseCache === 'never') return undefined;
    return { operator: view, below: rtol / (F32_SUMS_ERROR * ((await this.lambdaHat()) / alpha + 1)) };
  }

  /**
   * λ̂ = ‖K1‖/‖1‖ (one product, made once and shared with the preconditioners' rules; that module is loaded
   * lazily, see linear-operator.ts).
   */
  private async lambdaHat(): Promise<number> {
    const { onesRayleighEstimate } = await import('../preconditioners/common.js');
    return onesRayleighEstimate(this);
  }

  override toString(): string {
    return `<${this.shape[0]}x${this.shape[1]} ${this.describe()} ${this.dtype} ${this.backend}>`;
  }

  /**
   * The view eigsh applies at tolerance tol: for a symmetric float32 CPU operator with tol ≥ 2⁻²⁴, products whose
   * dense-cache sums are float32 (`DenseKernelMatrix.multiply(…, 'float32')`: ≈ 2⁻²⁴·Σ_j|K_ij b_j| per row, like
   * the float32 symbolic products) — the float64 sums of the cache, kept for CG where they decide the attainable
   * residual, made its products compute-bound. Else this operator.
   */
  override lanczosOperator(tol: number): LinearOperator {
    if (this.backend !== 'cpu' || this.dtype !== 'float32' || !this.symmetric || !(tol >= FLOAT32_UNIT_ROUNDOFF)) return this;
    return (this.float32SumsView ??= new Float32SumsView(this));
  }

  private float32SumsView: Float32SumsView | undefined;

  /**
   * K·X by the backend (or the dense cache, summing in `sums`); the backends read X's columns in place. A column
   * whose largest entry lies outside the dtype's safe window (`SAFE_EXPONENT`) is scaled by a power of two for the
   * product and the result scaled back: exact, where a float32 product of 1e39 would read Infinity and a tiny
   * column zeros.
   */
  async product(X: Block, sums: 'float32' | 'float64' = 'float64'): Promise<Block> {
    const maxima = X.columns().map(maxAbsOf); // also the GPU's own scaling check (one pass over the columns)
    const exponents = maxima.map((max) => outOfWindowExponent(max, SAFE_EXPONENT[this.dtype]));
    if (exponents.some((e) => e !== 0)) {
      const scaled = X.clone();
      exponents.forEach((e, j) => scaleByPow2InPlace(scaled.column(j), -e));
      const Y = (await this.product(scaled, sums)).clone();
      exponents.forEach((e, j) => scaleByPow2InPlace(Y.column(j), e));
      return Y;
    }
    const columns = X.columns();
    const dense = await this.denseIfWorthIt();
    const out = dense
      ? await dense.multiply(columns, sums)
      : this.backend === 'gpu'
        ? await gpuReduceKernel(this.formula.node, this.variables, this.shape[0], this.shape[1], columns, { ...this.options.gpu, columnMaxAbs: maxima })
        : await reduceKernel(this.formula.node, this.variables, this.shape[0], this.shape[1], columns, {
          dtype: this.dtype,
          symmetric: this.symmetric, // half the kernel evaluations
        });
    if (this.dtype === 'float32' && !this.unitBounded) await this.refuseFloat32Overflow(() => columns, out);
    if (this.dtype === 'float64' && this.periodic) await this.refuseNonFinite(() => columns, out, periodicNaNError);
    return Block.adoptColumns(out, this.shape[0]);
  }

  /**
   * A float32 product with NaN or ±∞ where the float64 one is finite: a value inside the formula left float32's
   * range (exp(100), x² at |x| = 1e20). Refused with a RangeError naming the entry, never returned. The first
   * FLOAT32_CHECKED_ROWS such entries are recomputed in float64 by the JS twin (O(m) each, on this path only); where
   * all of them are non-finite in float64 too, the formula itself is, and the result stands.
   */
  private async refuseFloat32Overflow(columnsOf: () => readonly Float64Array[], out: readonly Float64Array[]): Promise<void> {
    return this.refuseNonFinite(columnsOf, out, (what, got, where, exact) => {
      const error = float32OverflowError(what, 'product', got, where, exact);
      if (this.periodic) error.message += periodicNaNHint(this.backend);
      return error;
    });
  }

  /**
   * The shared check: entries of `out` that are NaN or ±∞ (the first FLOAT32_CHECKED_ROWS of them) recomputed by the
   * float64 JS twin; where one is finite there, `refusal` names it. Float32 products (range left) and float64 products
   * of periodic formulas (sin/cos past 2⁵¹, where the JS twin's Math.sin is right) use it.
   */
  private async refuseNonFinite(
    columnsOf: () => readonly Float64Array[], out: readonly Float64Array[],
    refusal: (what: string, got: number, where: string, exact: number) => RangeError,
  ): Promise<void> {
    if (out.every(allFinite)) return;
    const columns = columnsOf();
    const m = this.shape[1];
    const k = compileScalarJs(this.formula.node);
    let checked = 0;
    for (let c = 0; c < out.length && checked < FLOAT32_CHECKED_ROWS; c++) {
      const col = out[c]!;
      for (let i = 0; i < col.length && checked < FLOAT32_CHECKED_ROWS; i++) {
        if (Number.isFinite(col[i]!)) continue;
        checked++;
        let exact = 0;
        for (let j = 0; j < m; j++) exact += k(i, j) * columns[c]![j]!;
        if (Number.isFinite(exact)) throw refusal(String(this), col[i]!, `row ${i}${out.length > 1 ? ` (column ${c})` : ''}`, exact);
      }
    }
  }

  /** The cached dense K (evaluated by the generated code: about one product's cost), if the policy says so. */
  private async denseIfWorthIt(): Promise<DenseKernelMatrix | undefined> {
    this.products++;
    // 'auto' never caches on the GPU: a GPU product is faster than a host dense product of that size
    const policy = this.options.denseCache ?? (this.backend === 'gpu' ? 'never' : 'auto');
    if (this.dense || policy === 'never') return this.dense;
    const [n, m] = this.shape;
    const often = this.products > DENSE_CACHE_AFTER_PRODUCTS || this.repeatedProducts;
    // 'auto' also stays below the 4 GiB of a WebAssembly memory ('always' reports it)
    if (policy === 'always' || (often && this.storableWithinBudget())) {
      const pending = (this.densePromise ??= DenseKernelMatrix.materialise(this.formula.node, this.variables, n, m, this.dtype, this.storedLayout()));
      let dense: DenseKernelMatrix;
      try {
        dense = await pending;
      } catch (error) {
        // a failed store (a worker died, the pool was shut down) is not kept: the next product stores K again
        if (this.densePromise === pending) this.densePromise = undefined;
        throw error;
      }
      // a dispose() while K was being stored releases it once this product (queued first) has run: the operator
      // must not keep the released store — its next product stores K again
      if (this.densePromise === pending) this.dense = dense;
      return dense;
    }
    return this.dense;
  }

  /** 'auto' dense cache: store K at the next product (see LinearOperator.expectRepeatedProducts). */
  override expectRepeatedProducts(): this {
    this.repeatedProducts = true;
    return this;
  }

  /**
   * Also releases the stored K (see LinearOperator.dispose): its memory is recycled, and the 'auto' policy
   * starts counting products again.
   */
  override async dispose(): Promise<void> {
    await super.dispose();
    const pending = this.densePromise;
    this.dense = undefined;
    this.densePromise = undefined;
    this.products = 0;
    this.repeatedProducts = false;
    if (pending) await (await pending.catch(() => undefined))?.release();
    await this.float64Twin?.dispose();
    await this.cpuEntriesTwin?.dispose();
  }

  /** y = K v (v a vector or an m×k block) and `vjp(ȳ)` → ∂L/∂v, ∂L/∂x, ∂L/∂y, ∂L/∂params (src/autodiff/vjp.ts). */
  async matvecWithVjp(v: VectorLike | BlockLike): Promise<MatvecWithVjp> {
    return (await loadAutodiffModule()).matvecWithVjp(this, v);
  }

  /**
   * x = (K + αI)⁻¹ b as `solve` computes it, and `vjp(x̄)` → ∂L/∂b, ∂L/∂α, ∂L/∂x, ∂L/∂params by one adjoint solve with
   * the same cached preconditioner (src/autodiff/vjp.ts). Throws CgNoConvergence as `solve` does, unless returnInfo.
   */
  async solveWithVjp(b: VectorLike | BlockLike, alpha = 0, options?: KrylovOptions): Promise<SolveWithVjp> {
    return (await loadAutodiffModule()).solveWithVjp(this, b, alpha, options);
  }

  /**
   * The same operator with its dense cache off ('never'): products recompute K tile by tile whatever their number
   * (dmmv's passes). Made once; this one if its policy is 'never' already.
   */
  uncached(): KernelOperator {
    if (this.options.denseCache === 'never') return this;
    // without the budget of a cache it turns off (refused beside denseCache 'never')
    this.uncachedTwin ??= new KernelOperator(this.formula, {
      ...this.options, denseCacheBytes: undefined, backend: this.backend, dtype: this.dtype, symmetric: this.symmetric, denseCache: 'never',
    });
    return this.uncachedTwin;
  }

  private uncachedTwin: KernelOperator | undefined;

  /** Whether products currently use a cached dense K. */
  get isDenseCached(): boolean {
    return this.dense !== undefined;
  }

  /** y = K x; on the GPU by `tryGpuMatvec`'s one-pass path where it applies (x neither copied nor scanned first). */
  override matvec(x: VectorLike): Promise<Float64Array> {
    // not async: the fast path's promise goes back as it is (an async wrapper costs microtask hops per call)
    let fast: Promise<Float64Array> | undefined;
    try {
      fast = this.fastGpuMatvec(x);
    } catch (error) {
      return Promise.reject(error);
    }
    return fast ?? super.matvec(x);
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    return this.fastGpuMatvec(x) ?? (await this.product(new Block(x, x.length, 1))).data;
  }

  /** The GPU fast path of a one-column product, where no stored K may serve it; undefined where it does not apply. */
  private fastGpuMatvec(x: VectorLike): Promise<Float64Array> | undefined {
    if (this.backend !== 'gpu' || (this.options.denseCache ?? 'never') !== 'never') return undefined;
    if (!(x instanceof Float64Array || x instanceof Float32Array)) return undefined;
    const y = tryGpuMatvec(this.formula.node, this.shape[0], this.shape[1], x, this.options.gpu, narrowWithSquares);
    // the check's promise hop and scan cost 0.16 ms of 1.56 per call at n = 65,536 on the H100 (1.40 without them)
    if (this.unitBounded) return y;
    return y?.then(async (v) => {
      await this.refuseFloat32Overflow(() => [Float64Array.from(x)], [v]);
      return v;
    });
  }

  protected override async _matmat(X: Block): Promise<Block> {
    return this.product(X);
  }

  protected override _transpose(): LinearOperator {
    // Kᵀ_ji = F(x_i, y_j): the same formula with the roles of i and j exchanged
    const T = new KernelOperator(swapIJ(this.formula.node), {
      ...this.options, backend: this.backend, dtype: this.dtype, label: `(${this.label})ᵀ`,
    });
    // its points are this one's, bound the same way: Cᵀ of a cross kernel of r/σ lost σ's scaling, and with it
    // its gradients (the points' σ times too small, ∂/∂σ missing)
    if (pointsScaledBySigma(this)) markPointsScaledBySigma(T);
    return T;
  }

  /** Exact diagonal k(x_i, y_i) in float64 (square operators). */
  override async diagonal(): Promise<Float64Array> {
    if (this.shape[0] !== this.shape[1]) {
      throw new Error(`diagonal() needs a square operator, ${this} is ${this.shape[0]}x${this.shape[1]}`);
    }
    return evaluateDiagonalJs(this.formula.node);
  }

  /**
   * The dense n×m matrix in float64 by the scalar JS twin (Math.exp & co., exact to the last ulp:
   * this is the reference the products are checked against). Costs n·m memory: refused (RangeError naming the size)
   * beyond `maxBytes` of float64 entries (default `defaultDenseCacheBytes()`).
   */
  override async toDense(options: { maxBytes?: number } = {}): Promise<Matrix> {
    const [n, m] = this.shape;
    assertDenseFits('toDense', this, options.maxBytes);
    const data = evaluateDenseJs(this.formula.node);
    const M = new Matrix(n, m);
    for (let i = 0; i < n; i++) M.setRow(i, data.subarray(i * m, (i + 1) * m) as unknown as number[]);
    return M;
  }
}

/**
 * Refuses a dense n×m float64 copy of `A` beyond `maxBytes` (default `defaultDenseCacheBytes()`), naming the size.
 */
export function assertDenseFits(fn: string, A: LinearOperator, maxBytes = defaultDenseCacheBytes()): void {
  const [n, m] = A.shape;
  const bytes = 8 * n * m;
  if (!(typeof maxBytes === 'number' && maxBytes >= 0)) throw new TypeError(`${fn}: maxBytes must be a number of bytes ≥ 0, got ${String(maxBytes)}`);
  if (bytes > maxBytes) {
    throw new RangeError(`${fn}: the dense ${n}x${m} matrix of ${A} takes ${bytes} bytes (${(bytes / 2 ** 30).toFixed(2)} GiB) in float64, ` +
      `beyond maxBytes = ${maxBytes}; use products (matvec, matmat, dmmv) instead, or raise maxBytes`);
  }
}

// a scalar Formula's own matvec/solve/eigsh (formula/operator-hook.ts) run on its KernelOperator
registerFormulaOperator((formula) => new KernelOperator(formula as Formula));

/** The backend of a new operator: its own choice, else the global setting ('auto': see KernelOperatorOptions.backend). */
function resolveBackend(requested: BackendChoice, dtype: Dtype | undefined, pairs: number): 'cpu' | 'gpu' {
  const choice = requested === 'auto' ? backendSetting() : requested;
  if (choice !== 'auto') return choice;
  return dtype !== 'float64' && autoPrefersGpu(pairs) ? 'gpu' : 'cpu';
}

/**
 * A symmetric float32 CPU KernelOperator whose dense-cache products sum in float32 (see
 * `KernelOperator.lanczosOperator`): the same matrix, the same cache, float32-accurate products.
 */
class Float32SumsView extends LinearOperator {
  constructor(private readonly kernel: KernelOperator) {
    super(kernel.shape, kernel.dtype, { symmetric: true });
  }

  override expectRepeatedProducts(): this {
    this.kernel.expectRepeatedProducts();
    return this;
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    return (await this.kernel.product(new Block(x, x.length, 1), 'float32')).data;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    return this.kernel.product(X, 'float32');
  }

  protected override _transpose(): LinearOperator {
    return this; // symmetric
  }

  protected override describe(): string {
    return `${String(this.kernel)} with float32 sums`;
  }
}
