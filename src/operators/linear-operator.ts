/**
 * LinearOperator (scipy.sparse.linalg style, async products) and its lazy closed algebra.
 *
 * The algebra classes (sum, scaled, product, shifted, transposed) live in this same file on
 * purpose: LinearOperator's methods construct them and they extend LinearOperator, so splitting
 * them across two ES modules would create an import cycle in which one class is used before it is
 * defined. `./algebra.js` re-exports them for discoverability.
 *
 * Contract for subclasses (the protected hooks):
 *  - `_matvec(x)` / `_matmat(X)`: implement at least one; the other derives from it. Blocks are
 *    column-major `Block`s (./block.ts). Inputs are already validated (right length, finite, float64)
 *    and must NOT be mutated; results must be fresh arrays/blocks the caller may own.
 *  - `_rmatvec(x)` / `_rmatmat(X)`: the transpose product, used by the default `_transpose()`.
 *  - `_transpose()`: override when a cheaper transpose exists (dense, sums, products …).
 *  - `diagonal()`, `toDense()`: override when known exactly / cheaply.
 *  - `describe()`: the name shown inside `toString()`.
 */
import { Matrix } from 'ml-matrix';
import type { BlockLike, Dtype, KrylovOptions, VectorLike } from './types.js';
import { Block } from './block.js';
import {
  assertFiniteBlock,
  assertFiniteScalar,
  assertShape,
  describeValue,
  formatShape,
  toBlock,
  toVector,
} from './validate.js';
import { loadKrylovModule, type EigshResultLike, type SolveResultLike } from './krylov-bridge.js';

/** How CG may run on (A + αI) x = b to a tolerance: see `LinearOperator.solveCapabilities`. */
export interface SolveCapabilities {
  /** The operator CG runs on, ready for products: this one or a more accurate twin of the same matrix. */
  readonly operator: LinearOperator;
  /** `operator`'s products are exact to rounding: CG's recursive residual is trusted without a verifying product. */
  readonly exact: boolean;
  /** With a twin: mixed-precision refinement (inner PCG on this operator's products, true residuals by the twin). */
  readonly refine: boolean;
  /** Cheaper products of the same matrix for CG's later iterations (cg's `relaxed`), below this residual/‖b‖. */
  readonly relaxed?: { readonly operator: LinearOperator; readonly below: number };
}

/** A symmetric operator's stored entries, for a dense factorisation: see `LinearOperator.denseSource`. */
export interface DenseSource {
  /** Row access once the entries are stored (storing them first where needed): row i from column `first` ≤ i to n − 1. */
  rows(): Promise<(i: number) => { values: Float32Array | Float64Array; first: number }>;
  /**
   * The operator whose products apply exactly these entries: the operator itself, or a twin holding them (a GPU
   * kernel's CPU twin). A factor's refinement measures its residuals with it.
   */
  readonly operator: LinearOperator;
}

export interface LinearOperatorOptions {
  /** Aᵀ = A: then `T` returns the operator itself. Requires a square shape. */
  symmetric?: boolean;
}

// Module-private access to other operators' protected hooks, granted inside LinearOperator's
// static block: composites call their parts without validating inputs a second time.
let callMatvec!: (op: LinearOperator, x: Float64Array) => Promise<Float64Array>;
let callMatmat!: (op: LinearOperator, X: Block) => Promise<Block>;
let callRmatvec!: (op: LinearOperator, x: Float64Array) => Promise<Float64Array>;
let callRmatmat!: (op: LinearOperator, X: Block) => Promise<Block>;

function checkVectorResult(y: unknown, length: number, hook: string, op: LinearOperator): Float64Array {
  if (!(y instanceof Float64Array) || y.length !== length) {
    throw new Error(`${hook} of ${op} returned ${describeValue(y)}, expected a Float64Array of length ${length}`);
  }
  return y;
}

function checkBlockResult(Y: unknown, rows: number, cols: number, hook: string, op: LinearOperator): Block {
  if (!(Y instanceof Block) || Y.rows !== rows || Y.cols !== cols) {
    throw new Error(`${hook} of ${op} returned ${describeValue(Y)}, expected a ${rows}x${cols} Block`);
  }
  return Y;
}

/**
 * Y = A X inside the library (the Krylov solvers, the preconditioners): blocks stay column-major, no ml-matrix
 * Matrix is built. One column goes through `_matvec`, several through `_matmat`. X is checked finite (as the public
 * products check their input) and must not be mutated while the product runs.
 */
export function matmatBlock(A: LinearOperator, X: Block): Promise<Block> {
  return blockProduct(A, X, false);
}

/** Y = Aᵀ X inside the library (see `matmatBlock`). */
export function rmatmatBlock(A: LinearOperator, X: Block): Promise<Block> {
  return blockProduct(A, X, true);
}

async function blockProduct(A: LinearOperator, X: Block, transposed: boolean): Promise<Block> {
  const op = transposed ? A.T : A;
  const what = transposed ? 'rmatmat' : 'matmat';
  if (X.rows !== op.shape[1]) throw new RangeError(`${what}: expected a block with ${op.shape[1]} rows, got ${X.rows}x${X.cols} (${A})`);
  assertFiniteBlock(X, what);
  if (X.cols === 1) return new Block(await callMatvec(op, X.data), op.shape[0], 1);
  return callMatmat(op, X);
}

function assertOperator(B: unknown, what: string): asserts B is LinearOperator {
  if (!(B instanceof LinearOperator)) {
    throw new TypeError(`${what}: expected a LinearOperator, got ${describeValue(B)} (wrap matrices with aslinearoperator)`);
  }
}

/** 'float32' if any part computes in float32: a composite is only as precise as its weakest part. */
function combinedDtype(parts: readonly LinearOperator[]): Dtype {
  return parts.some((p) => p.dtype === 'float32') ? 'float32' : 'float64';
}

/** A product needs an rmatvec (or a transpose) that the operator was not given. */
export class NoTransposeError extends Error {
  override readonly name = 'NoTransposeError';
}

export abstract class LinearOperator {
  readonly shape: [number, number];
  readonly dtype: Dtype;
  readonly symmetric: boolean;
  /** Cached transpose; linked both ways so that A.T.T === A. */
  private transposeCache: LinearOperator | undefined;

  static {
    callMatvec = async (op, x) => checkVectorResult(await op._matvec(x), op.shape[0], '_matvec', op);
    callMatmat = async (op, X) => checkBlockResult(await op._matmat(X), op.shape[0], X.cols, '_matmat', op);
    callRmatvec = async (op, x) => checkVectorResult(await op._rmatvec(x), op.shape[1], '_rmatvec', op);
    callRmatmat = async (op, X) => checkBlockResult(await op._rmatmat(X), op.shape[1], X.cols, '_rmatmat', op);
  }

  constructor(shape: readonly [number, number], dtype: Dtype = 'float64', options: LinearOperatorOptions = {}) {
    assertShape(shape, new.target.name);
    if (dtype !== 'float32' && dtype !== 'float64') {
      throw new RangeError(`${new.target.name}: dtype must be 'float32' or 'float64', got ${describeValue(dtype)}`);
    }
    const symmetric = options.symmetric ?? false;
    if (symmetric && shape[0] !== shape[1]) {
      throw new RangeError(`${new.target.name}: a symmetric operator must be square, got shape ${formatShape(shape)}`);
    }
    this.shape = Object.freeze([shape[0], shape[1]]) as [number, number];
    this.dtype = dtype;
    this.symmetric = symmetric;
  }

  // ---------------------------------------------------------------- products (validated once)

  /** y = A x. */
  async matvec(x: VectorLike): Promise<Float64Array> {
    const v = toVector(x, this.shape[1], 'matvec');
    return checkVectorResult(await this._matvec(v), this.shape[0], '_matvec', this);
  }

  /** y = Aᵀ x (through `this.T`). */
  async rmatvec(x: VectorLike): Promise<Float64Array> {
    const v = toVector(x, this.shape[0], 'rmatvec');
    return callMatvec(this.T, v);
  }

  /** Y = A X for an n×k block X. */
  async matmat(X: BlockLike): Promise<Matrix> {
    const B = toBlock(X, this.shape[1], 'matmat');
    return checkBlockResult(await this._matmat(B), this.shape[0], B.cols, '_matmat', this).toMatrix();
  }

  /** Y = Aᵀ X (through `this.T`). */
  async rmatmat(X: BlockLike): Promise<Matrix> {
    const B = toBlock(X, this.shape[0], 'rmatmat');
    return (await callMatmat(this.T, B)).toMatrix();
  }

  /**
   * A hint that many products with this operator follow (the Krylov solvers give it when they
   * start): an operator that can trade memory for speed may do so now — a KernelOperator with
   * `denseCache: 'auto'` stores K at its next product (when K fits the budget) instead of after
   * DENSE_CACHE_AFTER_PRODUCTS products. Composite operators pass it on to their operands.
   */
  expectRepeatedProducts(): this {
    for (const op of this.operands()) op.expectRepeatedProducts();
    return this;
  }

  /**
   * Releases what this operator keeps between calls: the preconditioners `solve` and `preconditioner` built
   * and cached for it, and a KernelOperator's stored K. Their WebAssembly memories are recycled for the next
   * store of about the same size (src/cpu/memory-pool.ts), where a fresh memory would pay the OS's first
   * touch of every page again. The operator stays usable (what it needs is built again); a preconditioner
   * obtained from it before is released too, and using it afterwards throws. Operands of a composite are
   * not disposed (they may be shared).
   */
  async dispose(): Promise<void> {
    if (preconditionerModule) await (await preconditionerModule).disposePreconditioners(this);
  }

  // ---------------------------------------------------------------- hooks for subclasses

  /** The operators this one applies (composites), for hints such as `expectRepeatedProducts`. */
  protected operands(): readonly LinearOperator[] {
    return [];
  }

  /** Default: `_matmat` on a one-column block. */
  protected async _matvec(x: Float64Array): Promise<Float64Array> {
    if (this._matmat === LinearOperator.prototype._matmat) throw this.noProductError();
    return (await callMatmat(this, new Block(x, x.length, 1))).data;
  }

  /** Default: `_matvec` column by column (sequentially, to keep device memory bounded). */
  protected async _matmat(X: Block): Promise<Block> {
    if (this._matvec === LinearOperator.prototype._matvec) throw this.noProductError();
    const Y = Block.zeros(this.shape[0], X.cols);
    for (let j = 0; j < X.cols; j++) Y.data.set(await callMatvec(this, X.column(j)), j * Y.rows);
    return Y;
  }

  /** Aᵀ x, used by the default transpose. Default: `_rmatmat` on one column, else an error. */
  protected async _rmatvec(x: Float64Array): Promise<Float64Array> {
    if (this._rmatmat === LinearOperator.prototype._rmatmat) throw this.noTransposeError();
    return (await callRmatmat(this, new Block(x, x.length, 1))).data;
  }

  /** Aᵀ X. Default: `_rmatvec` column by column, else an error. */
  protected async _rmatmat(X: Block): Promise<Block> {
    if (this._rmatvec === LinearOperator.prototype._rmatvec) throw this.noTransposeError();
    const Y = Block.zeros(this.shape[1], X.cols);
    for (let j = 0; j < X.cols; j++) Y.data.set(await callRmatvec(this, X.column(j)), j * Y.rows);
    return Y;
  }

  /** The transpose operator, built once by the `T` getter. Default: a TransposedOperator over `_rmatvec`. */
  protected _transpose(): LinearOperator {
    return new TransposedOperator(this);
  }

  /** The name shown by `toString()`, e.g. "DenseOperator" or "SumOperator(<…> + <…>)". */
  protected describe(): string {
    return this.constructor.name;
  }

  protected noTransposeError(): Error {
    return new NoTransposeError(`rmatvec not available for ${this}; give rmatvec or a transpose`);
  }

  private noProductError(): Error {
    return new Error(`${this.constructor.name} implements neither _matvec nor _matmat; a LinearOperator subclass must implement at least one`);
  }

  // ---------------------------------------------------------------- transpose

  /** The transpose (= adjoint, real only). Cached, and A.T.T === A; a symmetric operator is its own transpose. */
  get T(): LinearOperator {
    if (this.symmetric) return this;
    if (this.transposeCache === undefined) {
      const t = this._transpose();
      if (t.shape[0] !== this.shape[1] || t.shape[1] !== this.shape[0]) {
        throw new Error(`_transpose of ${this} returned ${t}, whose shape is not ${this.shape[1]}x${this.shape[0]}`);
      }
      if (t !== this && t.transposeCache === undefined) t.transposeCache = this;
      this.transposeCache = t;
    }
    return this.transposeCache;
  }

  // ---------------------------------------------------------------- lazy algebra

  /** A + B (lazy; nested sums are flattened). */
  add(B: LinearOperator): LinearOperator {
    assertOperator(B, 'add');
    if (B.shape[0] !== this.shape[0] || B.shape[1] !== this.shape[1]) {
      throw new RangeError(
        `add: shapes differ: ${formatShape(this.shape)} (${this}) + ${formatShape(B.shape)} (${B})`,
      );
    }
    return new SumOperator([this, B]);
  }

  /** A − B = A + (−1)·B. */
  sub(B: LinearOperator): LinearOperator {
    assertOperator(B, 'sub');
    return this.add(B.scale(-1));
  }

  /** c·A (lazy; repeated scalings fold into one, scale(1) is A itself). */
  scale(c: number): LinearOperator {
    assertFiniteScalar(c, 'scale');
    return c === 1 ? this : new ScaledOperator(this, c);
  }

  /** A·B, the composition (lazy; nested products are flattened). */
  dot(B: LinearOperator): LinearOperator {
    assertOperator(B, 'dot');
    if (this.shape[1] !== B.shape[0]) {
      throw new RangeError(
        `dot: inner dimensions differ: ${formatShape(this.shape)} (${this}) · ${formatShape(B.shape)} (${B}); ` +
          `B needs ${this.shape[1]} rows`,
      );
    }
    return new ProductOperator([this, B]);
  }

  /** A + alpha·I (square only; shifts fold, shift(0) is A itself). */
  shift(alpha: number): LinearOperator {
    assertFiniteScalar(alpha, 'shift');
    if (this.shape[0] !== this.shape[1]) {
      throw new RangeError(`shift: A + alpha·I needs a square operator, got shape ${formatShape(this.shape)} (${this})`);
    }
    return alpha === 0 ? this : new ShiftedOperator(this, alpha);
  }

  // ---------------------------------------------------------------- derived quantities

  /** The diagonal, where it is known exactly (kernels: k(x_i, x_i)). The default does not know it. */
  async diagonal(): Promise<Float64Array> {
    throw new Error(`diagonal() is not known for ${this}`);
  }

  /**
   * The operator as a dense Matrix. Default: A·I, i.e. shape[1] matvecs' worth of work and
   * shape[0]·shape[1] doubles of memory — for small operators and tests only.
   */
  async toDense(): Promise<Matrix> {
    return (await callMatmat(this, Block.eye(this.shape[1]))).toMatrix();
  }

  // ---------------------------------------------------------------- krylov conveniences

  /** k extreme eigenpairs (Lanczos); delegates to src/krylov's `eigsh(this, k, options)`. */
  async eigsh(k?: number, options?: KrylovOptions): Promise<EigshResultLike> {
    const krylov = await loadKrylovModule();
    return krylov.eigsh(this, k, options);
  }

  /**
   * Solves (A + alpha·I) x = b for A symmetric positive definite (b a vector or an n×k block): the free
   * function `solveShifted(this, b, alpha, options)` of src/preconditioners/solve.ts, which holds the policy —
   * a dense Cholesky factorisation where it is cheaper than CG (`method`), else preconditioned CG
   * (`preconditioner`, 'auto' by default), on a more accurate twin where this operator's products cannot reach
   * rtol. `solvePlan` there shows the decisions. Throws `CgNoConvergence` (carrying the partial result) unless
   * `{ returnInfo: true }` asks for the result object; refuses a non-symmetric operator and an α for which the
   * diagonal shows A + αI is not positive definite.
   */
  solve(b: VectorLike, alpha?: number, options?: KrylovOptions & { returnInfo?: false }): Promise<Float64Array>;
  solve(b: BlockLike, alpha?: number, options?: KrylovOptions & { returnInfo?: false }): Promise<Matrix>;
  solve(b: VectorLike | BlockLike, alpha: number | undefined, options: KrylovOptions & { returnInfo: true }): Promise<SolveResultLike>;
  solve(b: VectorLike | BlockLike, alpha?: number, options?: KrylovOptions): Promise<Float64Array | Matrix | SolveResultLike>;
  async solve(b: VectorLike | BlockLike, alpha = 0, options?: KrylovOptions): Promise<Float64Array | Matrix | SolveResultLike> {
    return (await loadPreconditionerModule()).solveShifted(this, b, alpha, options);
  }

  /**
   * How CG may run on (this + alpha·I) x = b to tolerance rtol, for `solve`'s policy (src/preconditioners/solve.ts):
   * by default on this operator, verifying convergence claims with a product, no refinement or relaxed products.
   * Subclasses whose products carry a rounding floor above rtol name a more accurate twin (made ready for products),
   * and say whether to refine on their own products or where cheaper ones serve (see KernelOperator).
   */
  async solveCapabilities(_alpha: number, _rtol: number): Promise<SolveCapabilities> {
    return { operator: this, exact: false, refine: false };
  }

  /**
   * This operator's entries for a direct factorisation (`solve`'s dense Cholesky path), where they are stored or
   * cheap to store within the operator's memory budget: undefined by default (the dense path then needs an
   * explicit `method: 'cholesky'`, and takes `toDense()`). See KernelOperator.
   */
  denseSource(): DenseSource | undefined {
    return undefined;
  }

  /**
   * The entries of an operator that is diagonal by construction (`DiagonalOperator`, `IdentityOperator`, a multiple of
   * one), else undefined: a sum's dense source adds them to its diagonal (K + D, a kernel with per-point noise).
   */
  diagonalEntries(): Float64Array | undefined {
    return undefined;
  }

  /**
   * The operator a Lanczos run to relative tolerance `tol` may apply in place of this one (eigsh without a
   * shift, for the largest eigenvalues: which 'LM' or 'LA'): this one by default. Subclasses whose exact products cost more than the tolerance needs return a
   * cheaper view of the same matrix (see KernelOperator: float32 sums where tol is at float32's resolution).
   */
  lanczosOperator(_tol: number): LinearOperator {
    return this;
  }

  /**
   * The preconditioner P⁻¹ ≈ (A + alpha·I)⁻¹ that `solve` would use for `choice` ('auto' by
   * default; see `solve`), or undefined where the choice is 'none' (or 'auto' decides so). Built
   * once per (alpha, choice, options) and cached on this operator, for repeated and adjoint solves.
   */
  async preconditioner(alpha: number, choice: string = 'auto', options?: unknown, holds?: unknown): Promise<LinearOperator | undefined> {
    assertFiniteScalar(alpha, 'preconditioner (alpha)');
    if (choice === 'none') return undefined;
    const pre = await loadPreconditionerModule();
    // holds: `solve`'s own (a PreconditionerHolds): the cache keeps what a running solve uses until it ends
    return pre.preconditionerFor(this, alpha, choice, options ?? {}, holds);
  }

  /** e.g. "<2000x2000 DenseOperator float64>". */
  toString(): string {
    return `<${formatShape(this.shape)} ${this.describe()} ${this.dtype}>`;
  }
}

// ==================================================================== lazy preconditioners

/** The slice of src/preconditioners that `solve`, `preconditioner` and `dispose` need; typed loosely (that module owns the types). */
export interface PreconditionerModule {
  solveShifted(A: LinearOperator, b: VectorLike | BlockLike, alpha: number, options: unknown): Promise<Float64Array | Matrix | SolveResultLike>;
  preconditionerFor(A: LinearOperator, alpha: number, choice: string, options: unknown, holds?: unknown): Promise<LinearOperator | undefined>;
  disposePreconditioners(A: LinearOperator): Promise<void>;
}

let preconditionerModule: Promise<PreconditionerModule> | undefined;

/** Makes `m` the module `solve` uses instead of the lazy import (the browser entry registers it: bundles have no runtime specifiers). */
export function registerPreconditionerModule(m: PreconditionerModule): void {
  preconditionerModule = Promise.resolve(m);
}

/**
 * src/preconditioners sits above operators (it builds kernel operators), so it is reached by a
 * lazy import with a runtime specifier, like the krylov module: no static cycle.
 */
function loadPreconditionerModule(): Promise<PreconditionerModule> {
  preconditionerModule ??= (async () => {
    const spec = new URL('../preconditioners/index.js', import.meta.url).href;
    let m: unknown;
    try {
      m = await import(/* @vite-ignore */ spec);
    } catch (cause) {
      throw new Error(`solve/preconditioner need the preconditioners module (${spec}), which could not be loaded`, { cause });
    }
    const candidate = m as Partial<PreconditionerModule>;
    if (typeof candidate.solveShifted !== 'function' || typeof candidate.preconditionerFor !== 'function' || typeof candidate.disposePreconditioners !== 'function') {
      throw new Error(`the preconditioners module (${spec}) does not export solveShifted, preconditionerFor and disposePreconditioners`);
    }
    return candidate as PreconditionerModule;
  })();
  preconditionerModule.catch(() => { preconditionerModule = undefined; });
  return preconditionerModule;
}

// ==================================================================== the algebra

/** A₁ + A₂ + … (flat: parts are never SumOperators themselves). */
export class SumOperator extends LinearOperator {
  readonly parts: readonly LinearOperator[];

  constructor(parts: readonly LinearOperator[]) {
    const flat = parts.flatMap((p) => (p instanceof SumOperator ? p.parts : [p]));
    if (flat.length === 0) throw new RangeError('SumOperator: needs at least one part');
    const shape = flat[0]!.shape;
    for (const p of flat) {
      if (p.shape[0] !== shape[0] || p.shape[1] !== shape[1]) {
        throw new RangeError(`SumOperator: shapes differ: ${formatShape(shape)} (${flat[0]}) and ${formatShape(p.shape)} (${p})`);
      }
    }
    super(shape, combinedDtype(flat), { symmetric: flat.every((p) => p.symmetric) });
    this.parts = Object.freeze([...flat]);
  }

  protected override operands(): readonly LinearOperator[] {
    return this.parts;
  }

  /**
   * The sum's entries where every part stores its own (kernels, dense matrices, their multiples): each row summed from
   * the parts' rows as the factor reads it, for `solve`'s dense factor — a sum of kernels (K₁ + K₂, as GP models add
   * them) ran CG however small α was. Its exact products: this sum, or the sum of the parts' twins.
   */
  override denseSource(): DenseSource | undefined {
    if (!this.symmetric) return undefined;
    // parts that store their entries, and diagonal parts (added to the diagonal): at least one of the first
    const stored: { source: DenseSource; part: LinearOperator }[] = [];
    const diagonal: { d: Float64Array; part: LinearOperator }[] = [];
    for (const part of this.parts) {
      const source = part.denseSource();
      const d = source ? undefined : part.diagonalEntries();
      if (source) stored.push({ source, part });
      else if (d) diagonal.push({ d, part });
      else return undefined;
    }
    if (stored.length === 0) return undefined;
    const n = this.shape[0];
    const own = stored.every(({ source, part }) => source.operator === part);
    return {
      rows: async () => {
        const rows = await Promise.all(stored.map(({ source }) => source.rows()));
        return (i) => {
          const values = new Float64Array(n - i);
          for (const row of rows) {
            const { values: v, first } = row(i);
            for (let j = i; j < n; j++) values[j - i]! += v[j - first]!;
          }
          for (const { d } of diagonal) values[0]! += d[i]!;
          return { values, first: i };
        };
      },
      operator: own ? this : new SumOperator([...stored.map(({ source }) => source.operator), ...diagonal.map(({ part }) => part)]),
    };
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    const ys = await Promise.all(this.parts.map((p) => callMatvec(p, x)));
    const y = ys[0]!;
    for (let k = 1; k < ys.length; k++) {
      const yk = ys[k]!;
      for (let i = 0; i < y.length; i++) y[i]! += yk[i]!;
    }
    return y;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    const Ys = await Promise.all(this.parts.map((p) => callMatmat(p, X)));
    const y = Ys[0]!.data;
    for (let k = 1; k < Ys.length; k++) {
      const yk = Ys[k]!.data;
      for (let t = 0; t < y.length; t++) y[t]! += yk[t]!;
    }
    return Ys[0]!;
  }

  protected override _transpose(): LinearOperator {
    return new SumOperator(this.parts.map((p) => p.T));
  }

  override async diagonal(): Promise<Float64Array> {
    const ds = await Promise.all(this.parts.map((p) => p.diagonal()));
    const d = Float64Array.from(ds[0]!);
    for (let k = 1; k < ds.length; k++) {
      const dk = ds[k]!;
      for (let i = 0; i < d.length; i++) d[i]! += dk[i]!;
    }
    return d;
  }

  protected override describe(): string {
    return `SumOperator(${this.parts.map(String).join(' + ')})`;
  }
}

/** c·A (folded: the base is never a ScaledOperator). */
export class ScaledOperator extends LinearOperator {
  readonly base: LinearOperator;
  readonly factor: number;

  constructor(base: LinearOperator, factor: number) {
    assertFiniteScalar(factor, 'ScaledOperator (factor)');
    const inner = base instanceof ScaledOperator ? base.base : base;
    const c = base instanceof ScaledOperator ? base.factor * factor : factor;
    // folding c·(c'·A) into (c·c')·A must not overflow into an infinite factor (products of Infinity and NaN)
    if (!Number.isFinite(c)) throw new RangeError(`ScaledOperator: the folded factor ${factor} · ${(base as ScaledOperator).factor} overflows to ${c}`);
    super(inner.shape, inner.dtype, { symmetric: inner.symmetric });
    this.base = inner;
    this.factor = c;
  }

  override scale(c: number): LinearOperator {
    assertFiniteScalar(c, 'scale');
    if (c === 1) return this;
    const folded = this.factor * c;
    return folded === 1 ? this.base : new ScaledOperator(this.base, folded);
  }

  protected override operands(): readonly LinearOperator[] {
    return [this.base];
  }

  override diagonalEntries(): Float64Array | undefined {
    const d = this.base.diagonalEntries();
    return d && Float64Array.from(d, (v) => this.factor * v);
  }

  /** c times the base's stored entries, row by row as a factor reads them (a scaled part of a sum: see SumOperator). */
  override denseSource(): DenseSource | undefined {
    const base = this.base.denseSource();
    if (base === undefined) return undefined;
    const c = this.factor;
    return {
      rows: async () => {
        const row = await base.rows();
        return (i) => {
          const { values, first } = row(i);
          return { values: Float64Array.from(values, (v) => c * v), first };
        };
      },
      operator: base.operator === this.base ? this : base.operator.scale(c),
    };
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    const y = await callMatvec(this.base, x);
    for (let i = 0; i < y.length; i++) y[i]! *= this.factor;
    return y;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    const Y = await callMatmat(this.base, X);
    const y = Y.data;
    for (let t = 0; t < y.length; t++) y[t]! *= this.factor;
    return Y;
  }

  protected override _transpose(): LinearOperator {
    return new ScaledOperator(this.base.T, this.factor);
  }

  override async diagonal(): Promise<Float64Array> {
    const d = Float64Array.from(await this.base.diagonal());
    for (let i = 0; i < d.length; i++) d[i]! *= this.factor;
    return d;
  }

  override async toDense(): Promise<Matrix> {
    return (await this.base.toDense()).mul(this.factor);
  }

  protected override describe(): string {
    return `ScaledOperator(${this.factor} * ${this.base})`;
  }
}

/** A₁·A₂·…·A_k, applied right to left (flat: parts are never ProductOperators themselves). */
export class ProductOperator extends LinearOperator {
  readonly parts: readonly LinearOperator[];

  constructor(parts: readonly LinearOperator[]) {
    const flat = parts.flatMap((p) => (p instanceof ProductOperator ? p.parts : [p]));
    if (flat.length === 0) throw new RangeError('ProductOperator: needs at least one part');
    for (let k = 1; k < flat.length; k++) {
      const left = flat[k - 1]!;
      const right = flat[k]!;
      if (left.shape[1] !== right.shape[0]) {
        throw new RangeError(
          `ProductOperator: inner dimensions differ: ${formatShape(left.shape)} (${left}) · ${formatShape(right.shape)} (${right})`,
        );
      }
    }
    super([flat[0]!.shape[0], flat[flat.length - 1]!.shape[1]], combinedDtype(flat));
    this.parts = Object.freeze([...flat]);
  }

  protected override operands(): readonly LinearOperator[] {
    return this.parts;
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    let y = x;
    for (let k = this.parts.length - 1; k >= 0; k--) y = await callMatvec(this.parts[k]!, y);
    return y === x ? Float64Array.from(x) : y;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    let Y = X;
    for (let k = this.parts.length - 1; k >= 0; k--) Y = await callMatmat(this.parts[k]!, Y);
    return Y === X ? X.clone() : Y;
  }

  /** (A·B)ᵀ = Bᵀ·Aᵀ. */
  protected override _transpose(): LinearOperator {
    return new ProductOperator([...this.parts].reverse().map((p) => p.T));
  }

  protected override describe(): string {
    return `ProductOperator(${this.parts.map(String).join(' @ ')})`;
  }
}

/** A + alpha·I (folded: the base is never a ShiftedOperator). */
export class ShiftedOperator extends LinearOperator {
  readonly base: LinearOperator;
  readonly alpha: number;

  constructor(base: LinearOperator, alpha: number) {
    assertFiniteScalar(alpha, 'ShiftedOperator (alpha)');
    if (base.shape[0] !== base.shape[1]) {
      throw new RangeError(`ShiftedOperator: A + alpha·I needs a square operator, got shape ${formatShape(base.shape)} (${base})`);
    }
    const inner = base instanceof ShiftedOperator ? base.base : base;
    const a = base instanceof ShiftedOperator ? base.alpha + alpha : alpha;
    if (!Number.isFinite(a)) throw new RangeError(`ShiftedOperator: the folded shift ${(base as ShiftedOperator).alpha} + ${alpha} overflows to ${a}`);
    super(inner.shape, inner.dtype, { symmetric: inner.symmetric });
    this.base = inner;
    this.alpha = a;
  }

  override shift(alpha: number): LinearOperator {
    assertFiniteScalar(alpha, 'shift');
    if (alpha === 0) return this;
    const folded = this.alpha + alpha;
    return folded === 0 ? this.base : new ShiftedOperator(this.base, folded);
  }

  protected override operands(): readonly LinearOperator[] {
    return [this.base];
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    const y = await callMatvec(this.base, x);
    for (let i = 0; i < y.length; i++) y[i]! += this.alpha * x[i]!;
    return y;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    const Y = await callMatmat(this.base, X);
    const y = Y.data;
    const x = X.data;
    for (let t = 0; t < y.length; t++) y[t]! += this.alpha * x[t]!;
    return Y;
  }

  protected override _transpose(): LinearOperator {
    return new ShiftedOperator(this.base.T, this.alpha);
  }

  override async diagonal(): Promise<Float64Array> {
    const d = Float64Array.from(await this.base.diagonal());
    for (let i = 0; i < d.length; i++) d[i]! += this.alpha;
    return d;
  }

  override async toDense(): Promise<Matrix> {
    const D = await this.base.toDense();
    for (let i = 0; i < D.rows; i++) D.set(i, i, D.get(i, i) + this.alpha);
    return D;
  }

  protected override describe(): string {
    return `ShiftedOperator(${this.base} + ${this.alpha}·I)`;
  }
}

/** Aᵀ for an operator that can apply its transpose (`_rmatvec`/`_rmatmat`) but has no cheaper form. */
export class TransposedOperator extends LinearOperator {
  readonly original: LinearOperator;

  constructor(original: LinearOperator) {
    super([original.shape[1], original.shape[0]], original.dtype);
    this.original = original;
  }

  protected override operands(): readonly LinearOperator[] {
    return [this.original];
  }

  protected override _matvec(x: Float64Array): Promise<Float64Array> {
    return callRmatvec(this.original, x);
  }

  protected override _matmat(X: Block): Promise<Block> {
    return callRmatmat(this.original, X);
  }

  protected override _rmatvec(x: Float64Array): Promise<Float64Array> {
    return callMatvec(this.original, x);
  }

  protected override _rmatmat(X: Block): Promise<Block> {
    return callMatmat(this.original, X);
  }

  protected override _transpose(): LinearOperator {
    return this.original;
  }

  override diagonal(): Promise<Float64Array> {
    return this.original.diagonal();
  }

  /**
   * The original's dense form, transposed (exact where the original knows its own); where that needs a product the
   * original lacks (its matvec rests on an rmatvec nobody gave, as in (wrap(F.T)).T for F with matvec only), this
   * operator's own products — the original's adjoint ones — give it instead.
   */
  override async toDense(): Promise<Matrix> {
    try {
      return (await this.original.toDense()).transpose();
    } catch (error) {
      if (!(error instanceof NoTransposeError)) throw error;
      return super.toDense();
    }
  }

  protected override describe(): string {
    return `TransposedOperator(${this.original})`;
  }
}
