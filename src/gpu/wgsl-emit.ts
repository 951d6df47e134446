/**
 * Emits a WGSL tiled kernel-reduction program from the formula AST (float32):
 *
 *     O[c][i] (=) Σ_{j in this split's tiles} F(x_i, y_j, p) · B[c][j]      for W columns c per pass
 *
 * Shape of the kernel (mirrors the CPU emitter, `cpu/wasm-emit.ts`):
 *  - each workgroup of WG threads owns WG·R rows; thread t owns rows base + t + r·WG (r < R), so
 *    loads and stores of a row stripe are contiguous across the workgroup;
 *  - the j range is cut into tiles of TILE points; a tile's j-only values (the y_j coordinates, or
 *    anything computed from y_j and parameters only, e.g. y_j pre-scaled for the Gaussian) and the
 *    right-hand-side weights are staged in workgroup memory, packed four to a vec4, by the
 *    workgroup's threads; then every thread runs over the tile reading each staged value once for
 *    its R rows;
 *  - every AST node is placed at the outermost place where its inputs are known: parameter-only
 *    subtrees once per thread (P), x_i-only subtrees once per row (I), y_j-only subtrees once per
 *    staged point (J), the rest per pair (Q). Identical subtrees are computed once (structural CSE);
 *  - block summation: a tile's pair terms go to a per-tile partial, added to the row's accumulator
 *    after the tile (compensated, Kahan, unless `kahan: false`);
 *  - exp(s·b·Πf) with loop-invariant factors f is exp2(b·F), F = s·log₂e·Πf formed once; for the
 *    Gaussian pattern exp(−c·|x − y|²) with c ≥ 0 provable from the structure (`isNonPositive`), the
 *    coordinates are pre-scaled by √(c·log₂e) (x once per row, y once per staged point) so a pair
 *    costs d subtractions, d multiply-adds and one exp2.
 *
 * Bindings (group 0): 0 uniform { header, params }, then one read-only storage buffer per
 * i-variable (n×dim row-major f32) and per j-variable (m×dim), the right-hand sides B (W floats
 * per j, pass-major), and the read-write output O (W floats per row). A program is data: its text,
 * its key and its bindings; it never contains a user-provided name, only slot-derived identifiers
 * and numeric literals.
 */
import type { DotNode, Node, ReduceNode, UnaryNode, VarNode } from '../formula/ast.js';
import { SlotIndex, type FormulaSlots } from '../formula/slots.js';
import { isBinary, isReduce, isUnary } from '../formula/ast.js';
import { distinctNodes, formulaKey } from '../formula/analyze.js';
import { isNonPositive } from '../formula/sign.js';
import { compileScalarJs, UNROLL_MAX_DIM } from '../formula/emit-js.js';
import { NORM2_SAFE } from '../formula/norm2-range.js';

export type { FormulaSlots } from '../formula/slots.js';

/**
 * Whether `node` holds a norm2 of a vector longer than UNROLL_MAX_DIM: such a norm may run in the chunked mode,
 * which detects a sum of squares out of float32's range (the row's output turns NaN) instead of recomputing it.
 */
export function hasLongNorm2(node: Node): boolean {
  return distinctNodes(node).some((n) => n.op === 'norm2' && n.arg.dim > UNROLL_MAX_DIM);
}

/** Columns per pass: one scalar column, or vec4 groups. */
export type PassWidth = 1 | 4 | 8;

export interface KernelShape {
  /** Threads per workgroup. */
  readonly workgroupSize: number;
  /** Rows each thread keeps in registers (R). */
  readonly rowsPerThread: number;
  /** Points y_j staged per tile (block-summation granularity). */
  readonly tile: number;
  /** Right-hand sides per pass. */
  readonly width: PassWidth;
  /** Compensated (Kahan) addition of the per-tile partials. */
  readonly kahan: boolean;
  /**
   * Double-float products (width 1 only): the right-hand side arrives as float32 hi + lo (with hi's
   * Veltkamp halves), each term K_ij·(hi_j + lo_j) is formed exactly up to the rounding of K·lo
   * (Dekker's TwoProduct) and summed with TwoSum into a pair per row, written as (hi, lo). The
   * product is then the fixed matrix K̃ of float32 entries applied in ≈ float64 — no noise that
   * depends on the vector, so CG on it has no float32 residual floor.
   */
  readonly compensated?: boolean;
  /**
   * Compensated products only: the device's fma is fused (measured, see `fusedMultiplyAdd`), so each product's
   * error is fma(K, hi, −K·hi) instead of Dekker's split products.
   */
  readonly fusedTwoProduct?: boolean;
  /**
   * Compensated products with a fused fma only: `opq` guards only the values whose rounding the error terms are
   * formed from — the product p = fl(K·hi) (else a compiler may contract it into the sum), the sum s and bb = s − acc
   * (else (acc + p) − acc folds to p) — not the differences formed from them, which no fold can reach once s and bb
   * are opaque. Half the guards: decided per device by a probe that runs both forms on the same terms and requires
   * bit-identical sums (`lightGuardsHold` in reduce.ts). (With p alone guarded the H100's compiler folded the
   * compensation away: 2·10⁻⁵ relative off the fully guarded sums.)
   */
  readonly lightGuards?: boolean;
  /**
   * KeOps' chunked mode for reductions over vectors longer than UNROLL_MAX_DIM that depend on both x_i and y_j
   * (e.g. |x − y|² at d = 1,024): components per chunk (a multiple of 4). Per tile and chunk, the tile's y_j
   * components are staged in workgroup memory (vec4, coalesced loads), each thread holds its rows' x_i components
   * in registers, and every pair's partial sum goes to a private array (one vec4 per point and four rows), read
   * by the pair code after the last chunk. Absent or 0: such reductions loop over the components per pair,
   * reading both points from their buffers.
   */
  readonly dimensionChunk?: number;
  /**
   * The parameters live in a read-only storage buffer (binding role 'params') instead of the uniform: set by the
   * emitter when they exceed the uniform binding limit (`EmitLimits.maxUniformBufferBindingSize`).
   */
  readonly paramsInStorage?: boolean;
  /**
   * The host proved every norm2 of the formula in float32's safe range for these points (`norm2InFloat32RangeFor`,
   * formula/norm2-range.ts): the pair code takes √s with no range test, recompute or range flag.
   */
  readonly norm2InRange?: boolean;
}

export type BindingRole =
  | { readonly kind: 'uniform' }
  | { readonly kind: 'params' }
  | { readonly kind: 'i'; readonly slot: number }
  | { readonly kind: 'j'; readonly slot: number }
  | { readonly kind: 'rhs' }
  | { readonly kind: 'out' }
  | { readonly kind: 'part' };

export interface BindingSpec {
  readonly binding: number;
  readonly type: 'uniform' | 'read-only-storage' | 'storage';
  readonly role: BindingRole;
}

export interface GpuProgram {
  readonly key: string;
  readonly workgroupSize: number;
  readonly bindings: readonly BindingSpec[];
  readonly code: string;
  readonly shape: KernelShape;
  /** f32 values in the uniform's parameter block (vec4-padded). */
  readonly paramFloats: number;
  /** Bytes of workgroup memory the program declares. */
  readonly workgroupBytes: number;
  /**
   * Loop iterations one pair costs (the loop over j and the loops over vector components, see `loopReduction`):
   * llvmpipe ends an invocation's loops after 65,535 iterations in all, so the software adapter needs splits
   * that keep pairs per invocation × this below that.
   */
  readonly loopIterationsPerPair?: number;
}

/** Byte size of the uniform header (8 u32). */
export const HEADER_BYTES = 32;

/** WebGPU's default maxUniformBufferBindingSize (64 KiB), where the limits do not say. */
const DEFAULT_MAX_UNIFORM_BYTES = 65536;

type Stage = 'P' | 'I' | 'J' | 'Q';
type Ctx = { readonly k: 'P' } | { readonly k: 'I'; readonly r: number } | { readonly k: 'J' } | { readonly k: 'Q'; readonly r: number };

/** Components per iteration of a loop over a vector's components (the rest of the chunk is unrolled). */
const LOOP_CHUNK = 32;

/** A loop over a vector's components being emitted (see `loopReduction`): its body, memo and component index. */
interface LoopCtx {
  readonly body: string[];
  readonly memo: Map<string, string>;
  readonly ctx: Ctx;
  readonly k: string;
}

/**
 * One pass over a chunk of components in KeOps' chunked mode (see `KernelShape.dimensionChunk`): the loop over
 * the full chunks (base = the loop counter) or the tail (a constant base, fewer components).
 */
interface ChunkSection {
  /** WGSL expression of the chunk's first component. */
  readonly base: string;
  /** Components in a chunk of this section. */
  readonly count: number;
  /** Emitted as a loop over the full chunks (else once, for the tail). */
  readonly loop: boolean;
  /** Once per chunk: parameter components. */
  readonly pre: string[];
  /** Once per chunk and row: x_i components (held in registers for the chunk's points). */
  readonly rows: string[][];
  /** Once per staged point, shared by the rows: reads of the staged y_j chunk, j-only components. */
  readonly head: string[];
  /** Once per point and row: the pair's terms, summed into one scalar per reduction. */
  readonly pairs: string[][];
  /** Per reduction, per row: the name of the chunk's sum. */
  readonly sums: Map<number, string[]>;
  readonly memo: Map<string, string>;
}

/** The chunked reductions over vectors of one dimension: their sections and their staged j-variables. */
interface ChunkGroup {
  readonly dim: number;
  readonly counter: string;
  /** Slot of a staged j-variable → its workgroup array (vec4 per 4 components, point-major). */
  readonly staged: Map<number, string>;
  readonly sections: readonly ChunkSection[];
  /** Reductions of this group (indices of their private partial arrays `pc<l>`). */
  readonly reductions: number[];
}

interface EmitterOptions {
  /** Components per chunk of the chunked mode (0: off). */
  readonly chunk?: number;
  readonly paramsInStorage?: boolean;
  /** Every norm2 is proven in float32's safe range (`KernelShape.norm2InRange`): √s with no range test. */
  readonly norm2InRange?: boolean;
}

interface PeeledExp {
  /** Stage of exp's argument. */
  readonly st: Stage;
  /** What remains after the folded factors. */
  readonly base: Node;
  /** sign · constant · log₂e, folded in float64. */
  readonly F0: number;
  readonly factors: readonly { readonly node: Node; readonly invert: boolean }[];
  readonly fStage: Stage;
  /** Structural tag of F for memoisation. */
  readonly tag: string;
}

/** A formula that is exactly exp(F·|x − y|²), x an i-variable and y a j-variable, F ≤ 0 parameter-only. */
export interface ExpandedGaussianMatch {
  readonly formula: UnaryNode;
  readonly iVar: VarNode;
  readonly jVar: VarNode;
  readonly dim: number;
  /** s² = −F (F = −c·log₂e), evaluated on the host from the formula's constants and parameters. */
  readonly scale2: number;
}

const P_CTX: Ctx = { k: 'P' };
const J_CTX: Ctx = { k: 'J' };
const LANE = ['x', 'y', 'z', 'w'] as const;
const RANK: Record<Stage, number> = { P: 0, I: 1, J: 1, Q: 2 };

/** A WGSL f32 literal for a finite number (out-of-range magnitudes become a run-time infinity). */
export function f32Literal(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`internal: non-finite constant ${String(v)} reached the WGSL emitter`);
  const f = Math.fround(v);
  if (!Number.isFinite(f)) return f > 0 ? 'inf_()' : '(-inf_())'; // a literal out of f32 range is a shader-creation error
  if (Object.is(f, -0)) return '(-0.0f)';
  return f < 0 ? `(${String(f)}f)` : `${String(f)}f`;
}

/** A node's stage from the row indices it depends on (`SlotIndex.deps`): none, i, j, both. */
const STAGE_OF_DEPS = ['P', 'I', 'J', 'Q'] as const satisfies readonly Stage[];

function combine(a: Stage, b: Stage): Stage {
  if (a === b) return a;
  if (a === 'P') return b;
  if (b === 'P') return a;
  return 'Q';
}

class Emitter {
  readonly pre: string[] = [];
  readonly rows: string[][];
  readonly staging: string[] = [];
  readonly pairs: string[][];
  /** Staging-context expressions of the staged scalars, packed four per vec4 array. */
  readonly staged: string[] = [];
  usesPow = false;
  usesTanh = false;
  /** Helper functions of the operators the formula uses, by operator (OP_HELPERS). */
  readonly helpers = new Set<string>();

  /** Records that operator `op` is emitted, so the program includes its helper function (if it has one). */
  private noteHelper(op: string): void {
    if (op === 'tanh') this.usesTanh = true;
    if (op in OP_HELPERS) this.helpers.add(op);
  }

  /** A binary operator's expression, its helper function noted. */
  private binaryExpr(op: string, a: string, b: string): string {
    this.noteHelper(op);
    return binaryExpr(op, a, b);
  }
  /** A loop in the pair code reads y_j from its buffer: the pair body defines j. */
  pairJ = false;
  /** Loop iterations per pair (and per staged point) of the loops over components. */
  loopIterations = 0;
  /** Chunked-mode groups, one per dimension, and the number of partial arrays (one per chunked reduction). */
  readonly chunkGroups: ChunkGroup[] = [];
  chunkedReductions = 0;
  /** Rows r whose chunked norm2 may leave float32's safe range: flag `nr<r>` set, the row's output written as NaN. */
  readonly rangeFlags = new Set<number>();
  private readonly chunkIndex = new Map<string, number>();
  private names = 0;
  private readonly memo = new Map<string, string[]>();
  private readonly index: SlotIndex;

  constructor(slots: FormulaSlots, readonly R: number, readonly options: EmitterOptions = {}) {
    this.rows = Array.from({ length: R }, () => []);
    this.pairs = Array.from({ length: R }, () => []);
    this.index = new SlotIndex(slots);
  }

  /** The parameter float at `offset` (a number or a u32 WGSL expression), from the uniform or the storage buffer. */
  param(offset: number | string): string {
    if (this.options.paramsInStorage) return `P[${offset}${typeof offset === 'number' ? 'u' : ''}]`;
    return typeof offset === 'number' ? `u.p[${offset >> 2}].${LANE[offset & 3]}` : `u.p[(${offset}) >> 2u][(${offset}) & 3u]`;
  }

  private slot(v: VarNode) {
    return this.index.slot(v);
  }

  key(n: Node): string {
    return this.index.key(n);
  }

  stage(n: Node): Stage {
    return STAGE_OF_DEPS[this.index.deps(n)];
  }

  private natural(st: Stage, from: Ctx): Ctx {
    if (st === 'P') return P_CTX;
    if (st === 'J') return J_CTX;
    const r = 'r' in from ? from.r : 0;
    return { k: st, r } as Ctx;
  }

  private scope(ctx: Ctx): string {
    return 'r' in ctx ? `${ctx.k}${ctx.r}` : ctx.k;
  }

  private code(ctx: Ctx): string[] {
    switch (ctx.k) {
      case 'P': return this.pre;
      case 'I': return this.rows[ctx.r]!;
      case 'J': return this.staging;
      case 'Q': return this.pairs[ctx.r]!;
    }
  }

  /** `let tN = expr;` in the context's code; returns tN. */
  private let(ctx: Ctx, expr: string): string {
    const name = `t${this.names++}`;
    this.code(ctx).push(`let ${name} = ${expr};`);
    return name;
  }

  /**
   * A value (one expression per component) known at stage `st`, computed by `make` in its natural
   * context and memoised under `tag`. A J value wanted per pair is read from the staged tile.
   */
  private synth(tag: string, st: Stage, from: Ctx, make: (ctx: Ctx) => string[]): string[] {
    if (st === 'J' && from.k === 'Q') {
      const key = `S|${tag}`;
      const hit = this.memo.get(key);
      if (hit) return hit;
      const values = this.synth(tag, 'J', J_CTX, make);
      const reads = values.map((v) => {
        const s = this.staged.length;
        this.staged.push(v);
        return `sv${s >> 2}.${LANE[s & 3]}`;
      });
      this.memo.set(key, reads);
      return reads;
    }
    const ctx = this.natural(st, from);
    const key = `${this.scope(ctx)}|${tag}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const out = make(ctx);
    this.memo.set(key, out);
    return out;
  }

  /** The components of `n`, usable in context `from`. */
  get(n: Node, from: Ctx): string[] {
    if (n.op === 'const') return [f32Literal(n.value)];
    return this.synth(this.key(n), this.stage(n), from, (ctx) => this.fresh(n, ctx));
  }

  private fresh(n: Node, ctx: Ctx): string[] {
    if (n.dim > UNROLL_MAX_DIM) throw new Error(`internal: a vector of dimension ${n.dim} outside a loop over its components`);
    if ((n.op === 'dot' ? n.left.dim : isReduce(n) ? n.arg.dim : 1) > UNROLL_MAX_DIM) {
      const red = n as ReduceNode | DotNode;
      return ctx.k === 'Q' && this.chunkable(red) ? this.chunkedReduction(red, ctx.r) : this.loopReduction(red, ctx);
    }
    if (n.op === 'var') return this.variable(n, ctx);
    if (n.op === 'const') return [f32Literal(n.value)];
    if (isReduce(n) || n.op === 'dot') {
      let terms: string[];
      if (n.op === 'dot') {
        const a = this.get(n.left, ctx);
        const b = this.get(n.right, ctx);
        const d = Math.max(a.length, b.length);
        terms = Array.from({ length: d }, (_, k) => `${pick(a, k)} * ${pick(b, k)}`);
      } else {
        terms = this.get(n.arg, ctx).map((c) => (n.op === 'sum' ? c : `${c} * ${c}`));
      }
      const s = this.let(ctx, terms.join(' + '));
      if (n.op !== 'norm2') return [s];
      const comps = this.get(n.arg, ctx);
      return [this.guardedNorm2(ctx, s, (m) => [`let ${m} = ${comps.map((c) => `abs(${c})`).reduce((a, b) => `max(${a}, ${b})`)};`],
        (t, sc) => comps.map((c) => `${t} += (${c} * ${sc}) * (${c} * ${sc});`))];
    }
    if (isBinary(n)) {
      if (n.op === 'pow') return this.pow(this.get(n.left, ctx), n.right, () => this.get(n.right, ctx), (x) => this.let(ctx, x));
      const st = this.stage(n);
      if (n.op === 'div' && n.right.dim === 1 && RANK[this.stage(n.right)] < RANK[st]) {
        // division by a loop invariant: a multiply by its reciprocal, formed where it is known
        const inv = this.synth(`inv(${this.key(n.right)})`, this.stage(n.right), ctx,
          (c) => [this.let(c, `1.0 / ${this.get(n.right, c)[0]!}`)])[0]!;
        return this.get(n.left, ctx).map((a) => this.let(ctx, `${a} * ${inv}`));
      }
      const a = this.get(n.left, ctx);
      const b = this.get(n.right, ctx);
      const d = Math.max(a.length, b.length);
      return Array.from({ length: d }, (_, k) => this.let(ctx, this.binaryExpr(n.op, pick(a, k), pick(b, k))));
    }
    if (n.op === 'exp' && n.dim === 1) return [this.scaledExp(n.arg, ctx)];
    if (isUnary(n)) {
      this.noteHelper(n.op);
      return this.get(n.arg, ctx).map((a) => this.let(ctx, unaryExpr(n.op, a)));
    }
    throw new Error(`internal: unknown formula node '${(n as Node).op}'`);
  }

  private variable(v: VarNode, ctx: Ctx): string[] {
    const s = this.slot(v);
    const comps: string[] = [];
    for (let k = 0; k < v.dim; k++) {
      if (s.cat === 'p') {
        comps.push(this.let(ctx, this.param(s.offset + k)));
      } else if (s.cat === 'i') {
        const r = (ctx as { r: number }).r;
        comps.push(this.let(ctx, `I${s.slot}[i${r} * ${v.dim}u + ${k}u]`));
      } else {
        comps.push(this.let(ctx, `J${s.slot}[j * ${v.dim}u + ${k}u]`));
      }
    }
    return comps;
  }

  /**
   * Peels exp's argument into F0 · Πfactors · base, F0 = sign·constant·log₂e folded in float64, the
   * factors loop-invariant relative to the argument (lower stage), kept as run-time operands.
   */
  peel(arg: Node): PeeledExp {
    const st = this.stage(arg);
    let base = arg;
    let sign = 1;
    let constant = 1;
    const factors: { node: Node; invert: boolean }[] = [];
    for (;;) {
      if (base.op === 'neg') { sign = -sign; base = base.arg; continue; }
      if ((base.op === 'mul' || base.op === 'div') && base.right.dim === 1 && RANK[this.stage(base.right)] < RANK[st]) {
        const c = base.right.op === 'const' ? (base.op === 'div' ? constant / base.right.value : constant * base.right.value) : NaN;
        if (Number.isFinite(c) && c !== 0) constant = c; // folded in float64 (a 0 or ∞ factor stays a run-time operand)
        else factors.push({ node: base.right, invert: base.op === 'div' });
        base = base.left;
        continue;
      }
      if (base.op === 'mul' && base.left.dim === 1 && RANK[this.stage(base.left)] < RANK[st]) {
        const c = base.left.op === 'const' ? constant * base.left.value : NaN;
        if (Number.isFinite(c) && c !== 0) constant = c;
        else factors.push({ node: base.left, invert: false });
        base = base.right;
        continue;
      }
      break;
    }
    const F0 = sign * constant * Math.LOG2E;
    const fStage = factors.reduce<Stage>((s, f) => combine(s, this.stage(f.node)), 'P');
    const tag = `F(${F0}${factors.map((f) => `${f.invert ? '/' : '*'}${this.key(f.node)}`).join('')})`;
    return { st, base, F0, factors, fStage, tag };
  }

  /** The folded factor F of a peeled exponent, formed once in its natural context. */
  private factor(p: PeeledExp, from: Ctx): string {
    return this.synth(p.tag, p.fStage, from, (c) => {
      let f = this.let(c, f32Literal(p.F0));
      for (const x of p.factors) f = this.let(c, `${f} ${x.invert ? '/' : '*'} ${this.get(x.node, c)[0]!}`);
      return [f];
    })[0]!;
  }

  /** √(−F) of a Gaussian exponent, once per thread. */
  private gaussianScale(p: PeeledExp, from: Ctx): string {
    return this.synth(`sqrt(-${p.tag})`, 'P', from, (c) => [this.let(c, `sqrt(-${this.factor(p, c)})`)])[0]!;
  }

  /** exp(arg) as exp2 with the loop-invariant factors folded (see the module comment). */
  private scaledExp(arg: Node, ctx: Ctx): string {
    const p = this.peel(arg);
    const { st, base } = p;
    // Gaussian pattern: exp(F·|A − B|²) with A per row, B per point, F ≤ 0 by structure
    if (st === 'Q' && p.fStage === 'P' && base.op === 'sqnorm2' && base.arg.op === 'sub' && base.arg.dim <= UNROLL_MAX_DIM && isNonPositive(arg)) {
      const [l, r] = [base.arg.left, base.arg.right];
      const sl = this.stage(l);
      const sr = this.stage(r);
      if ((sl === 'I' && sr === 'J') || (sl === 'J' && sr === 'I')) {
        const scale = this.gaussianScale(p, ctx);
        const scaled = (side: Node) => this.synth(`scaled(${this.key(side)},${p.tag})`, this.stage(side), ctx,
          (c) => this.get(side, c).map((v) => this.let(c, `${v} * ${scale}`)));
        const a = scaled(l);
        const b = scaled(r);
        const d = Math.max(a.length, b.length);
        const diffs = Array.from({ length: d }, (_, k) => this.let(ctx, `${pick(a, k)} - ${pick(b, k)}`));
        const u = this.let(ctx, diffs.map((x) => `${x} * ${x}`).join(' + '));
        return this.let(ctx, `exp2(-${u})`);
      }
    }
    const b = this.get(base, ctx)[0]!;
    return this.let(ctx, `exp2(${b} * ${this.factor(p, ctx)})`);
  }

  /**
   * The expanded Gaussian for row r (module comment): with x̂ = s(x − c), ŷ = s(y − c), s = √(−F),
   * exp(F|x − y|²) = exp2(−|x̂|²) · exp2(2x̂·ŷ − |ŷ|²). Returns the pair term exp2(2x̂·ŷ − |ŷ|²)
   * (d multiply-adds and one exp2 per pair) and the row factor exp2(−|x̂|²), applied to the sums.
   */
  expandedGaussian(m: ExpandedGaussianMatch, centerOffset: number, r: number): { pair: string; rowFactor: string } {
    const q: Ctx = { k: 'Q', r };
    const p = this.peel(m.formula.arg);
    const scale = this.gaussianScale(p, q);
    const center = this.synth('center', 'P', q, (c) => Array.from({ length: m.dim }, (_, k) => {
      return this.let(c, this.param(centerOffset + k));
    }));
    const row = this.synth(`xg(${p.tag})`, 'I', q, (c) => {
      const x = this.get(m.iVar, c).map((v, k) => this.let(c, `(${v} - ${center[k]!}) * ${scale}`));
      const a = this.let(c, x.map((v) => `${v} * ${v}`).join(' + '));
      return [this.let(c, `exp2(-${a})`), ...x.map((v) => this.let(c, `2.0 * ${v}`))];
    });
    const point = this.synth(`yg(${p.tag})`, 'J', q, (c) => {
      const y = this.get(m.jVar, c).map((v, k) => this.let(c, `(${v} - ${center[k]!}) * ${scale}`));
      return [...y, this.let(c, `-(${y.map((v) => `${v} * ${v}`).join(' + ')})`)];
    });
    let t = point[m.dim]!;
    for (let k = 0; k < m.dim; k++) t = this.let(q, `fma(${row[k + 1]!}, ${point[k]!}, ${t})`);
    return { pair: this.let(q, `exp2(${t})`), rowFactor: row[0]! };
  }

  /** base^exponent per component of `a`; `b` gives the exponent's components, `put` binds an expression. */
  private pow(a: readonly string[], exponent: Node, b: () => readonly string[], put: (expr: string) => string): string[] {
    if (exponent.op === 'const') {
      const e = exponent.value;
      // exact integer powers by repeated squaring, half-integers through one sqrt (as the CPU backend)
      if (Number.isInteger(e) && Math.abs(e) <= 64) return a.map((c) => this.intPow(c, e, put));
      if (Number.isInteger(e - 0.5) && Math.abs(e) <= 64.5) {
        return a.map((c) => {
          const root = put(`sqrt(${c})`);
          const whole = Math.floor(Math.abs(e));
          const p = whole === 0 ? root : put(`${this.intPow(c, whole, put)} * ${root}`);
          return e < 0 ? put(`1.0 / ${p}`) : p; // 1/x^|e|: +∞ at 0, as Math.pow
        });
      }
    }
    this.usesPow = true;
    const bs = b();
    const d = Math.max(a.length, bs.length);
    return Array.from({ length: d }, (_, k) => put(`pow_(${pick(a, k)}, ${pick(bs, k)})`));
  }

  private intPow(c: string, e: number, put: (expr: string) => string): string {
    if (e === 0) return '1.0f';
    let result: string | undefined;
    let square = c;
    for (let k = Math.abs(e); k > 0; k >>= 1) {
      if (k & 1) result = result === undefined ? square : put(`${result} * ${square}`);
      if (k > 1) square = put(`${square} * ${square}`);
    }
    return e < 0 ? put(`1.0 / ${result!}`) : result!;
  }

  /**
   * A reduction (sum, sqnorm2, norm2, dot) of a vector longer than UNROLL_MAX_DIM, as a loop over its
   * components — KeOps' chunked mode for large D: the element-wise subtree is evaluated for component k in the
   * loop body (reading the points' k-th coordinate from their storage buffers, parameters from the uniform) and
   * accumulated, so the shader does not grow with the dimension. Scalar operands are computed before the loop.
   */
  private loopReduction(n: ReduceNode | DotNode, ctx: Ctx): string[] {
    const dim = n.op === 'dot' ? n.left.dim : n.arg.dim;
    const counter = `k${this.names++}`;
    const acc = `t${this.names++}`;
    // LOOP_CHUNK components per iteration (unrolled), then the remaining ones unrolled after the loop
    const full = Math.floor(dim / LOOP_CHUNK) * LOOP_CHUNK;
    const chunk = (k: (c: number) => string, count: number): string[] => {
      const body: string[] = [];
      for (let c = 0; c < count; c++) {
        const loop: LoopCtx = { body, memo: new Map(), ctx, k: k(c) };
        const term = n.op === 'dot'
          ? `${this.at(n.left, loop)} * ${this.at(n.right, loop)}`
          : ((x) => (n.op === 'sum' ? x : `${x} * ${x}`))(this.at(n.arg, loop));
        body.push(`${acc} += ${term};`);
      }
      return body;
    };
    // the loop and its tail over all components with `update` of component x; norm2's recompute runs it again
    const loopOver = (update: (x: string) => string): string[] => {
      const chunk = (k: (c: number) => string, count: number): string[] => {
        const body: string[] = [];
        for (let c = 0; c < count; c++) body.push(update(this.at(n.op === 'dot' ? n.left : n.arg, { body, memo: new Map(), ctx, k: k(c) })));
        return body;
      };
      const looped = full > 0 ? chunk((c) => `(${counter} + ${c}u)`, LOOP_CHUNK) : [];
      return [
        ...(full > 0 ? [`for (var ${counter} = 0u; ${counter} < ${full}u; ${counter} += ${LOOP_CHUNK}u) {`, ...looped.map((l) => `  ${l}`), '}'] : []),
        ...chunk((c) => `${full + c}u`, dim - full),
      ];
    };
    const looped = full > 0 ? chunk((c) => `(${counter} + ${c}u)`, LOOP_CHUNK) : [];
    const tail = chunk((c) => `${full + c}u`, dim - full);
    const code = this.code(ctx);
    code.push(`var ${acc} = 0.0f;`);
    if (full > 0) {
      code.push(`for (var ${counter} = 0u; ${counter} < ${full}u; ${counter} += ${LOOP_CHUNK}u) {`, ...looped.map((l) => `  ${l}`), '}');
      // norm2's recompute may run the loop twice more (llvmpipe's loop budget counts every iteration)
      if (ctx.k === 'Q' || ctx.k === 'J') this.loopIterations += (n.op === 'norm2' && !this.options.norm2InRange ? 3 : 1) * full / LOOP_CHUNK;
    }
    code.push(...tail);
    if (n.op !== 'norm2') return [acc];
    return [this.guardedNorm2(ctx, acc, (m) => [`var ${m} = 0.0f;`, ...loopOver((x) => `${m} = max(${m}, abs(${x}));`)],
      (t, sc) => loopOver((x) => `${t} += (${x} * ${sc}) * (${x} * ${sc});`))];
  }

  /**
   * norm2 from the sum of squares s: √s, and where s is outside NORM2_SAFE.float32 (formula/norm2-range.ts; rare,
   * a branch per invocation) 2^e·√(Σ (c_k·2^−e)²), with 2^e the power of two of m = max|c_k| (from `max`; its
   * exponent clamped to [2^−126, 2^126], which keeps both factors normal) and the sum from `scaled` — exact scalings,
   * no division, one square root, so the block stays small where a compiler executes it predicated (llvmpipe does).
   * 0 where m = 0 (or NaN beside a NaN component, as s is) and +∞ where m is.
   *
   * Cost (d = 3 Laplacian, `bench/gpu-kernel-cost.mjs`): the `if` in the pair loop costs the product 1.31× on llvmpipe
   * (n = 8,192; as much with a condition never true) and 1.18× on an H100 (n = 65,536); a branchless, always-scaled
   * form measured 1.18× on llvmpipe. Hence `norm2InRange`: where the host proves the points keep every sum of squares
   * in range (norm2InFloat32RangeFor, the common case), none of this is emitted and the loop takes √s.
   */
  private guardedNorm2(ctx: Ctx, s: string, max: (m: string) => string[], scaled: (t: string, scale: string) => string[]): string {
    if (this.options.norm2InRange) return this.let(ctx, `sqrt(${s})`);
    const [r, q, f, m, t, e, sc] = Array.from({ length: 7 }, () => `t${this.names++}`);
    const { tiny, huge } = NORM2_SAFE.float32;
    const bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0]!;
    // one compare: for s ≥ 0 or NaN the bit patterns order as the values, so tiny ≤ s < huge is one unsigned range test;
    // one square root either way, of s or of the scaled sum (m = ∞ gives t = ∞; a NaN component gives NaN in t and s)
    this.code(ctx).push(
      `var ${q} = ${s};`,
      `var ${f} = 1.0f;`,
      `if (bitcast<u32>(${s}) - ${bits(tiny)}u >= ${bits(huge) - bits(tiny)}u) {`,
      ...[
        ...max(m),
        // m's biased exponent, clamped to 1..253: 2^(e−127) and its inverse 2^(127−e) are both normal floats
        `let ${e} = clamp((bitcast<u32>(${m}) >> 23u) & 0xffu, 1u, 253u);`,
        `let ${sc} = bitcast<f32>((254u - ${e}) << 23u);`,
        `var ${t} = 0.0f;`,
        ...scaled(t, sc),
        `${q} = select(${t}, ${s}, ${m} == 0.0f);`,
        `${f} = select(bitcast<f32>(${e} << 23u), 1.0f, ${m} == 0.0f);`,
      ].map((l) => `  ${l}`),
      '}',
      `let ${r} = ${f} * sqrt(${q});`,
    );
    return r;
  }

  /** Component k of `n` in a loop; a scalar `n` is computed before the loop, in the loop's context. */
  private at(n: Node, loop: LoopCtx): string {
    if (n.dim === 1) return this.get(n, loop.ctx)[0]!;
    const key = this.key(n);
    let c = loop.memo.get(key);
    if (c === undefined) {
      c = this.atFresh(n, loop);
      loop.memo.set(key, c);
    }
    return c;
  }

  private atFresh(n: Node, loop: LoopCtx): string {
    const put = (expr: string): string => {
      const name = `t${this.names++}`;
      loop.body.push(`let ${name} = ${expr};`);
      return name;
    };
    const { k, ctx } = loop;
    if (n.op === 'var') {
      const s = this.slot(n);
      if (s.cat === 'p') return put(this.param(`${s.offset}u + ${k}`));
      if (s.cat === 'i') return put(`I${s.slot}[i${(ctx as { r: number }).r} * ${n.dim}u + ${k}]`);
      if (ctx.k === 'Q') this.pairJ = true;
      return put(`J${s.slot}[j * ${n.dim}u + ${k}]`);
    }
    if (isBinary(n)) {
      if (n.op === 'pow') return this.pow([this.at(n.left, loop)], n.right, () => [this.at(n.right, loop)], put)[0]!;
      if (n.op === 'div' && n.right.dim === 1) {
        const inv = this.synth(`inv(${this.key(n.right)})`, this.stage(n.right), ctx,
          (c) => [this.let(c, `1.0 / ${this.get(n.right, c)[0]!}`)])[0]!;
        return put(`${this.at(n.left, loop)} * ${inv}`);
      }
      return put(this.binaryExpr(n.op, this.at(n.left, loop), this.at(n.right, loop)));
    }
    if (isUnary(n)) {
      this.noteHelper(n.op);
      return put(unaryExpr(n.op, this.at(n.arg, loop)));
    }
    throw new Error(`internal: '${n.op}' of dimension ${n.dim} inside a loop over components`);
  }

  /**
   * Whether a pair-stage reduction of a long vector can run in the chunked mode: chunks are on, and every scalar
   * its element-wise body uses is known before the pairs (parameters, per row, or staged per point) — a scalar
   * that depends on the pair would have to be formed inside the chunk loops, before its own reduction is done.
   */
  private chunkable(n: ReduceNode | DotNode): boolean {
    if (!this.options.chunk) return false;
    const ok = (m: Node): boolean => {
      if (m.dim === 1) return m.op === 'const' || this.stage(m) !== 'Q';
      if (m.op === 'var') return true;
      if (isBinary(m)) return ok(m.left) && ok(m.right);
      return isUnary(m) && ok(m.arg);
    };
    return n.op === 'dot' ? ok(n.left) && ok(n.right) : ok(n.arg);
  }

  /** The chunk group of vectors of dimension `dim` (made on first use, with its loop and tail sections). */
  private chunkGroup(dim: number): ChunkGroup {
    let g = this.chunkGroups.find((x) => x.dim === dim);
    if (g) return g;
    const DC = this.options.chunk!;
    const full = Math.floor(dim / DC) * DC;
    const counter = `c${this.chunkGroups.length}`;
    const section = (base: string, count: number, loop: boolean): ChunkSection => ({
      base, count, loop, pre: [], head: [], memo: new Map(), sums: new Map(),
      rows: Array.from({ length: this.R }, () => []), pairs: Array.from({ length: this.R }, () => []),
    });
    const sections = [
      ...(full > 0 ? [section(counter, DC, true)] : []),
      ...(dim > full ? [section(`${full}u`, dim - full, false)] : []),
    ];
    g = { dim, counter, staged: new Map(), sections, reductions: [] };
    this.chunkGroups.push(g);
    return g;
  }

  /**
   * A reduction in the chunked mode for row r: its terms summed chunk by chunk into the private partial array
   * `pc<l>` (emitted by `chunkLoops`); the pair code reads the pair's total after the last chunk.
   */
  private chunkedReduction(n: ReduceNode | DotNode, r: number): string[] {
    const key = this.key(n);
    const g = this.chunkGroup(n.op === 'dot' ? n.left.dim : n.arg.dim);
    let l = this.chunkIndex.get(key);
    if (l === undefined) {
      this.chunkIndex.set(key, (l = this.chunkedReductions++));
      g.reductions.push(l);
    }
    for (const sec of g.sections) {
      const acc = `t${this.names++}`;
      sec.pairs[r]!.push(`var ${acc} = 0.0f;`);
      for (let k = 0; k < sec.count; k++) {
        const at = (m: Node) => this.chunkAt(m, g, sec, r, k);
        const term = n.op === 'dot' ? `${at(n.left)} * ${at(n.right)}` : ((x) => (n.op === 'sum' ? x : `${x} * ${x}`))(at(n.arg));
        sec.pairs[r]!.push(`${acc} += ${term};`);
      }
      let sums = sec.sums.get(l);
      if (!sums) sec.sums.set(l, (sums = []));
      sums[r] = acc;
    }
    const q: Ctx = { k: 'Q', r };
    const total = this.let(q, `pc${l}[jj * ${Math.ceil(this.R / 4)}u + ${r >> 2}u].${LANE[r & 3]}`);
    if (n.op !== 'norm2') return [total];
    // no scaled recompute here (the chunks' partial sums are gone): a sum of squares that overflowed or underflowed
    // (0 excluded: a zero distance is common, an all-underflowed one is not caught) marks the row, whose output is
    // then NaN, which the operators' float32 range check recomputes in float64 and refuses
    if (this.options.norm2InRange) return [this.let(q, `sqrt(${total})`)];
    const { tiny, huge } = NORM2_SAFE.float32;
    this.rangeFlags.add(r);
    this.code(q).push(`if (!(${total} < ${f32Literal(huge)}) || (${total} > 0.0f && ${total} < ${f32Literal(tiny)})) { nr${r} = true; }`);
    return [this.let(q, `sqrt(${total})`)];
  }

  /**
   * Component k of the chunk's section of vector `m` for row r, emitted where its inputs are known: parameter
   * components once per chunk, x_i components once per chunk and row, y_j components from the staged chunk once
   * per point, the rest per pair. Scalars come from their own stage (`chunkable` excludes pair-stage ones).
   */
  private chunkAt(m: Node, g: ChunkGroup, sec: ChunkSection, r: number, k: number): string {
    if (m.dim === 1) return this.get(m, { k: 'Q', r })[0]!;
    const st = this.stage(m);
    const memoKey = `${st === 'P' || st === 'J' ? '' : r}|${k}|${this.key(m)}`;
    const hit = sec.memo.get(memoKey);
    if (hit !== undefined) return hit;
    const code = st === 'P' ? sec.pre : st === 'I' ? sec.rows[r]! : st === 'J' ? sec.head : sec.pairs[r]!;
    const put = (expr: string): string => {
      const name = `t${this.names++}`;
      code.push(`let ${name} = ${expr};`);
      return name;
    };
    const at = (x: Node) => this.chunkAt(x, g, sec, r, k);
    let out: string;
    if (m.op === 'var') {
      const s = this.slot(m);
      if (s.cat === 'p') out = put(this.param(`${s.offset}u + ${sec.base} + ${k}u`));
      else if (s.cat === 'i') out = put(`I${s.slot}[i${r} * ${m.dim}u + ${sec.base} + ${k}u]`);
      else out = `${this.stagedChunk(g, sec, s.slot, k >> 2)}.${LANE[k & 3]}`;
    } else if (isBinary(m)) {
      if (m.op === 'pow') out = this.pow([at(m.left)], m.right, () => [at(m.right)], put)[0]!;
      else if (m.op === 'div' && m.right.dim === 1) {
        const inv = this.synth(`inv(${this.key(m.right)})`, this.stage(m.right), { k: 'Q', r },
          (c) => [this.let(c, `1.0 / ${this.get(m.right, c)[0]!}`)])[0]!;
        out = put(`${at(m.left)} * ${inv}`);
      } else out = put(this.binaryExpr(m.op, at(m.left), at(m.right)));
    } else if (isUnary(m)) {
      this.noteHelper(m.op);
      out = put(unaryExpr(m.op, at(m.arg)));
    } else throw new Error(`internal: '${m.op}' of dimension ${m.dim} inside a chunk`);
    sec.memo.set(memoKey, out);
    return out;
  }

  /** The vec4 of staged components 4·q4 … 4·q4 + 3 of j-variable `slot` for the current point of the chunk. */
  private stagedChunk(g: ChunkGroup, sec: ChunkSection, slot: number, q4: number): string {
    let array = g.staged.get(slot);
    if (!array) g.staged.set(slot, (array = `YC${this.chunkGroups.indexOf(g)}_${slot}`));
    const memoKey = `Y|${slot}|${q4}`;
    let name = sec.memo.get(memoKey);
    if (name === undefined) {
      name = `t${this.names++}`;
      sec.head.push(`let ${name} = ${array}[jj * ${Math.ceil(sec.count / 4)}u + ${q4}u];`);
      sec.memo.set(memoKey, name);
    }
    return name;
  }

  /** Loop iterations a tile of `tile` points costs in the chunk loops (llvmpipe's budget, see `loopReduction`). */
  chunkLoopIterations(tile: number, WG: number): number {
    let total = 0;
    for (const g of this.chunkGroups) {
      for (const sec of g.sections) {
        const passes = sec.loop ? Math.floor(g.dim / sec.count) : 1;
        const staging = g.staged.size > 0 ? Math.ceil((tile * Math.ceil(sec.count / 4)) / WG) : 0;
        total += passes * (staging + tile);
      }
    }
    return total;
  }

  /** Workgroup bytes per staged point of the chunk loops (a vec4 per 4 components of each staged j-variable). */
  chunkBytesPerPoint(): number {
    return this.chunkGroups.reduce((s, g) => s + g.staged.size * 16 * Math.ceil(Math.min(g.dim, this.options.chunk ?? 0) / 4), 0);
  }
}

function pick(components: readonly string[], k: number): string {
  return components.length === 1 ? components[0]! : components[k]!;
}

function unaryExpr(op: string, a: string): string {
  switch (op) {
    case 'neg': return `-${a}`;
    case 'exp': return `exp(${a})`;
    case 'log': return `log(${a})`;
    case 'sqrt': return `sqrt(${a})`;
    case 'rsqrt': return `select(1.0 / sqrt(${a}), 0.0, ${a} == 0.0)`; // KeOps: rsqrt(0) = 0 (scalar-ops.ts); not inverseSqrt, whose precision varies
    case 'abs': return `abs(${a})`;
    case 'square': return `${a} * ${a}`;
    case 'inv': return `1.0 / ${a}`;
    case 'sin': return `sin_(${a})`;
    case 'cos': return `cos_(${a})`;
    case 'tanh': return `tanh_(${a})`;
    case 'sign': return `sign(${a})`;
    case 'step': return `select(0.0, 1.0, ${a} >= 0.0)`; // NaN → 0, as the JS twin
    case 'relu': return `select(${a}, 0.0, ${a} < 0.0)`; // NaN propagates
    case 'sinxdivx': return `select(sin_(${a}) / ${a}, 1.0, ${a} == 0.0)`;
    case 'log1p': return `log1p_(${a})`;
    case 'expm1': return `expm1_(${a})`;
    default: throw new Error(`internal: the WGSL emitter has no unary '${op}'`);
  }
}

function binaryExpr(op: string, a: string, b: string): string {
  switch (op) {
    case 'add': return `${a} + ${b}`;
    case 'sub': return `${a} - ${b}`;
    case 'mul': return `${a} * ${b}`;
    case 'div': return `${a} / ${b}`;
    case 'min': return `min_(${a}, ${b})`;
    case 'max': return `max_(${a}, ${b})`;
    case 'atan2': return `atan2_(${a}, ${b})`;
    case 'ifnonneg': return `select(0.0, ${b}, ${a} >= 0.0)`; // NaN → the else branch, as the JS twin
    case 'ifneg': return `select(${b}, 0.0, ${a} >= 0.0)`;
    default: throw new Error(`internal: the WGSL emitter has no binary '${op}'`);
  }
}

// Non-finite values only at run time: a non-finite constant expression is a shader-creation error.
const HELPERS_ALWAYS = `
fn inf_() -> f32 { return bitcast<f32>(0x7f800000u | u.h.zero); }
fn nan_() -> f32 { return bitcast<f32>(0x7fc00000u | u.h.zero); }`;

// Math.pow semantics in f32: negative bases with integer exponents, NaN for fractional ones.
const HELPER_POW = `
fn pow_(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (x == 0.0) { return select(0.0, inf_(), y < 0.0); }
  var r = exp2(y * log2(abs(x)));
  if (x < 0.0) {
    if (fract(y) != 0.0) { return nan_(); }
    if (fract(y * 0.5) != 0.0) { r = -r; }
  }
  return r;
}`;

// tanh without overflow (no e^x/e^x) and without cancellation near 0 (odd Taylor series for
// |x| < 0.55, truncation error < 1e-7 relative there); builtin tanh precision varies by driver.
const HELPER_TANH = `
fn tanh_(x: f32) -> f32 {
  let a = abs(x);
  let z = x * x;
  let s = x * (1.0 + z * (-0.33333333 + z * (0.13333333 + z * (-0.053968254 + z * (0.021869489 + z * (-0.0088632356 + z * (0.0035921280 + z * -0.0014558344)))))));
  let l = 1.0 - 2.0 / (exp2(a * 2.8853900817779268) + 1.0);
  return select(select(l, -l, x < 0.0), s, a < 0.55);
}`;

/**
 * min and max that give NaN where an operand is NaN, as the CPU's (WASM f32x4.min) and the JS twin's Math.min do:
 * WGSL leaves it to the driver, and llvmpipe returned the other operand — hiding a NaN (sin past its range, a log of
 * a negative number) inside a product that then passed for right.
 */
const HELPER_MINMAX = `
fn min_(a: f32, b: f32) -> f32 { return select(min(a, b), a + b, a != a || b != b); }
fn max_(a: f32, b: f32) -> f32 { return select(max(a, b), a + b, a != a || b != b); }`;

/** |x| from which the GPU's float32 sin/cos give NaN (HELPER_SINCOS: the split's products stop being exact). */
export const GPU_SINCOS_LIMIT = 2 ** 16;

/**
 * sin and cos of float32 (WGSL's builtins are specified on [−π, π] only: llvmpipe's cos of a float32 near 10¹² was off
 * by 1 — formula-fuzz --gpu seed 25, case 28): the WASM float32 scheme (wasm-math.ts `emitSinCos`), q = round(x·2/π),
 * r = x − q·π/2 by a three-part Cody–Waite split (exact products while |q| < 2¹⁶), Taylor polynomials to r⁹ and r⁸ on
 * |r| ≤ π/4, the quadrant from q mod 4. Past |x| = 2¹⁶ the split is no longer exact and the result is NaN, which the
 * float32 product check refuses, naming the entry (the CPU goes on in float64 to 2⁵¹). cos x = sin at quadrant q + 1.
 */
const HELPER_SINCOS = `
fn sincos_(x: f32, shift: i32) -> f32 {
  let q = round(x * 0.63661977);
  let r = ((x - q * 1.5703125) - q * 4.837512969970703125e-4) - q * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-0.16666667 + z * (0.0083333333 + z * (-0.00019841270 + z * 0.0000027557319)));
  let c = 1.0 + z * (-0.5 + z * (0.041666667 + z * (-0.0013888889 + z * 0.000024801587)));
  let quad = (i32(q) + shift) & 3;
  let v = select(s, c, (quad & 1) == 1);
  return select(select(v, -v, (quad & 2) == 2), nan_(), !(abs(x) < ${GPU_SINCOS_LIMIT}.0));
}
fn sin_(x: f32) -> f32 { return sincos_(x, 0); }
fn cos_(x: f32) -> f32 { return sincos_(x, 1); }`;

/**
 * Helper functions of single operators, included where used. log1p and expm1 use series near 0 (where the builtins
 * log(1 + x) and exp(x) − 1 cancel, and WGSL's log is specified only to an absolute 2⁻²¹ on [0.5, 2]): log1p(x) =
 * 2·atanh(s), s = x/(2 + x), to s⁹ for |x| < 0.25 (truncation < 3e-10); expm1 by Taylor to x⁸/8! for |x| < 0.35.
 * atan2 is the WASM emitter's scheme (wasm-math.ts emitAtan2: WGSL's builtin was off by 4e-5 relative on llvmpipe);
 * a GPU does not tell −0 from 0, so atan2(±0, x < 0) is π.
 */
const OP_HELPERS: Readonly<Record<string, string>> = {
  min: HELPER_MINMAX,
  max: HELPER_MINMAX,
  sin: HELPER_SINCOS,
  cos: HELPER_SINCOS,
  sinxdivx: HELPER_SINCOS,
  log1p: `
fn log1p_(x: f32) -> f32 {
  let s = x / (2.0 + x);
  let z = s * s;
  let series = 2.0 * s * (1.0 + z * (0.33333333 + z * (0.2 + z * (0.14285714 + z * 0.11111111))));
  return select(log(1.0 + x), series, abs(x) < 0.25);
}`,
  expm1: `
fn expm1_(x: f32) -> f32 {
  let series = x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.0083333338 + x * (0.0013888889 + x * (0.00019841270 + x * 0.000024801587)))))));
  return select(exp(x) - 1.0, series, abs(x) < 0.35);
}`,
  atan2: `
fn atan2_(y: f32, x: f32) -> f32 {
  let ax = abs(x);
  let ay = abs(y);
  let lo = min(ax, ay);
  let hi = max(ax, ay);
  var t = select(select(lo / hi, 0.0, hi == 0.0), 1.0, lo == inf_());
  let big = t > 0.41421356;
  t = select(t, (t - 1.0) / (t + 1.0), big);
  let h = t / (1.0 + sqrt(1.0 + t * t));
  let z = h * h;
  var r = 2.0 * h * (1.0 + z * (-0.33333333 + z * (0.2 + z * (-0.14285714 + z * 0.11111111))));
  r = select(r, r + 0.78539816, big);
  r = select(r, 1.5707964 - r, ay > ax);
  r = select(r, 3.1415927 - r, x < 0.0);
  return select(select(r, -r, y < 0.0), nan_(), x != x || y != y);
}`,
};

/** The uniform block: header (8 u32) and the parameters. */
function uniformDecl(paramVec4s: number): string {
  return `struct Header { nb: u32, mb: u32, tilesPerSplit: u32, rhsOffset: u32, gx: u32, partStride: u32, outOffset: u32, zero: u32 }
struct Uniforms { h: Header, p: array<vec4<f32>, ${paramVec4s}> }
@group(0) @binding(0) var<uniform> u: Uniforms;`;
}

/**
 * Whether `formula` can use the expanded Gaussian form (module comment): the whole formula is
 * exp(F·|x − y|²) of one i-variable and one j-variable, F parameter-only and negative by value (the plan
 * holds its bound parameters, so the value, not only the structure, decides). The caller decides
 * from the data whether the expanded form is accurate enough (`reduce.ts`: centred, bounded |x̂|²).
 */
export function matchExpandedGaussian(formula: Node, slots: FormulaSlots): ExpandedGaussianMatch | undefined {
  if (formula.op !== 'exp' || formula.dim !== 1) return undefined;
  const e = new Emitter(slots, 1);
  const p = e.peel(formula.arg);
  if (p.st !== 'Q' || p.fStage !== 'P' || p.base.op !== 'sqnorm2' || p.base.arg.op !== 'sub') return undefined;
  const { left, right } = p.base.arg;
  if (left.op !== 'var' || right.op !== 'var' || left.dim !== right.dim) return undefined;
  if (left.dim > UNROLL_MAX_DIM) return undefined; // the expanded form holds x̂ per row: the direct form loops
  const [iVar, jVar] = left.cat === 'i' && right.cat === 'j' ? [left, right]
    : left.cat === 'j' && right.cat === 'i' ? [right, left] : [undefined, undefined];
  if (!iVar || !jVar) return undefined;
  let F = p.F0;
  for (const f of p.factors) {
    const v = compileScalarJs(f.node)(0, 0);
    F = f.invert ? F / v : F * v;
  }
  const scale2 = -F;
  if (!(Number.isFinite(scale2) && scale2 > 0)) return undefined;
  return { formula, iVar, jVar, dim: iVar.dim, scale2 };
}

/**
 * The uniform block (header, then the parameter floats vec4-padded, or `inStorage`: the parameters in the storage
 * array P, the next binding), then one read-only f32 array per i-variable (I0, I1, …) and per j-variable (J0, …).
 */
function pointBindings(slots: FormulaSlots, paramFloats: number, inStorage: boolean): { bindings: BindingSpec[]; decls: string[] } {
  const bindings: BindingSpec[] = [{ binding: 0, type: 'uniform', role: { kind: 'uniform' } }];
  const decls: string[] = [uniformDecl(inStorage ? 1 : Math.max(1, Math.ceil(paramFloats / 4)))];
  if (inStorage) {
    bindings.push({ binding: 1, type: 'read-only-storage', role: { kind: 'params' } });
    decls.push('@group(0) @binding(1) var<storage, read> P: array<f32>;');
  }
  for (const cat of ['i', 'j'] as const) {
    slots[cat].forEach((_, s) => {
      const b = bindings.length;
      bindings.push({ binding: b, type: 'read-only-storage', role: { kind: cat, slot: s } });
      decls.push(`@group(0) @binding(${b}) var<storage, read> ${cat.toUpperCase()}${s}: array<f32>;`);
    });
  }
  return { bindings, decls };
}

const indent = (lines: readonly string[], pad: string) => lines.map((l) => pad + l).join('\n');

/**
 * The start of a tile iteration: jt, then the workgroup's threads compute the tile's staged y_j values (and
 * write `extraWrites`, e.g. the weights) into workgroup memory, between two barriers.
 */
function stageTile(e: Emitter, arrays: number, extraWrites: readonly string[]): string {
  const writes = Array.from({ length: arrays }, (_, a) =>
    `T${a}[q] = vec4<f32>(${[0, 1, 2, 3].map((l) => e.staged[4 * a + l] ?? '0.0').join(', ')});`);
  return `    let jt = t * TILE;
    workgroupBarrier();
    for (var q = lid; q < TILE; q += WG) {
      let j = min(jt + q, mb - 1u);
${indent([...e.staging, ...writes, ...extraWrites], '      ')}
    }
    workgroupBarrier();`;
}

/** Declarations, the helpers the formula uses, the constants and the entry point up to nb and mb. */
function programHead(decls: readonly string[], e: Emitter, WG: number, tile: number): string {
  return `${decls.join('\n')}
${HELPERS_ALWAYS}${e.usesPow ? HELPER_POW : ''}${e.usesTanh ? HELPER_TANH : ''}${[...new Set([...e.helpers].map((op) => OP_HELPERS[op]))].join('')}

const WG: u32 = ${WG}u;
const TILE: u32 = ${tile}u;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let nb = u.h.nb;
  let mb = u.h.mb;`;
}

export interface EmitLimits {
  readonly maxComputeWorkgroupStorageSize: number;
  /** Largest uniform binding (default 64 KiB): longer parameter blocks go to a storage buffer. */
  readonly maxUniformBufferBindingSize?: number;
}

/** Compensated products renormalise their (hi, lo) accumulators every this many terms (see the emitter). */
export const COMPENSATED_RENORM = 16;

/**
 * opq(x) = x, opaque to the shader compiler (x's bits OR'ed with `zero`, a u32 that is 0 at run time, e.g. the
 * header's): what passes through it is rounded where written and not re-associated or folded. Error-free
 * transformations (TwoSum, Dekker's product) need that: llvmpipe's compiler folded TwoSum's error to 0 even
 * through a multiplication by a runtime 1 (measured in a test shader: (−204.94847, −776.49719) lost its error
 * 2⁻¹⁶), while the bitwise form kept every step exact.
 */
export function opaqueHelper(zero: string): string {
  return `fn opq(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) | ${zero}); }\n`;
}
const OPAQUE_HELPER = opaqueHelper('u.h.zero');

/** addPair(a, b): the (hi, lo) pairs a + b by TwoSum of the his, the los added to its error, renormalised (needs opq). */
export const ADD_PAIR_WGSL = `fn addPair(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let s = opq(a.x + b.x);
  let bb = opq(s - a.x);
  let e = (opq(a.x - opq(s - bb)) + opq(b.x - bb)) + a.y + b.y;
  let hi = opq(s + e);
  return vec2<f32>(hi, e - opq(hi - s));
}
`;

/**
 * One compensated term as a WGSL block (needs `opq`): acc + cmp += k·(hi + lo), with w = [hi, hi's high half, hi's
 * low half, lo] (halves split on the host, `packSplit`). TwoProduct p + pe = k·hi exactly — one fma where the
 * device fuses it (`fused`, measured by `fusedMultiplyAdd`), else Dekker's (k split by Veltkamp) — then TwoSum adds
 * p to acc exactly; k·lo and the errors go to cmp. Every rounding that must happen where written goes through opq.
 */
export function compensatedTermWgsl(
  k: string, w: readonly [string, string, string, string], acc: string, cmp: string, fused: boolean, light = false,
): string {
  const [hi, hh, hl, lo] = w;
  const g = guard(light && fused);
  return `{ let kk = ${k}; `
    + (fused
      ? `let p = opq(kk * ${hi}); let pe = fma(kk, ${hi}, -p) + kk * ${lo};`
      : `let p = kk * ${hi}; let c = opq(4097.0 * kk); let kh = opq(c - opq(c - kk)); let kl = kk - kh;`
        + ` let pe = opq(opq(opq(opq(kh * ${hh} - p) + kh * ${hl}) + kl * ${hh}) + kl * ${hl}) + kk * ${lo};`)
    + ` let s = opq(${acc} + p); let bb = opq(s - ${acc}); ${cmp} += (${g(`${acc} - ${g('s - bb')}`)} + ${g('p - bb')}) + pe; ${acc} = s; }`;
}

/** x through `opq`, or as it is where the light guards hold (see KernelShape.lightGuards). */
function guard(light: boolean): (x: string) => string {
  return light ? (x) => `(${x})` : (x) => `opq(${x})`;
}

/**
 * The reduction program for `formula` with the given shape; `tile` is lowered if the staged values
 * do not fit the workgroup memory limit.
 */
/** Each of a thread's R rows' kernel value K(x_i, y_j), and (the expanded Gaussian's) the factor its row's sums take. */
function rowKernels(
  e: Emitter, formula: Node, R: number, expanded: ExpandedGaussianMatch | undefined, slotFloats: number,
): { kernels: string[]; rowFactors: (string | undefined)[] } {
  const kernels: string[] = [];
  const rowFactors: (string | undefined)[] = [];
  for (let r = 0; r < R; r++) {
    if (expanded) {
      const g = e.expandedGaussian(expanded, slotFloats, r);
      kernels.push(g.pair);
      rowFactors.push(g.rowFactor);
    } else {
      kernels.push(e.get(formula, { k: 'Q', r })[0]!);
      rowFactors.push(undefined);
    }
  }
  return { kernels, rowFactors };
}

/**
 * How a pass's weights w_j reach the pair loop: compensated, 4 floats an entry staged with the points — hi, its
 * Veltkamp halves hh + hl (12 bits each, so K-half × w-half products are exact), and lo, element 4(rhsOffset + j) on;
 * one column, one staged scalar; W columns, W/4 vec4 arrays of their own (`tw0`…).
 */
function stageWeights(e: Emitter, W: number, comp: boolean): { weightRead: string[]; weightSplit: [string, string]; weightLo: string } {
  if (comp) {
    const s = e.staged.length;
    e.staged.push(...[0, 1, 2, 3].map((q) => `B[4u * (u.h.rhsOffset + j) + ${q}u]`));
    const at = (q: number) => `sv${(s + q) >> 2}.${LANE[(s + q) & 3]}`;
    return { weightRead: [at(0)], weightSplit: [at(1), at(2)], weightLo: at(3) };
  }
  if (W === 1) {
    const s = e.staged.length;
    e.staged.push(`B[u.h.rhsOffset + j]`);
    return { weightRead: [`sv${s >> 2}.${LANE[s & 3]}`], weightSplit: ['', ''], weightLo: '' };
  }
  return { weightRead: Array.from({ length: W / 4 }, (_, g) => `tw${g}`), weightSplit: ['', ''], weightLo: '' };
}

/** The tile asked for, within the workgroup storage its staged points take (a multiple of the workgroup where it can be). */
function fittedTile(e: Emitter, shape: KernelShape, limits: EmitLimits, bytesPerPoint: number): number {
  const maxTile = Math.floor(limits.maxComputeWorkgroupStorageSize / bytesPerPoint);
  if (maxTile < 1) {
    throw new Error(`the formula stages ${e.staged.length} values per point y_j: ${bytesPerPoint} bytes, more than the device's maxComputeWorkgroupStorageSize (${limits.maxComputeWorkgroupStorageSize})`);
  }
  const WG = shape.workgroupSize;
  return shape.tile > maxTile ? (maxTile >= WG ? WG * Math.floor(maxTile / WG) : maxTile) : shape.tile;
}

/** The program's bindings and declarations: the points and parameters, the right-hand side, the output, the tiles. */
function kernelDeclarations(
  e: Emitter, slots: FormulaSlots,
  k: { paramFloats: number; paramsInStorage: boolean; W: number; G: number; AT: string; arrays: number; tile: number; chunk: number },
): { bindings: BindingSpec[]; decls: string[] } {
  const { W, G, AT, tile } = k;
  const { bindings, decls } = pointBindings(slots, k.paramFloats, k.paramsInStorage);
  const bB = bindings.length;
  bindings.push({ binding: bB, type: 'read-only-storage', role: { kind: 'rhs' } });
  decls.push(`@group(0) @binding(${bB}) var<storage, read> B: array<${W === 1 ? 'f32' : 'vec4<f32>'}>;`);
  const bO = bindings.length;
  bindings.push({ binding: bO, type: 'storage', role: { kind: 'out' } });
  decls.push(`@group(0) @binding(${bO}) var<storage, read_write> O: array<${AT}>;`);
  for (let a = 0; a < k.arrays; a++) decls.push(`var<workgroup> T${a}: array<vec4<f32>, ${tile}>;`);
  if (W !== 1) for (let g = 0; g < G; g++) decls.push(`var<workgroup> TW${g}: array<vec4<f32>, ${tile}>;`);
  for (const cg of e.chunkGroups) {
    for (const array of cg.staged.values()) decls.push(`var<workgroup> ${array}: array<vec4<f32>, ${tile * Math.ceil(Math.min(cg.dim, k.chunk) / 4)}>;`);
  }
  return { bindings, decls };
}

export function emitKernelProgram(
  formula: Node, slots: FormulaSlots, shape: KernelShape, limits: EmitLimits, expanded?: ExpandedGaussianMatch,
): GpuProgram {
  if (formula.dim !== 1) throw new Error(`a kernel formula must be scalar, got dimension ${formula.dim}`);
  if (expanded && expanded.formula !== formula) throw new Error('internal: the expanded-Gaussian match is for another formula');
  const { workgroupSize: WG, rowsPerThread: R, width: W, kahan } = shape;
  const comp = shape.compensated === true;
  const fused = comp && shape.fusedTwoProduct === true;
  const light = fused && shape.lightGuards === true;
  const guarded = guard(light);
  if (comp && W !== 1) throw new Error(`internal: compensated products run one column per pass, got width ${W}`);
  const slotFloats = slots.p.reduce((s, v) => s + v.dim, 0);
  // parameters, then (expanded form) the centre c: in the uniform where they fit, else in a storage buffer
  const paramFloats = slotFloats + (expanded ? expanded.dim : 0);
  const paramsInStorage = shape.paramsInStorage === true
    || HEADER_BYTES + 16 * Math.ceil(paramFloats / 4) > (limits.maxUniformBufferBindingSize ?? DEFAULT_MAX_UNIFORM_BYTES);
  const chunk = shape.dimensionChunk ?? 0;
  if (chunk !== 0 && !(Number.isInteger(chunk) && chunk % 4 === 0 && chunk >= 4 && chunk <= 64)) {
    throw new RangeError(`gpu.dimensionChunk must be a multiple of 4 in [4, 64], got ${String(chunk)}`);
  }
  const e = new Emitter(slots, R, { chunk, paramsInStorage, norm2InRange: shape.norm2InRange === true });
  const { kernels, rowFactors } = rowKernels(e, formula, R, expanded, slotFloats);

  // weights: one staged scalar (W = 1) or W/4 vec4 arrays of their own
  const G = W === 1 ? 1 : W / 4;
  const { weightRead, weightSplit, weightLo } = stageWeights(e, W, comp);
  const arrays = Math.ceil(e.staged.length / 4);
  const bytesPerPoint = 16 * (arrays + (W === 1 ? 0 : G)) + e.chunkBytesPerPoint();
  const tile = fittedTile(e, shape, limits, bytesPerPoint);
  const finalShape: KernelShape = {
    ...shape, tile, dimensionChunk: e.chunkGroups.length > 0 ? chunk : 0, ...(paramsInStorage ? { paramsInStorage } : {}),
  };
  const AT = W === 1 ? 'f32' : 'vec4<f32>';
  const { bindings, decls } = kernelDeclarations(e, slots, { paramFloats, paramsInStorage, W, G, AT, arrays, tile, chunk });

  const rows = Array.from({ length: R }, (_, r) => r);
  const groups = Array.from({ length: G }, (_, g) => g);
  const weightWrites = W === 1 ? [] : groups.map((g) => `TW${g}[q] = B[(u.h.rhsOffset + j) * ${G}u + ${g}u];`);

  const body = [
    ...(e.pairJ ? ['let j = jt + jj;'] : []),
    ...Array.from({ length: arrays }, (_, a) => `let sv${a} = T${a}[jj];`),
    ...(W === 1 ? [] : groups.map((g) => `let tw${g} = TW${g}[jj];`)),
    ...rows.flatMap((r) => [
      ...e.pairs[r]!,
      ...(comp
        // K·(hi + lo) into the pair (acc, cmp) up to the rounding of K·lo (see compensatedTermWgsl)
        ? [compensatedTermWgsl(kernels[r]!, [weightRead[0]!, weightSplit[0], weightSplit[1], weightLo], `acc${r}_0`, `cmp${r}_0`, fused, light)]
        : groups.map((g) => `part${r}_${g} += ${kernels[r]!} * ${weightRead[g]!};`)),
    ]),
  ];
  // compensated: (acc, cmp) renormalised by FastTwoSum (|cmp| ≤ |acc|, cmp holds only errors and K·lo) every
  // RENORM terms. Why: cmp sums ≈ u·|acc| errors, so its own rounding grows as u²·|acc| per term; left alone over
  // T terms that is ≈ u²·T·|acc| (n = 16,384, one split: linear to 9.6e-14 of Σ|K||x| against 7.4e-15 with 16
  // splits); renormalised it stays ≈ u²·√(RENORM·T)·|acc|.
  const renorm = rows.map((r) => `{ let s = opq(acc${r}_0 + cmp${r}_0); cmp${r}_0 = cmp${r}_0 - ${guarded(`s - acc${r}_0`)}; acc${r}_0 = s; }`);
  const renormEvery = comp && tile % COMPENSATED_RENORM === 0 ? COMPENSATED_RENORM : 0;
  const accumulate = comp ? renorm : rows.flatMap((r) => groups.map((g) => kahan
    ? `{ let y = part${r}_${g} - cmp${r}_${g}; let s = acc${r}_${g} + y; cmp${r}_${g} = (s - acc${r}_${g}) - y; acc${r}_${g} = s; }`
    : `acc${r}_${g} += part${r}_${g};`));
  const outIndex = (r: number, g: number) => `(u.h.outOffset + split * u.h.partStride + rowBase + ${r * WG}u) * ${G}u + ${g}u`;
  const rowFactor = (r: number) => (rowFactors[r] ? ` * ${rowFactors[r]}` : '');
  const poison = (r: number, v: string) => (e.rangeFlags.has(r) ? `select(${v}, ${AT}(nan_()), nr${r})` : v);
  const writeRow = (r: number) => comp
    // the pair renormalised (hi = fl(acc + cmp), lo = what hi missed), scaled by the row factor
    ? [`    { let hi = opq(acc${r}_0 + cmp${r}_0); let lo = cmp${r}_0 - ${guarded(`hi - acc${r}_0`)};`,
      `      O[2u * (${outIndex(r, 0)})] = ${poison(r, `hi${rowFactor(r)}`)}; O[2u * (${outIndex(r, 0)}) + 1u] = lo${rowFactor(r)}; }`].join('\n')
    : groups.map((g) => `    O[${outIndex(r, g)}] = ${poison(r, `acc${r}_${g}${rowFactor(r)}`)};`).join('\n');

  const code = `${comp ? OPAQUE_HELPER : ''}${programHead(decls, e, WG, tile)}
  let rowBase = (wid.x + wid.z * u.h.gx) * (WG * ${R}u) + lid;
  let split = wid.y;
${indent(e.pre, '  ')}
${rows.map((r) => `  let i${r} = min(rowBase + ${r * WG}u, nb - 1u);`).join('\n')}
${rows.map((r) => indent(e.rows[r]!, '  ')).filter((s) => s).join('\n')}
${rows.flatMap((r) => groups.map((g) => `  var acc${r}_${g} = ${AT}(0.0);${kahan || comp ? ` var cmp${r}_${g} = ${AT}(0.0);` : ''}`)).join('\n')}
${Array.from({ length: e.chunkedReductions }, (_, l) => `  var pc${l}: array<vec4<f32>, ${tile * Math.ceil(R / 4)}>;`).join('\n')}
${[...e.rangeFlags].map((r) => `  var nr${r} = false;`).join('\n')}
  let tiles = (mb + TILE - 1u) / TILE;
  let tBegin = split * u.h.tilesPerSplit;
  let tEnd = min(tBegin + u.h.tilesPerSplit, tiles);
  for (var t = tBegin; t < tEnd; t++) {
${stageTile(e, arrays, weightWrites)}
${chunkLoops(e, arrays)}
${comp ? '' : rows.flatMap((r) => groups.map((g) => `    var part${r}_${g} = ${AT}(0.0);`)).join('\n')}
    let cnt = min(TILE, mb - jt);
    if (cnt == TILE) {
${renormEvery ? `      for (var j0 = 0u; j0 < TILE; j0 += ${renormEvery}u) {
        for (var jj = j0; jj < j0 + ${renormEvery}u; jj++) {
${indent(body, '          ')}
        }
${indent(renorm, '        ')}
      }` : `      for (var jj = 0u; jj < TILE; jj++) {
${indent(body, '        ')}
      }`}
    } else {
      for (var jj = 0u; jj < cnt; jj++) {
${indent(body, '        ')}
      }
    }
${indent(accumulate, '    ')}
  }
${rows.map((r) => `  if (rowBase + ${r * WG}u < nb) {\n${writeRow(r)}\n  }`).join('\n')}
}
`;
  const key = `wgsl|${formulaKey(formula)}|${shapeKey(finalShape)}${comp ? `|df${renormEvery}` : ''}${expanded ? '|expanded' : ''}`;
  return {
    key, workgroupSize: WG, bindings, code, shape: finalShape, paramFloats, workgroupBytes: tile * bytesPerPoint,
    loopIterationsPerPair: 1 + e.loopIterations + Math.ceil(e.chunkLoopIterations(tile, WG) / tile),
  };
}

/**
 * Sums the per-split partials: O[outOffset + i] (+)= Σ_s part[s·n + i] over n·G vec4s (or
 * scalars). Header fields reused: nb = n·G elements, mb = splits, outOffset (rows), rhsOffset ≠ 0:
 * add to O (column blocks after the first).
 */
export function emitSplitSumProgram(width: PassWidth, workgroupSize = 64, compensated = false): GpuProgram {
  if (compensated) return emitPairSplitSumProgram(workgroupSize);
  const AT = width === 1 ? 'f32' : 'vec4<f32>';
  const G = width === 1 ? 1 : width / 4;
  const code = `${uniformDecl(1)}
@group(0) @binding(1) var<storage, read> Part: array<${AT}>;
@group(0) @binding(2) var<storage, read_write> O: array<${AT}>;

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * ${workgroupSize}u;
  let count = u.h.nb;
  if (e >= count) { return; }
  var s = ${AT}(0.0);
  for (var k = 0u; k < u.h.mb; k++) { s += Part[k * count + e]; }
  let o = u.h.outOffset * ${G}u + e;
  if (u.h.rhsOffset != 0u) { s += O[o]; }
  O[o] = s;
}
`;
  return splitSumProgram(`wgsl-splitsum|w${width}|wg${workgroupSize}`, workgroupSize, code, { width, kahan: false });
}

/** One tag per field of a kernel shape: `shapeKey` covers every field (the type makes a new field need a tag). */
const SHAPE_TAGS: { readonly [K in keyof Required<KernelShape>]: (v: Required<KernelShape>[K]) => string } = {
  workgroupSize: (v) => `wg${v}`,
  rowsPerThread: (v) => `r${v}`,
  tile: (v) => `t${v}`,
  width: (v) => `w${v}`,
  kahan: (v) => (v ? 'kahan' : 'plain'),
  compensated: (v) => (v ? 'df' : ''),
  fusedTwoProduct: (v) => (v ? 'fma' : ''),
  lightGuards: (v) => (v ? 'light' : ''),
  dimensionChunk: (v) => (v ? `dc${v}` : ''),
  paramsInStorage: (v) => (v ? 'pstore' : ''),
  norm2InRange: (v) => (v ? 'n2safe' : ''),
};

/** The part of a program key that a kernel shape decides: every field, in a fixed order. */
export function shapeKey(shape: KernelShape): string {
  const tag = <K extends keyof KernelShape>(k: K) => (shape[k] === undefined ? '' : (SHAPE_TAGS[k] as (v: unknown) => string)(shape[k]));
  return (Object.keys(SHAPE_TAGS) as (keyof KernelShape)[]).map(tag).filter((t) => t !== '').join('|');
}

/**
 * The chunk loops of a tile (KeOps' chunked mode, `KernelShape.dimensionChunk`), after the tile's staging: per
 * group and chunk, the y_j components staged (coalesced vec4 loads) between two barriers, the x_i components read
 * into registers, then per point of the tile the pair terms summed and added to the partial arrays `pc<l>` (the
 * first chunk overwrites what the previous tile left).
 */
function chunkLoops(e: Emitter, arrays: number): string {
  const RG = Math.ceil(e.R / 4);
  const out: string[] = [];
  for (const g of e.chunkGroups) {
    g.sections.forEach((sec, si) => {
      const q4 = Math.ceil(sec.count / 4);
      const staging = [...g.staged].map(([slot, array]) => `${array}[q] = vec4<f32>(${[0, 1, 2, 3].map((l) =>
        `J${slot}[jq * ${g.dim}u + ${sec.loop ? `kq + ${l}u` : `min(kq + ${l}u, ${g.dim - 1}u)`}]`).join(', ')});`);
      const updates = g.reductions.flatMap((l) => Array.from({ length: RG }, (_, rg) => {
        const sums = sec.sums.get(l)!;
        const v = `vec4<f32>(${[0, 1, 2, 3].map((lane) => sums[4 * rg + lane] ?? '0.0').join(', ')})`;
        const at = `pc${l}[jj * ${RG}u + ${rg}u]`;
        if (si > 0) return `${at} += ${v};`;
        return sec.loop ? `${at} = select(${at}, vec4<f32>(0.0), ${sec.base} == 0u) + ${v};` : `${at} = ${v};`;
      }));
      const perPoint = [...sec.head, ...sec.pairs.flat(), ...updates];
      const text = perPoint.join('\n');
      const body = [
        ...(staging.length > 0 ? [
          'workgroupBarrier();',
          `for (var q = lid; q < TILE * ${q4}u; q += WG) {`,
          `  let jq = min(jt + q / ${q4}u, mb - 1u);`,
          `  let kq = ${sec.base} + 4u * (q % ${q4}u);`,
          ...staging.map((l) => `  ${l}`),
          '}',
          'workgroupBarrier();',
        ] : []),
        ...sec.pre,
        ...sec.rows.flat(),
        'for (var jj = 0u; jj < TILE; jj++) {',
        ...Array.from({ length: arrays }, (_, a) => `let sv${a} = T${a}[jj];`).filter((_, a) => text.includes(`sv${a}.`)).map((l) => `  ${l}`),
        ...perPoint.map((l) => `  ${l}`),
        '}',
      ];
      if (sec.loop) out.push(`for (var ${sec.base} = 0u; ${sec.base} < ${Math.floor(g.dim / sec.count) * sec.count}u; ${sec.base} += ${sec.count}u) {`, ...body.map((l) => `  ${l}`), '}');
      else out.push('{', ...body.map((l) => `  ${l}`), '}');
    });
  }
  return indent(out, '    ');
}

/** A split-sum program's bindings (uniform, partials, output) and shape around its code. */
function splitSumProgram(key: string, workgroupSize: number, code: string, shape: Pick<KernelShape, 'width' | 'kahan' | 'compensated'>): GpuProgram {
  return {
    key,
    workgroupSize,
    bindings: [
      { binding: 0, type: 'uniform', role: { kind: 'uniform' } },
      { binding: 1, type: 'read-only-storage', role: { kind: 'part' } },
      { binding: 2, type: 'storage', role: { kind: 'out' } },
    ],
    code,
    shape: { workgroupSize, rowsPerThread: 1, tile: 1, ...shape },
    paramFloats: 0,
    workgroupBytes: 0,
    loopIterationsPerPair: 1,
  };
}

/**
 * The shared frame of the one-row-per-thread programs (materialised blocks, k-min): the formula's emitter, its
 * y_j staged in workgroup tiles sized to the device's limits, the point and parameter bindings, and a program
 * that sweeps every tile for its row — `init` before the sweep, `pair` for each j (its value is `kernel`),
 * `finish` after it.
 */
function rowSweepProgram(
  formula: Node, slots: FormulaSlots, workgroupSize: number, limits: EmitLimits, what: string,
  outputs: (first: number) => { bindings: GpuProgram['bindings']; decls: string[] },
  body: (kernel: string) => { init: string; pair: string; finish: string },
) {
  if (formula.dim !== 1) throw new Error(`a ${what} formula must be scalar, got dimension ${formula.dim}`);
  const WG = workgroupSize;
  const e = new Emitter(slots, 1);
  const kernel = e.get(formula, { k: 'Q', r: 0 })[0]!;
  const arrays = Math.max(1, Math.ceil(e.staged.length / 4));
  const bytesPerPoint = 16 * arrays;
  const maxTile = Math.floor(limits.maxComputeWorkgroupStorageSize / bytesPerPoint);
  if (maxTile < 1) throw new Error(`the formula stages ${e.staged.length} values per point y_j: more than the device's workgroup memory`);
  const tile = Math.min(WG, maxTile);
  const paramFloats = slots.p.reduce((s, v) => s + v.dim, 0);
  const maxUniform = limits.maxUniformBufferBindingSize ?? DEFAULT_MAX_UNIFORM_BYTES;
  if (HEADER_BYTES + 16 * Math.ceil(paramFloats / 4) > maxUniform) {
    throw new RangeError(`the formula's parameters (${paramFloats} floats) exceed the uniform binding limit (${maxUniform} bytes) that ${what} programs read them from`);
  }
  const { bindings, decls } = pointBindings(slots, paramFloats, false);
  const out = outputs(bindings.length);
  bindings.push(...out.bindings);
  decls.push(...out.decls);
  for (let a = 0; a < arrays; a++) decls.push(`var<workgroup> T${a}: array<vec4<f32>, ${tile}>;`);
  const { init, pair, finish } = body(kernel);
  const code = `${programHead(decls, e, WG, tile)}
  let row = (wid.x + wid.z * u.h.gx) * WG + lid;
${indent(e.pre, '  ')}
  let i0 = min(row, nb - 1u);
${indent(e.rows[0]!, '  ')}
${init}  let tiles = (mb + TILE - 1u) / TILE;
  for (var t = 0u; t < tiles; t++) {
${stageTile(e, arrays, [])}
    let cnt = min(TILE, mb - jt);
    for (var jj = 0u; jj < cnt; jj++) {
${indent(Array.from({ length: arrays }, (_, a) => `let sv${a} = T${a}[jj];`), '      ')}
${e.pairJ ? '      let j = jt + jj;\n' : ''}${indent(e.pairs[0]!, '      ')}
${pair}    }
  }
${finish}}
`;
  return {
    tile,
    common: {
      workgroupSize: WG, bindings, code,
      shape: { workgroupSize: WG, rowsPerThread: 1, tile, width: 1 as const, kahan: false },
      paramFloats, workgroupBytes: tile * bytesPerPoint, loopIterationsPerPair: 1 + e.loopIterations,
    },
  };
}

/**
 * Materialises a kernel block column by column: O[a·nb + i] = F(x_i, y_a) for the rows i < nb of the
 * i-variables and the points a < mb of the j-variables — K_mn stored y-major, so that consecutive threads
 * (rows i) write consecutive addresses. The y_a values are staged in workgroup tiles as in the reduction
 * program (same emitter, same stages), in the direct form (no expanded Gaussian: entries are stored, and
 * the direct form is the more accurate). Header fields used: nb, mb.
 */
export function emitKernelBlockProgram(formula: Node, slots: FormulaSlots, workgroupSize: number, limits: EmitLimits): GpuProgram {
  const { tile, common } = rowSweepProgram(formula, slots, workgroupSize, limits, 'kernel block',
    (b) => ({
      bindings: [{ binding: b, type: 'storage', role: { kind: 'out' } }],
      decls: [`@group(0) @binding(${b}) var<storage, read_write> O: array<f32>;`],
    }),
    (kernel) => ({ init: '', pair: `      if (row < nb) { O[(jt + jj) * nb + row] = ${kernel}; }\n`, finish: '' }));
  return { key: `wgsl-block|${formulaKey(formula)}|wg${workgroupSize}|t${tile}`, ...common };
}

/**
 * The split sum of compensated products: elements are (hi, lo) pairs, summed with TwoSum so the
 * pair keeps ≈ float64 accuracy; header as in `emitSplitSumProgram` (nb = pairs per split).
 */
function emitPairSplitSumProgram(workgroupSize: number): GpuProgram {
  const code = `${uniformDecl(1)}
@group(0) @binding(1) var<storage, read> Part: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> O: array<vec2<f32>>;

${OPAQUE_HELPER}
${ADD_PAIR_WGSL}
@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * ${workgroupSize}u;
  let count = u.h.nb;
  if (e >= count) { return; }
  var s = vec2<f32>(0.0, 0.0);
  for (var k = 0u; k < u.h.mb; k++) { s = addPair(s, Part[k * count + e]); }
  let o = u.h.outOffset + e;
  if (u.h.rhsOffset != 0u) { s = addPair(s, O[o]); }
  O[o] = s;
}
`;
  return splitSumProgram(`wgsl-splitsum|pairs|wg${workgroupSize}`, workgroupSize, code, { width: 1, kahan: false, compensated: true });
}

/**
 * The k-min reduction program (min, argmin, k-min and, through −F, max): one thread per row i keeps its k
 * smallest values and their indices in private arrays of k entries (registers or local memory), sorted by
 * insertion, while the workgroup sweeps the y_j in staged tiles — memory O(n·k). Columns arrive in increasing
 * j and insertion is strict, so ties keep the lowest index. NaN values (tested on the bits: WGSL compilers may
 * assume comparisons never see NaN) never enter; a slot no value reached keeps +∞ and index −1.
 * Outputs: V (f32, n×k row-major) and X (i32, n×k).
 */
export function emitKminProgram(formula: Node, slots: FormulaSlots, k: number, workgroupSize: number, limits: EmitLimits): GpuProgram {
  const { tile, common } = rowSweepProgram(formula, slots, workgroupSize, limits, 'k-min',
    (b) => ({
      bindings: [{ binding: b, type: 'storage', role: { kind: 'out' } }, { binding: b + 1, type: 'storage', role: { kind: 'out' } }],
      decls: [`@group(0) @binding(${b}) var<storage, read_write> V: array<f32>;`, `@group(0) @binding(${b + 1}) var<storage, read_write> X: array<i32>;`],
    }),
    (kernel) => ({
      init: `  var bv: array<f32, ${k}>;
  var bx: array<i32, ${k}>;
  for (var p = 0u; p < ${k}u; p++) { bv[p] = bitcast<f32>(0x7f800000u + u.h.zero); bx[p] = -1; } // +∞ (a run-time value: WGSL refuses an ∞ constant)
`,
      pair: `      let v = ${kernel};
      let isNan = (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
      if (!isNan && (v < bv[${k - 1}] || bx[${k - 1}] < 0)) {
        var p = ${k - 1}u;
        loop {
          if (p == 0u) { break; }
          if (!(bv[p - 1u] > v || bx[p - 1u] < 0)) { break; }
          bv[p] = bv[p - 1u];
          bx[p] = bx[p - 1u];
          p = p - 1u;
        }
        bv[p] = v;
        bx[p] = i32(jt + jj);
      }
`,
      finish: `  if (row < nb) {
    for (var p = 0u; p < ${k}u; p++) { V[row * ${k}u + p] = bv[p]; X[row * ${k}u + p] = bx[p]; }
  }
`,
    }));
  return { key: `wgsl-kmin|${formulaKey(formula)}|k${k}|wg${workgroupSize}|t${tile}`, ...common };
}
