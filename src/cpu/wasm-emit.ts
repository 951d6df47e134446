/**
 * Emits a WebAssembly SIMD kernel-reduction program from the formula AST:
 *
 *     out[r][i] += Σ_j F(x_i, y_j, p) · b[r][j]      for i in [iStart, iEnd), all j, every column r
 *
 * Lanes run over j (2 pairs per f64x2 vector, 4 per f32x4). Work is tiled over j (TILE columns):
 * inside a tile each lane accumulates in the product's precision, and the tile's partial sum is
 * added to a float64 accumulator — block summation, which keeps float32 products accurate.
 *
 * Every AST node is placed at the outermost loop where its inputs are known: parameter-only
 * subtrees once per call (so `1/(2σ²)` is a folded constant), x_i-only subtrees once per row,
 * the rest per lane vector. Identical subtrees are computed once (structural CSE), so a formula
 * that writes `sqrt(sqnorm2(x - y))` twice pays for it once.
 *
 * Memory layout (all offsets in bytes, 16-aligned, prepared by `cpu/reduce.ts`):
 *  - i-variable s: n × dim row-major, element type of the lane;
 *  - j-variable s: dim × mPad column-major ("structure of arrays", so lanes load contiguous j);
 *  - parameters: float64 values, all slots packed;
 *  - right-hand sides: columns × mPad, element type of the lane (padding columns hold 0);
 *  - out: columns × n float64.
 * The emitted text only ever contains slot-derived identifiers and numeric literals.
 */
import type { DotNode, Node, ReduceNode, VarNode } from '../formula/ast.js';
import { SlotIndex, type FormulaSlots } from '../formula/slots.js';
import { isBinary, isReduce, isUnary } from '../formula/ast.js';
import {
  emitAtan2, emitExp, emitExp2, emitExpm1, emitLog, emitLog1p, emitPow, emitSinCos, emitSinXDivX, emitTanh, splatConst, type LaneType,
} from './wasm-math.js';
import { isNonPositive } from '../formula/sign.js';
import { UNROLL_MAX_DIM } from '../formula/emit-js.js';
import { NORM2_SAFE } from '../formula/norm2-range.js';

export type CpuDtype = 'float32' | 'float64';
/**
 * 'dense' writes K in the lane element type; 'dense-f32' (float64 programs only) evaluates in
 * float64 and stores K rounded to float32 — the dense cache of a float32 operator: half the
 * memory of float64, and entries carry only their final rounding (no float32 inputs or exp).
 */
export type ProgramColumns = number | 'scratch' | 'dense' | 'dense-f32' | 'kmin';

export type { FormulaSlots } from '../formula/slots.js';

export interface ReductionProgram {
  readonly key: string;
  /** The program's text: emitted at the first reading (the key is known before). */
  readonly wat: string;
  readonly dtype: CpuDtype;
  readonly lane: LaneType;
  /** Pairs per SIMD vector. */
  readonly lanes: number;
  /** Lane vectors per inner-loop iteration; mPad is a multiple of lanes·unroll. */
  readonly unroll: number;
  /** j columns per tile (block summation granularity). */
  readonly tile: number;
  /**
   * Right-hand sides accumulated in registers in one pass, 'scratch' (any count, K tile staged),
   * or 'dense': no reduction, K itself is written to out (n × mPad, lane element type).
   */
  readonly columns: ProgramColumns;
  /** Bytes of per-task scratch needed ('scratch' mode). */
  readonly scratchBytes: number;
  /** How the program visits K's pairs (`PairLayout`). */
  readonly layout: PairLayout;
}

/**
 * How a program visits K's pairs. 'full': every pair. 'mirrored' (K_ij = K_ji, n = m; fused or 'scratch' columns):
 * each pair i ≤ j is evaluated once and feeds both out_i (+= K_ij b_j) and a per-task column accumulator outJ_j
 * (+= K_ij b_i, float64), which the caller adds to out — half the kernel evaluations. 'packed' (the float64 dense
 * modes of a symmetric K): each pair stored once, row i from its lane group's diagonal block on (`packedRowOffset`).
 */
export type PairLayout = 'full' | 'mirrored' | 'packed';

/** Everything that selects a reduction program's code besides its formula: `programKey` is derived from it alone. */
export interface ReductionShape {
  readonly dtype: CpuDtype;
  readonly columns: ProgramColumns;
  readonly layout: PairLayout;
  /**
   * Loop reductions accumulate by fused multiply-adds (relaxed SIMD's `relaxed_madd`: one rounding where mul + add
   * has two), where the host has them (programs.ts `fusedMultiplyAdd`). Default false.
   */
  readonly fma?: boolean;
}

/** The cache key of the program of `shape` for a formula whose structural text (`SlotIndex.text`) is `formulaText`. */
export function programKey(shape: ReductionShape, formulaText: string): string {
  return `wasm|${shape.dtype}|${shape.columns}|${shape.layout}${shape.fma ? '+fma' : ''}|${formulaText}`;
}

/**
 * 'kmin' mode (the min/max/k-min reductions): no right-hand sides; each row i keeps its k smallest values
 * (float64, ascending) at out + 8·k·i and their column indices (int32) at rhs + 4·k·i, k passed as `ncols`.
 * The caller fills values with +∞ and indices with −1. A lane vector enters the scalar insertion (`$cand`)
 * only when one of its lanes is ≤ the row's k-th value, so after the first columns almost every vector costs
 * one compare. Columns arrive in increasing j and insertion is strict, so ties keep the lowest index; NaN
 * values (and padding lanes, set to NaN) never enter.
 */
// One candidate (value v, column j) into the row's sorted buffer: shifted in past the larger values.
function kminCandidate(v: string, j: string): string {
  const val = (p: string) => `(i32.add (local.get $vrow) (i32.shl ${p} (i32.const 3)))`;
  const idx = (p: string) => `(i32.add (local.get $irow) (i32.shl ${p} (i32.const 2)))`;
  const p = '(local.get $kp)';
  const q = '(i32.sub (local.get $kp) (i32.const 1))';
  return `(local.set $cv ${v})
(block $skip
(local.set $kp (i32.sub (local.get $ncols) (i32.const 1)))
(br_if $skip (i32.eqz (i32.or (f64.lt (local.get $cv) (f64.load ${val(p)}))
  (i32.and (i32.eq (i32.load ${idx(p)}) (i32.const -1)) (f64.eq (local.get $cv) (local.get $cv))))))
(block $done (loop $shift
  (br_if $done (i32.eqz (local.get $kp)))
  (br_if $done (i32.eqz (i32.or (f64.gt (f64.load ${val(q)}) (local.get $cv)) (i32.eq (i32.load ${idx(q)}) (i32.const -1)))))
  (f64.store ${val(p)} (f64.load ${val(q)}))
  (i32.store ${idx(p)} (i32.load ${idx(q)}))
  (local.set $kp ${q})
  (br $shift)))
(f64.store ${val(p)} (local.get $cv))
(i32.store ${idx(p)} ${j}))`;
}

/**
 * The lane mask tiny ≤ s < huge of a sum of squares s ≥ 0 (NaN: false), as one integer subtract and compare of the
 * bit patterns: for s ≥ 0 or NaN the bits order as the values, so the test is (bits − bits(tiny)) < bits(huge) −
 * bits(tiny) unsigned — signed after a shift by 2⁶³ where only signed i64x2 compares exist.
 */
function inSafeRange(lane: LaneType, s: string, tiny: number, huge: number): string {
  const view = new DataView(new ArrayBuffer(8));
  if (lane === 'f32x4') {
    const bits = (v: number) => (view.setFloat32(0, v), view.getUint32(0));
    const [lo, span] = [bits(tiny), bits(huge) - bits(tiny)];
    return `(i32x4.lt_u (i32x4.sub ${s} (v128.const i32x4 ${lo} ${lo} ${lo} ${lo})) (v128.const i32x4 ${span} ${span} ${span} ${span}))`;
  }
  const bits = (v: number) => (view.setFloat64(0, v), view.getBigUint64(0));
  const lo = BigInt.asIntN(64, bits(tiny) + (1n << 63n));
  const span = BigInt.asIntN(64, bits(huge) - bits(tiny) - (1n << 63n));
  return `(i64x2.lt_s (i64x2.sub ${s} (v128.const i64x2 ${lo} ${lo})) (v128.const i64x2 ${span} ${span}))`;
}

/** Raised for formulas using a function the SIMD emitter does not implement (JS twin runs them). */
export class UnsupportedInWasm extends Error {}

/** Most right-hand sides held in registers in one fused pass; more go through the scratch tile. */
export const MAX_FUSED_COLUMNS = 4;

const TILE = { float64: 1024, float32: 512 } as const;

/**
 * Reductions (sum, sqnorm2, norm2, dot) over vectors longer than this run as a loop over the components
 * (`emitLoopReduction`), shorter ones unrolled. Why 4: the unrolled form forms every component of the UNROLL lane
 * vectors before summing them, and from d = 5 on the loop measured as fast or faster — symbolic products at d = 32 in
 * 0.42–0.62 of the unrolled form's time, d = 5–8 0.73–1.02 (bench/RESULTS.md, twenty-first session). Both sum the
 * components in the same order: the same bits. (The JS twin and the WGSL emitter keep UNROLL_MAX_DIM.)
 */
export const WASM_UNROLL_MAX_DIM = 4;

// Independent lane vectors per inner iteration: the exp polynomial is a long dependency chain, and
// 8 chains in flight measured fastest here (f64: 1 → 0.22e9, 4 → 0.32e9, 8 → 0.38e9, 16 → 0.24e9 pairs/s).
const UNROLL = 8;

/** Pairs per SIMD vector. */
const LANES = { float64: 2, float32: 4 } as const;

/**
 * Packed symmetric storage of an n×n K with row stride mPad (a multiple of the float64 lane group
 * g = laneGroup('float64')): row i keeps only columns j ≥ c0 = i − i mod g, so the g×g diagonal
 * blocks are stored whole and the rest once, as the upper triangle. Element offset of row i.
 */
export function packedRowOffset(i: number, mPad: number): number {
  const g = laneGroup('float64');
  const b = Math.floor(i / g);
  return g * (b * mPad - (g * b * (b - 1)) / 2) + (i - b * g) * (mPad - b * g);
}

/**
 * The same offset as WAT (i32): `group` = i / g and `row` = i's place in its group (locals or
 * constant expressions), `mPad` the row stride. Both the program that stores a packed K and the
 * product that reads it use this text, so the layout is written once for each side.
 */
export function packedRowOffsetWat(group: string, row: string, mPad: string): string {
  const g = laneGroup('float64');
  const start = `(i32.mul ${group} (i32.const ${g}))`; // c0, the group's first stored column
  return `(i32.add (i32.mul (i32.const ${g}) (i32.sub (i32.mul ${group} ${mPad}) (i32.shr_u (i32.mul (i32.mul ${group} (i32.sub ${group} (i32.const 1))) (i32.const ${g})) (i32.const 1))))`
    + ` (i32.mul ${row} (i32.sub ${mPad} ${start})))`;
}

/** Elements of the packed storage of n rows (see `packedRowOffset`). */
export function packedElements(n: number, mPad: number): number {
  return packedRowOffset(n, mPad);
}

/** Columns per lane group (lanes × unroll): a program's mPad is a multiple of it. */
export function laneGroup(dtype: CpuDtype): number {
  return LANES[dtype] * UNROLL;
}

export function emitReductionProgram(formula: Node, slots: FormulaSlots, shape: ReductionShape): ReductionProgram {
  const { dtype, columns, layout } = shape;
  if (layout === 'mirrored' && typeof columns !== 'number' && columns !== 'scratch') {
    throw new Error(`internal: the mirrored layout needs fused or scratch columns, got '${columns}'`);
  }
  if (layout === 'packed' && !((columns === 'dense' || columns === 'dense-f32') && dtype === 'float64')) {
    throw new Error(`internal: packed storage is for the float64 dense modes, got '${columns}' ${dtype}`);
  }
  if (columns === 'dense-f32' && dtype !== 'float64') throw new Error(`internal: 'dense-f32' evaluates in float64, got dtype ${dtype}`);
  const lane: LaneType = dtype === 'float64' ? 'f64x2' : 'f32x4';
  const lanes = LANES[dtype];
  const elem = dtype === 'float64' ? 8 : 4;
  const tile = tileFor(dtype, slots);
  if (formula.dim !== 1) throw new Error(`a kernel formula must be scalar, got dimension ${formula.dim}`);
  // the text is emitted at its first reading: a host that keeps programs by key (programs.ts) may never need it
  let wat: string | undefined;
  const emitText = (): string => {
    const e = new Emitter(slots, lane, elem, shape.fma === true);
    const kernelLocals: string[] = [];
    for (let u = 0; u < UNROLL; u++) kernelLocals.push(e.emit(formula, u)[0]!);
    return assemble(e, slots, lane, elem, tile, columns, kernelLocals, layout);
  };
  return {
    key: programKey(shape, new SlotIndex(slots).text(formula)),
    get wat() {
      return (wat ??= emitText());
    },
    dtype, lane, lanes, unroll: UNROLL, tile, columns, layout,
    scratchBytes: columns === 'scratch' ? tile * elem : 0,
  };
}

/**
 * j columns per tile: TILE, fewer where the tile's y_j data (Σ dims of the j-variables per column) would not
 * stay in a core's cache while every row of the task sweeps it (large d, see `emitLoopReduction`).
 */
function tileFor(dtype: CpuDtype, slots: FormulaSlots): number {
  const step = laneGroup(dtype);
  const columnBytes = slots.j.reduce((s, v) => s + v.dim, 0) * (dtype === 'float64' ? 8 : 4);
  const fit = Math.floor(TILE_CACHE_BYTES / Math.max(1, columnBytes) / step) * step;
  return Math.max(step, Math.min(TILE[dtype], fit));
}

/** Bytes of y_j data one tile may hold (a share of a core's L2). */
const TILE_CACHE_BYTES = 256 * 1024;

type Stage = 0 | 1 | 2; // 0: once per call, 1: once per row i, 2: per lane vector of j

/** Where a loop over a vector's components is being emitted (see `emitLoopReduction`). */
interface LoopCtx {
  readonly body: string[];
  /** Component locals of this loop: j-dependent nodes per unroll unit, the others shared by all units. */
  readonly memo: Map<string, string>;
  readonly unit: number;
  /** j-variable slots the loop reads (their column pointers advance with k). */
  readonly jSlots: Set<number>;
}

class Emitter {
  readonly prologue: string[] = [];
  readonly row: string[] = [];
  readonly inner: string[][] = Array.from({ length: UNROLL }, () => []);
  readonly v128Locals: string[] = [];
  readonly i32Locals: string[] = [];
  private readonly memo = new Map<string, string[]>();
  private readonly index: SlotIndex;
  /** Stage-2 code goes here instead of inner[u] while a fused loop's operands are emitted. */
  private redirect: string[] | null = null;
  private loops = 0;

  constructor(readonly slots: FormulaSlots, readonly lane: LaneType, readonly elem: number, readonly fma = false) {
    this.index = new SlotIndex(slots);
  }

  newV128(): string {
    const name = `$v${this.v128Locals.length}`;
    this.v128Locals.push(name);
    return name;
  }

  newI32(name: string): string {
    if (!this.i32Locals.includes(name)) this.i32Locals.push(name);
    return name;
  }

  private slot(v: VarNode) {
    return this.index.slot(v);
  }

  key(n: Node): string {
    return this.index.key(n);
  }

  text(root: Node): string {
    return this.index.text(root);
  }

  stage(n: Node): Stage {
    // j-only values are computed per pair here (no staged tiles): j and i+j share stage 2
    return Math.min(this.index.deps(n), 2) as Stage;
  }

  private target(stage: Stage, u: number): string[] {
    return stage === 0 ? this.prologue : stage === 1 ? this.row : this.redirect ?? this.inner[u]!;
  }

  /** Emits `n` (for unroll unit u) and returns one v128 local per component. */
  emit(n: Node, u: number): string[] {
    const stage = this.stage(n);
    const memoKey = stage === 2 ? `${u}|${this.key(n)}` : this.key(n);
    const hit = this.memo.get(memoKey);
    if (hit) return hit;
    const out = this.emitFresh(n, u, stage, this.target(stage, u));
    this.memo.set(memoKey, out);
    return out;
  }

  private set(code: string[], expr: string): string {
    const dst = this.newV128();
    code.push(`(local.set ${dst} ${expr})`);
    return dst;
  }

  private emitFresh(n: Node, u: number, stage: Stage, code: string[]): string[] {
    const L = this.lane;
    const E = this.elem;
    const load = E === 8 ? 'f64.load' : 'f32.load';
    if (n.dim > UNROLL_MAX_DIM) throw new Error(`internal: a vector of dimension ${n.dim} outside a loop over its components`);
    if ((n.op === 'dot' ? n.left.dim : isReduce(n) ? n.arg.dim : 1) > WASM_UNROLL_MAX_DIM) {
      return this.emitLoopReduction(n as ReduceNode | DotNode, u, stage, code);
    }
    if (n.op === 'var') {
      const s = this.slot(n);
      const comps: string[] = [];
      for (let k = 0; k < n.dim; k++) {
        if (s.cat === 'p') {
          const scalar = `(f64.load offset=${(s.offset + k) * 8} (local.get $par))`;
          comps.push(this.set(code, L === 'f64x2' ? `(f64x2.splat ${scalar})` : `(f32x4.splat (f32.demote_f64 ${scalar}))`));
        } else if (s.cat === 'i') {
          comps.push(this.set(code, `(${L}.splat (${load} offset=${k * E} (local.get $ra${s.slot})))`));
        } else {
          const base = this.newI32(`$cb${s.slot}_${k}`);
          comps.push(this.set(code, `(v128.load offset=${u * 16} (i32.add (local.get ${base}) (local.get $jb)))`));
        }
      }
      return comps;
    }
    if (n.op === 'const') return [this.set(code, splatConst(L, n.value))];
    if (n.op === 'norm2') return this.emitNorm2(n, u, stage, code);
    if ((isReduce(n) || n.op === 'dot') && stage === 2) return this.emitReduceAllUnits(n as ReduceNode | DotNode, u, code);
    if (isReduce(n) || n.op === 'dot') return [this.emitUnrolledSum(n as ReduceNode | DotNode, u, code)];
    if (isBinary(n)) {
      if (n.op === 'pow') return this.emitPow(this.emit(n.left, u), n.right, () => this.emit(n.right, u), code);
      if (n.op === 'div' && n.right.dim === 1 && this.stage(n.right) < stage) {
        // division by a loop invariant: multiply by its reciprocal, computed in the outer loop
        const inv = this.emitUnary('inv', this.emit(n.right, u)[0]!, this.target(this.stage(n.right), u));
        return this.emit(n.left, u).map((c) => this.set(code, `(${L}.mul (local.get ${c}) (local.get ${inv}))`));
      }
      const a = this.emit(n.left, u);
      const b = this.emit(n.right, u);
      const d = Math.max(a.length, b.length);
      const comps: string[] = [];
      for (let k = 0; k < d; k++) comps.push(this.emitBinary(n.op, pick(a, k), pick(b, k), code));
      return comps;
    }
    if (n.op === 'exp' && n.dim === 1) return [this.emitScaledExp(n.arg, u, stage, code)];
    if (isUnary(n)) {
      const a = this.emit(n.arg, u);
      return a.map((c) => this.emitUnary(n.op, c, code));
    }
    throw new Error(`internal: unknown formula node '${(n as Node).op}'`);
  }

  /**
   * A reduction (sum, sqnorm2, norm2, dot) of a vector longer than WASM_UNROLL_MAX_DIM, as a loop over its
   * components — KeOps' chunked mode for large D, here from d = 5 (see WASM_UNROLL_MAX_DIM): the element-wise subtree
   * is evaluated for component k in the loop body and accumulated, so code size and locals do not grow with the
   * dimension. Scalar operands of the subtree are computed before the loop, at their own stage. Per lane vector
   * (stage 2) one loop serves all UNROLL units: x_i and parameter components are loaded once per k for all of them, and
   * the units' sums are independent dependency chains.
   */
  private emitLoopReduction(n: ReduceNode | DotNode, u: number, stage: Stage, code: string[]): string[] {
    const L = this.lane;
    const units = stage === 2 ? Array.from({ length: UNROLL }, (_, w) => w) : [u];
    const dim = n.op === 'dot' ? n.left.dim : n.arg.dim;
    const body: string[] = [];
    const memo = new Map<string, string>();
    const jSlots = new Set<number>();
    const saved = this.redirect;
    if (stage === 2) this.redirect = code; // every unit's scalar operands before the loop
    // each unit's term: a value added (sum), or the factors of a product (dot, and the squares of sqnorm2 and norm2)
    const terms: ({ add: string } | { factors: [string, string] })[] = [];
    const comps: string[] = []; // the component local of each unit (norm2's recompute reads them)
    try {
      for (const unit of units) {
        const loop: LoopCtx = { body, memo, unit, jSlots };
        if (n.op === 'dot') {
          terms.push({ factors: [`(local.get ${this.at(n.left, loop)})`, `(local.get ${this.at(n.right, loop)})`] });
        } else {
          const c = this.at(n.arg, loop);
          comps.push(c);
          terms.push(n.op === 'sum' ? { add: `(local.get ${c})` } : { factors: [`(local.get ${c})`, `(local.get ${c})`] });
        }
      }
    } finally {
      this.redirect = saved;
    }
    // acc + a·b fused where the program may (one rounding; the loop's add was a third of its arithmetic at d = 64)
    const accumulate = (acc: string, term: (typeof terms)[number]): string => {
      if ('add' in term) return `(local.set ${acc} (${L}.add (local.get ${acc}) ${term.add}))`;
      const [a, b] = term.factors;
      return this.fma ? `(local.set ${acc} (${L}.relaxed_madd ${a} ${b} (local.get ${acc})))` : `(local.set ${acc} (${L}.add (local.get ${acc}) (${L}.mul ${a} ${b})))`;
    };
    const accs = units.map(() => this.newV128());
    const counter = this.newI32('$kc');
    const pointers = [...jSlots].map((s) => ({ p: this.newI32(`$jp${s}`), s }));
    // the loop over k with `body` (component locals) and `update` (accumulation); replayed by norm2's recompute
    const loopOver = (update: string[]): string[] => {
      const label = `$k${this.loops++}`;
      return [
        `(local.set ${counter} (i32.const 0))`,
        ...pointers.map(({ p, s }) => `(local.set ${p} (i32.add (local.get $J${s}) (local.get $jb)))`),
        `(loop ${label}`,
        ...body,
        ...update,
        `(local.set ${counter} (i32.add (local.get ${counter}) (i32.const 1)))`,
        ...pointers.map(({ p }) => `(local.set ${p} (i32.add (local.get ${p}) (local.get $mBytes)))`),
        `(br_if ${label} (i32.lt_u (local.get ${counter}) (i32.const ${dim}))))`,
      ];
    };
    code.push(
      ...accs.map((a) => `(local.set ${a} (v128.const i64x2 0 0))`),
      ...loopOver(accs.map((a, w) => accumulate(a, terms[w]!))),
    );
    const results = n.op !== 'norm2' ? accs : this.guardedNorm2(accs, code, (then) => {
      const ms = units.map(() => this.set(then, splatConst(L, 0)));
      then.push(...loopOver(units.map((w) => `(local.set ${ms[w]!} (${L}.max (local.get ${ms[w]!}) (${L}.abs (local.get ${comps[w]!}))))`)));
      const ts = units.map(() => this.set(then, splatConst(L, 0)));
      then.push(...loopOver(units.map((w) => this.addScaledSquare(ts[w]!, comps[w]!, ms[w]!))));
      return units.map((w) => ({ m: ms[w]!, t: ts[w]! }));
    });
    if (stage === 2) units.forEach((w) => this.memo.set(`${w}|${this.key(n)}`, [results[w]!]));
    return [results[units.indexOf(u)]!];
  }

  /**
   * norm2 of an unrolled vector. Per lane vector (stage 2) it is formed for every unroll unit at once, so one
   * range check and one branch serve the UNROLL units rather than a branch each.
   */
  private emitNorm2(n: ReduceNode, u: number, stage: Stage, code: string[]): string[] {
    const L = this.lane;
    const units = stage === 2 ? Array.from({ length: UNROLL }, (_, w) => w) : [u];
    const saved = this.redirect;
    if (stage === 2) this.redirect = code;
    const comps: string[][] = [];
    const sums: string[] = [];
    try {
      for (const w of units) {
        sums.push(this.emitUnrolledSum(n, w, code));
        comps.push(this.emit(n.arg, w)); // the components just formed (memoised): the recompute reads them
      }
    } finally {
      this.redirect = saved;
    }
    const roots = this.guardedNorm2(sums, code, (then) => comps.map((c) => {
      const m = this.set(then, `(${L}.abs (local.get ${c[0]!}))`);
      for (const x of c.slice(1)) then.push(`(local.set ${m} (${L}.max (local.get ${m}) (${L}.abs (local.get ${x}))))`);
      const t = this.set(then, splatConst(L, 0));
      for (const x of c) then.push(this.addScaledSquare(t, x, m));
      return { m, t };
    }));
    if (stage === 2) units.forEach((w) => this.memo.set(`${w}|${this.key(n)}`, [roots[w]!]));
    return [roots[units.indexOf(u)]!];
  }

  /**
   * An unrolled reduction (sum, sqnorm2, dot) of the pair stage, formed for every unroll unit at once: the units' sums
   * are independent chains issued together, ahead of what each unit does with its own (an exponential, mostly).
   */
  private emitReduceAllUnits(n: ReduceNode | DotNode, u: number, code: string[]): string[] {
    const saved = this.redirect;
    this.redirect = code;
    const sums: string[] = [];
    try {
      for (let w = 0; w < UNROLL; w++) sums.push(this.emitUnrolledSum(n, w, code));
    } finally {
      this.redirect = saved;
    }
    for (let w = 0; w < UNROLL; w++) this.memo.set(`${w}|${this.key(n)}`, [sums[w]!]);
    return [sums[u]!];
  }

  /** Σ_k of the terms of an unrolled reduction (sum: c_k, sqnorm2 and norm2: c_k², dot: a_k·b_k) for unroll unit u, into `code`. */
  private emitUnrolledSum(n: ReduceNode | DotNode, u: number, code: string[]): string {
    const L = this.lane;
    let terms: string[];
    if (n.op === 'dot') {
      const a = this.emit(n.left, u);
      const b = this.emit(n.right, u);
      const d = Math.max(a.length, b.length);
      terms = [];
      for (let k = 0; k < d; k++) terms.push(`(${L}.mul (local.get ${pick(a, k)}) (local.get ${pick(b, k)}))`);
    } else {
      const a = this.emit(n.arg, u);
      terms = a.map((c) => (n.op === 'sum' ? `(local.get ${c})` : `(${L}.mul (local.get ${c}) (local.get ${c}))`));
    }
    let acc = this.set(code, terms[0]!);
    for (let k = 1; k < terms.length; k++) acc = this.set(code, `(${L}.add (local.get ${acc}) ${terms[k]})`);
    return acc;
  }

  /** `t += (c/m)²`, lane-wise. */
  private addScaledSquare(t: string, c: string, m: string): string {
    const L = this.lane;
    const q = `(${L}.div (local.get ${c}) (local.get ${m}))`;
    return `(local.set ${t} (${L}.add (local.get ${t}) (${L}.mul ${q} ${q})))`;
  }

  /**
   * norm2 from sums of squares (one per unroll unit served): √s per lane; where a lane of any unit has s outside
   * NORM2_SAFE (see formula/norm2-range.ts), one lane-uniform branch (rarely taken) has `recompute` form m = max|c_k|
   * and t = Σ (c_k/m)² for every lane, and m·√t (0 for m = 0, +∞ for m = ∞) replaces √s in the out-of-range lanes.
   */
  private guardedNorm2(sums: string[], code: string[], recompute: (then: string[]) => { m: string; t: string }[]): string[] {
    const L = this.lane;
    const { tiny, huge } = NORM2_SAFE[L === 'f64x2' ? 'float64' : 'float32'];
    const inf = `(${L}.splat (${L === 'f64x2' ? 'f64' : 'f32'}.const inf))`;
    const roots = sums.map((s) => this.set(code, `(${L}.sqrt (local.get ${s}))`));
    // the masks are formed again inside the branch rather than kept live across it
    const ok = (s: string) => inSafeRange(L, `(local.get ${s})`, tiny, huge);
    const allOk = sums.slice(1).reduce((e, s) => `(v128.and ${e} ${ok(s)})`, ok(sums[0]!));
    const then: string[] = [];
    recompute(then).forEach(({ m, t }, w) => {
      const r = this.set(then, `(${L}.mul (local.get ${m}) (${L}.sqrt (local.get ${t})))`);
      then.push(
        `(local.set ${r} (v128.bitselect (local.get ${sums[w]!}) (local.get ${r}) (${L}.eq (local.get ${m}) ${splatConst(L, 0)})))`,
        `(local.set ${r} (v128.bitselect (local.get ${m}) (local.get ${r}) (${L}.eq (local.get ${m}) ${inf})))`,
        `(local.set ${roots[w]!} (v128.bitselect (local.get ${roots[w]!}) (local.get ${r}) ${ok(sums[w]!)}))`,
      );
    });
    code.push(`(if (i32.eqz (${L === 'f64x2' ? 'i64x2' : 'i32x4'}.all_true ${allOk})) (then`, ...then, '))');
    return roots;
  }

  /** Component k (the loop's counter) of `n` in a loop; a scalar `n` is computed before the loop. */
  private at(n: Node, loop: LoopCtx): string {
    if (n.dim === 1) return this.emit(n, loop.unit)[0]!;
    const key = (this.index.deps(n) & 2) === 0 ? this.key(n) : `${loop.unit}|${this.key(n)}`;
    let c = loop.memo.get(key);
    if (c === undefined) {
      c = this.atFresh(n, loop);
      loop.memo.set(key, c);
    }
    return c;
  }

  private atFresh(n: Node, loop: LoopCtx): string {
    const L = this.lane;
    const code = loop.body;
    const k = (shift: number) => `(i32.shl (local.get $kc) (i32.const ${shift}))`;
    if (n.op === 'var') {
      const s = this.slot(n);
      if (s.cat === 'p') {
        const scalar = `(f64.load offset=${s.offset * 8} (i32.add (local.get $par) ${k(3)}))`;
        return this.set(code, L === 'f64x2' ? `(f64x2.splat ${scalar})` : `(f32x4.splat (f32.demote_f64 ${scalar}))`);
      }
      if (s.cat === 'i') {
        const load = this.elem === 8 ? 'f64.load' : 'f32.load';
        return this.set(code, `(${L}.splat (${load} (i32.add (local.get $ra${s.slot}) ${k(this.elem === 8 ? 3 : 2)})))`);
      }
      loop.jSlots.add(s.slot);
      return this.set(code, `(v128.load offset=${loop.unit * 16} (local.get $jp${s.slot}))`);
    }
    if (isBinary(n)) {
      if (n.op === 'pow') return this.emitPow([this.at(n.left, loop)], n.right, () => [this.at(n.right, loop)], code)[0]!;
      if (n.op === 'div' && n.right.dim === 1) {
        // division by a scalar: a multiply by its reciprocal, formed before the loop
        const inv = this.emitUnary('inv', this.at(n.right, loop), this.target(this.stage(n.right), loop.unit));
        return this.set(code, `(${L}.mul (local.get ${this.at(n.left, loop)}) (local.get ${inv}))`);
      }
      return this.emitBinary(n.op, this.at(n.left, loop), this.at(n.right, loop), code);
    }
    if (isUnary(n)) return this.emitUnary(n.op, this.at(n.arg, loop), code);
    throw new Error(`internal: '${n.op}' of dimension ${n.dim} inside a loop over components`);
  }

  private emitUnary(op: string, a: string, code: string[]): string {
    const L = this.lane;
    const one = splatConst(L, 1);
    const zero = splatConst(L, 0);
    switch (op) {
      case 'neg': return this.set(code, `(${L}.neg (local.get ${a}))`);
      case 'abs': return this.set(code, `(${L}.abs (local.get ${a}))`);
      case 'sqrt': return this.set(code, `(${L}.sqrt (local.get ${a}))`);
      // KeOps: rsqrt(0) = 0 (scalar-ops.ts): the +∞ lanes of 1/√0 cleared
      case 'rsqrt': return this.set(code, `(v128.andnot (${L}.div ${one} (${L}.sqrt (local.get ${a}))) (${L}.eq (local.get ${a}) ${zero}))`);
      case 'inv': return this.set(code, `(${L}.div ${one} (local.get ${a}))`);
      case 'square': return this.set(code, `(${L}.mul (local.get ${a}) (local.get ${a}))`);
      case 'relu': return this.set(code, `(${L}.max (local.get ${a}) ${zero})`);
      case 'step': // 1 for x ≥ 0, else 0; NaN → 0, as the JS twin and scalar-ops (NaN ≥ 0 is false)
        return this.set(code, `(v128.and (${L}.ge (local.get ${a}) ${zero}) ${one})`);
      case 'sign':
        return this.keepNaN(a, this.set(code,
          `(${L}.sub (v128.and (${L}.gt (local.get ${a}) ${zero}) ${one}) (v128.and (${L}.lt (local.get ${a}) ${zero}) ${one}))`), code);
      case 'exp': {
        const dst = this.newV128();
        code.push(...emitExp(L, dst, a, this));
        return dst;
      }
      case 'log': {
        const dst = this.newV128();
        code.push(...emitLog(L, dst, a, this));
        return dst;
      }
      case 'sin': case 'cos': {
        const dst = this.newV128();
        code.push(...emitSinCos(L, op, dst, a, this));
        return dst;
      }
      case 'tanh': {
        const dst = this.newV128();
        code.push(...emitTanh(L, dst, a, this));
        return dst;
      }
      case 'sinxdivx': case 'log1p': case 'expm1': {
        const dst = this.newV128();
        const emitOne = op === 'sinxdivx' ? emitSinXDivX : op === 'log1p' ? emitLog1p : emitExpm1;
        code.push(...emitOne(L, dst, a, this));
        return dst;
      }
      default:
        throw new UnsupportedInWasm(`the WASM SIMD backend has no '${op}'`);
    }
  }

  /**
   * exp(s·b·Πfᵢ^±1) with loop-invariant factors fᵢ (hoisted to an outer loop) is computed as
   * 2^(b·F), F = s·log₂e·Πfᵢ^±1 formed once: the Gaussian's exp(−|x−y|²/(2σ²)) costs one
   * multiply before the exp2 polynomial.
   */
  private emitScaledExp(arg: Node, u: number, stage: Stage, code: string[]): string {
    const L = this.lane;
    let base = arg;
    let sign = 1;
    const factors: { node: Node; invert: boolean }[] = [];
    for (;;) {
      if (base.op === 'neg') { sign = -sign; base = base.arg; continue; }
      if ((base.op === 'mul' || base.op === 'div') && base.right.dim === 1 && this.stage(base.right) < stage) {
        factors.push({ node: base.right, invert: base.op === 'div' });
        base = base.left;
        continue;
      }
      if (base.op === 'mul' && base.left.dim === 1 && this.stage(base.left) < stage) {
        factors.push({ node: base.left, invert: false });
        base = base.right;
        continue;
      }
      break;
    }
    const factorStage = factors.reduce<Stage>((st, f) => Math.max(st, this.stage(f.node)) as Stage, 0);
    const outer = this.target(factorStage, u);
    let F = this.set(outer, splatConst(L, sign * Math.LOG2E));
    for (const f of factors) {
      const v = this.emit(f.node, u)[0]!;
      F = this.set(outer, `(${L}.${f.invert ? 'div' : 'mul'} (local.get ${F}) (local.get ${v}))`);
    }
    const b = this.emit(base, u)[0]!;
    const scaled = this.set(code, `(${L}.mul (local.get ${b}) (local.get ${F}))`);
    const dst = this.newV128();
    code.push(...emitExp2(L, dst, scaled, this, isNonPositive(arg)));
    return dst;
  }

  /**
   * A binary operator other than pow on two locals: one instruction (add, sub, mul, div, min, max), atan2's
   * sequence, or a select for the halves of ifelse (c ≥ 0 is false for NaN, as the JS twin's).
   */
  private emitBinary(op: string, a: string, b: string, code: string[]): string {
    const L = this.lane;
    const nonNegative = `(${L}.ge (local.get ${a}) ${splatConst(L, 0)})`;
    switch (op) {
      case 'atan2': {
        const dst = this.newV128();
        code.push(...emitAtan2(L, dst, a, b, this));
        return dst;
      }
      case 'ifnonneg': return this.set(code, `(v128.and (local.get ${b}) ${nonNegative})`);
      case 'ifneg': return this.set(code, `(v128.andnot (local.get ${b}) ${nonNegative})`);
      default: return this.set(code, `(${L}.${op} (local.get ${a}) (local.get ${b}))`);
    }
  }

  /** NaN inputs give NaN (comparisons alone would map them to 0). */
  private keepNaN(input: string, value: string, code: string[]): string {
    const L = this.lane;
    return this.set(code, `(v128.bitselect (local.get ${input}) (local.get ${value}) (${L}.ne (local.get ${input}) (local.get ${input})))`);
  }

  /** v128 allocator for the elementary-function emitters. */
  v128(): string {
    return this.newV128();
  }

  /** base^exponent per component of `a` (the base's locals); `b` gives the exponent's locals when needed. */
  private emitPow(a: readonly string[], exponent: Node, b: () => readonly string[], code: string[]): string[] {
    const L = this.lane;
    if (exponent.op === 'const') {
      const e = exponent.value;
      // exact integer powers by repeated squaring, half-integers through one sqrt
      if (Number.isInteger(e) && Math.abs(e) <= 64) return a.map((c) => this.intPow(c, e, code));
      if (Number.isInteger(e - 0.5) && Math.abs(e) <= 64.5) {
        return a.map((c) => {
          const root = this.set(code, `(${L}.sqrt (local.get ${c}))`);
          const whole = Math.floor(Math.abs(e)); // |e| = whole + 0.5
          const p = whole === 0 ? root : this.set(code, `(${L}.mul (local.get ${this.intPow(c, whole, code)}) (local.get ${root}))`);
          // negative e: 1/x^|e| (not x^⌊e⌋·√x, which is ∞·0 = NaN at x = 0 where Math.pow gives +∞)
          return e < 0 ? this.set(code, `(${L}.div ${splatConst(L, 1)} (local.get ${p}))`) : p;
        });
      }
    }
    // run-time (or large / fractional) exponents: as Math.pow, including negative bases
    const e = b();
    const d = Math.max(a.length, e.length);
    const comps: string[] = [];
    for (let k = 0; k < d; k++) {
      const dst = this.newV128();
      code.push(...emitPow(L, dst, pick(a, k), pick(e, k), this));
      comps.push(dst);
    }
    return comps;
  }

  private intPow(c: string, e: number, code: string[]): string {
    const L = this.lane;
    if (e === 0) return this.set(code, splatConst(L, 1));
    let result: string | undefined;
    let square = c;
    for (let k = Math.abs(e); k > 0; k >>= 1) {
      if (k & 1) result = result === undefined ? square : this.set(code, `(${L}.mul (local.get ${result}) (local.get ${square}))`);
      if (k > 1) square = this.set(code, `(${L}.mul (local.get ${square}) (local.get ${square}))`);
    }
    return e < 0 ? this.set(code, `(${L}.div ${splatConst(L, 1)} (local.get ${result}))`) : result!;
  }
}

function pick(components: readonly string[], k: number): string {
  return components.length === 1 ? components[0]! : components[k]!;
}

function hsum(lane: LaneType, acc: string): string {
  const v = lane === 'f64x2'
    ? `(local.get ${acc})`
    : `(f64x2.add (f64x2.promote_low_f32x4 (local.get ${acc})) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get ${acc}) (local.get ${acc}))))`;
  return `(f64.add (f64x2.extract_lane 0 ${v}) (f64x2.extract_lane 1 ${v}))`;
}

/**
 * outJ[j…] += v for one lane vector (unroll unit u) of the float64 mirror accumulator; float32
 * lanes are widened, so the mirrored sums keep float64 accumulation.
 */
function mirrorUpdate(lane: LaneType, base: string, u: number, v: string): string[] {
  if (lane === 'f64x2') {
    const addr = `(i32.add (local.get ${base}) (local.get $jb))`;
    return [`(v128.store offset=${u * 16} ${addr} (f64x2.add (v128.load offset=${u * 16} ${addr}) ${v}))`];
  }
  // f32 lane j ↔ float64 element j: byte offset 2·jb
  const addr = `(i32.add (local.get ${base}) (i32.shl (local.get $jb) (i32.const 1)))`;
  return [
    `(local.set $mirror ${v})`,
    `(v128.store offset=${u * 32} ${addr} (f64x2.add (v128.load offset=${u * 32} ${addr}) (f64x2.promote_low_f32x4 (local.get $mirror))))`,
    `(v128.store offset=${u * 32 + 16} ${addr} (f64x2.add (v128.load offset=${u * 32 + 16} ${addr}) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $mirror) (local.get $mirror)))))`,
  ];
}

/** $thr = splat of the row's k-th smallest value so far (+∞ while the buffer has room). */
function kminThreshold(lane: LaneType): string {
  const kth = '(f64.load (i32.add (local.get $vrow) (i32.shl (i32.sub (local.get $ncols) (i32.const 1)) (i32.const 3))))';
  return `(local.set $thr ${lane === 'f64x2' ? `(f64x2.splat ${kth})` : `(f32x4.splat (f32.demote_f64 ${kth}))`})`;
}

/** One lane vector of the k-min mode: the lanes ≤ the threshold go to `$cand` (see KMIN_CANDIDATE_FUNC). */
function kminUpdate(lane: LaneType, elem: number, u: number, value: string): string[] {
  const lanes = 16 / elem;
  const j0 = `(i32.add (i32.shr_u (local.get $jb) (i32.const ${elem === 8 ? 3 : 2})) (i32.const ${u * lanes}))`;
  const calls: string[] = [];
  for (let l = 0; l < lanes; l++) {
    const v = lane === 'f64x2' ? `(f64x2.extract_lane ${l} (local.get $kv))` : `(f64.promote_f32 (f32x4.extract_lane ${l} (local.get $kv)))`;
    calls.push(kminCandidate(v, `(i32.add ${j0} (i32.const ${l}))`));
  }
  return [
    `(local.set $kv ${value})`,
    `(if (v128.any_true (${lane}.le (local.get $kv) (local.get $thr))) (then`,
    ...calls,
    kminThreshold(lane),
    '))',
  ];
}

/** Right-hand sides per pass over the staged tile in 'scratch' mode: one load of K per SCRATCH_BLOCK multiply-adds. */
const SCRATCH_BLOCK = 4;

/**
 * 'scratch' mode's columns, `width` at a time ($r from its current value up, while `width` columns remain): each
 * loaded vector of the staged K tile feeds `width` accumulators, where one column at a time loads it again for every
 * multiply-add; each column's sum runs in the same order either way. Called with SCRATCH_BLOCK, then 1 for the rest.
 *
 * Symmetric mode stages only the row's columns j ≥ i (from its diagonal lane group, `$gb`, where that lies in the
 * tile) and each staged K_ij also feeds the column's mirror accumulator, outJ_r[j] += K_ij·b_r[i] — half the kernel
 * evaluations, as in the fused modes. In the diagonal group the mirror takes lanes j > i only (mask `$dgt`).
 */
function scratchColumns(e: Emitter, lane: LaneType, elem: number, width: number, symmetric: boolean): string[] {
  const tag = `w${width}`;
  const qs = Array.from({ length: width }, (_, q) => q);
  const accs = qs.map(() => e.newV128());
  const kt = e.newV128();
  const cols = qs.map((q) => e.newI32(`$s${tag}c${q}`));
  const mirrors = symmetric ? qs.map((q) => e.newI32(`$s${tag}o${q}`)) : [];
  const bi = symmetric ? qs.map(() => e.newV128()) : [];
  const load = elem === 8 ? 'f64.load' : 'f32.load';
  const start = e.newI32('$sjb');
  // one lane vector at byte offset `off` from $jb; `mirrorMask` restricts the mirrored lanes (diagonal group)
  const vector = (off: number, mirrorMask?: string): string[] => {
    const lines = [`    (local.set ${kt} (v128.load offset=${off} (i32.add (local.get $scratch) (i32.sub (local.get $jb) (local.get $jt)))))`];
    qs.forEach((q) => lines.push(`    (local.set ${accs[q]} (${lane}.add (local.get ${accs[q]}) (${lane}.mul (local.get ${kt}) (v128.load offset=${off} (i32.add (local.get ${cols[q]}) (local.get $jb))))))`));
    if (symmetric) {
      const km = mirrorMask ? `(v128.and (local.get ${kt}) ${mirrorMask})` : `(local.get ${kt})`;
      const u = off / 16; // mirrorUpdate's unit: 16 bytes of lanes
      qs.forEach((q) => lines.push(...mirrorUpdate(lane, mirrors[q]!, u, `(${lane}.mul ${km} (local.get ${bi[q]}))`).map((l) => `    ${l}`)));
    }
    return lines;
  };
  const stepBytes = 16 * UNROLL;
  return [
    `(block $${tag}Done (loop $${tag}Loop`,
    `  (br_if $${tag}Done (i32.gt_u (i32.add (local.get $r) (i32.const ${width})) (local.get $ncols)))`,
    ...accs.map((a) => `  (local.set ${a} (v128.const i64x2 0 0))`),
    `  (local.set ${cols[0]} (i32.add (local.get $rhs) (i32.mul (local.get $r) (local.get $mBytes))))`,
    ...cols.slice(1).map((c, q) => `  (local.set ${c} (i32.add (local.get ${cols[q]}) (local.get $mBytes)))`),
    ...(symmetric
      ? [
          `  (local.set ${mirrors[0]} (i32.add (local.get $outJ) (i32.mul (local.get $r) (i32.shl (local.get $mPad) (i32.const 3)))))`,
          ...mirrors.slice(1).map((o, q) => `  (local.set ${o} (i32.add (local.get ${mirrors[q]}) (i32.shl (local.get $mPad) (i32.const 3))))`),
          ...qs.map((q) => `  (local.set ${bi[q]} (${lane}.splat (${load} (i32.add (local.get ${cols[q]}) (i32.mul (local.get $i) (i32.const ${elem}))))))`),
        ]
      : []),
    `  (local.set $jb (local.get ${start}))`,
    ...(symmetric
      ? [
          // the diagonal group, where it lies in this tile: staged lanes are j ≥ i, mirrored lanes j > i
          '  (if (i32.ge_u (local.get $gb) (local.get $jt)) (then',
          ...Array.from({ length: UNROLL }, (_, u) => vector(u * 16, `(v128.load offset=${u * 16} (local.get $dgt))`)).flat(),
          `    (local.set $jb (i32.add (local.get $jb) (i32.const ${stepBytes})))`,
          '  ))',
        ]
      : []),
    `  (block $${tag}DotDone (loop $${tag}Dot`,
    `    (br_if $${tag}DotDone (i32.ge_u (local.get $jb) (local.get $jtEnd)))`,
    ...vector(0),
    '    (local.set $jb (i32.add (local.get $jb) (i32.const 16)))',
    `    (br $${tag}Dot)))`,
    ...accs.flatMap((a) => [`  ${addToOut('$r', hsum(lane, a))}`, '  (local.set $r (i32.add (local.get $r) (i32.const 1)))']),
    `  (br $${tag}Loop)))`,
  ];
}

/** `out[r·n + i] += value` */
function addToOut(r: string | number, value: string): string {
  const addr = `(i32.add (local.get $out) (i32.shl (i32.add (i32.mul ${typeof r === 'number' ? `(i32.const ${r})` : `(local.get ${r})`} (local.get $n)) (local.get $i)) (i32.const 3)))`;
  return `(f64.store ${addr} (f64.add (f64.load ${addr}) ${value}))`;
}

/**
 * A reduction program's text (see the module comment for its parameters): the per-call set-up, the row set-up, the
 * loops over tiles of columns, rows and lane groups, and the inner body per lane group. The sections are built in
 * this order because each may declare the emitter's locals, whose order is the program's.
 */
function assemble(
  e: Emitter, slots: FormulaSlots, lane: LaneType, elem: number, tile: number, columns: ProgramColumns, kernel: string[], layout: PairLayout,
): string {
  const t = new ProgramText(e, slots, lane, elem, tile, columns, kernel, layout);
  const setup = t.callSetup();
  const rowSetup = t.rowSetup();
  if (t.symmetric) {
    const mirror = t.mirrorSetup();
    setup.push(...mirror.call);
    rowSetup.push(...mirror.row);
  }
  const afterTile = t.afterTile();
  const i32Locals = ['$mBytes', '$mFullBytes', '$jt', '$jtEnd', '$jtFull', '$jb', '$i', '$r',
    '$gb', '$dge', '$dgt', '$padSel', '$mk', '$ones', ...e.i32Locals];
  const tileBytes = tile * elem;
  const body = [
    ...setup,
    ...e.prologue,
    `(local.set $jt ${t.firstTile()})`,
    '(block $tilesDone (loop $tiles',
    '(br_if $tilesDone (i32.ge_u (local.get $jt) (local.get $mBytes)))',
    `(local.set $jtEnd (i32.add (local.get $jt) (i32.const ${tileBytes})))`,
    '(if (i32.gt_u (local.get $jtEnd) (local.get $mBytes)) (then (local.set $jtEnd (local.get $mBytes))))',
    '(local.set $jtFull (local.get $jtEnd))',
    '(if (i32.gt_u (local.get $jtFull) (local.get $mFullBytes)) (then (local.set $jtFull (local.get $mFullBytes))))',
    '(local.set $i (local.get $iStart))',
    '(block $rowsDone (loop $rows',
    t.rowsDone(),
    ...rowSetup,
    ...e.row,
    ...t.accs.map((a) => `(local.set ${a} ${ZERO_V128})`),
    ...t.diagonalGroup(),
    ...t.columnGroups(),
    ...afterTile,
    '(local.set $i (i32.add (local.get $i) (i32.const 1)))',
    '(br $rows)))',
    `(local.set $jt (i32.add (local.get $jt) (i32.const ${tileBytes})))`,
    '(br $tiles)))',
  ];
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    `(func (export "reduce") ${t.params()}`,
    [...new Set(i32Locals)].map((l) => `(local ${l} i32)`).join(' '),
    [...e.v128Locals, '$mirror', '$thr', '$kv'].map((l) => `(local ${l} v128)`).join(' '),
    '(local $cv f64) (local $kp i32)',
    ...body,
    '))',
  ].join('\n');
}

const ZERO_V128 = '(v128.const i64x2 0 0)';

/** A lane-group mask: the 16-byte vector of unit u. */
type UnitMask = ((u: number) => string) | null;

/** The sections of a reduction program's text (`assemble`), over the emitter's kernel locals. */
class ProgramText {
  /** Mirrored layout: each pair once, K_ij·b_i into the per-task column accumulators outJ. */
  readonly symmetric: boolean;
  /** Packed layout: row i stored from its lane group's first column c0 on. */
  readonly packed: boolean;
  readonly stepBytes = 16 * UNROLL;
  /** Columns per lane group. */
  readonly step: number;
  /** Right-hand sides summed in registers (fused modes), else 0. */
  readonly fusedCols: number;
  /** Their accumulators. */
  readonly accs: string[] = [];
  /** Mirrored layout: splat of b_r[i], the weight of the mirrored pair. */
  private readonly bi: string[] = [];

  constructor(
    readonly e: Emitter, readonly slots: FormulaSlots, readonly lane: LaneType, readonly elem: number, readonly tile: number,
    readonly columns: ProgramColumns, readonly kernel: string[], layout: PairLayout,
  ) {
    this.symmetric = layout === 'mirrored';
    this.packed = layout === 'packed';
    this.step = this.stepBytes / elem;
    this.fusedCols = typeof columns === 'number' ? columns : 0;
  }

  private get dense(): boolean {
    return this.columns === 'dense' || this.columns === 'dense-f32';
  }

  params(): string {
    return [
      '(param $iStart i32) (param $iEnd i32) (param $mPad i32) (param $n i32) (param $out i32)',
      '(param $rhs i32) (param $par i32) (param $scratch i32) (param $ncols i32) (param $mFull i32) (param $mask i32)',
      '(param $outJ i32) (param $maskTab i32)',
      ...this.slots.i.map((_, s) => `(param $I${s} i32)`),
      ...this.slots.j.map((_, s) => `(param $J${s} i32)`),
    ].join(' ');
  }

  /** Once per call: column bases of the j-variables and of the right-hand sides. */
  callSetup(): string[] {
    const { e, elem } = this;
    const setup: string[] = [
      `(local.set $mBytes (i32.mul (local.get $mPad) (i32.const ${elem})))`,
      `(local.set $mFullBytes (i32.mul (local.get $mFull) (i32.const ${elem})))`,
    ];
    this.slots.j.forEach((v, s) => {
      for (let k = 0; k < v.dim; k++) {
        if (!e.i32Locals.includes(`$cb${s}_${k}`)) continue; // component never read
        setup.push(`(local.set $cb${s}_${k} (i32.add (local.get $J${s}) (i32.mul (i32.const ${k}) (local.get $mBytes))))`);
      }
    });
    for (let r = 0; r < this.fusedCols; r++) {
      e.newI32(`$b${r}`);
      setup.push(`(local.set $b${r} (i32.add (local.get $rhs) (i32.mul (i32.const ${r}) (local.get $mBytes))))`);
      this.accs.push(e.newV128());
    }
    return setup;
  }

  /** Once per row: the i-variables' row pointers, and where a store's row (or a k-min's candidates) go. */
  rowSetup(): string[] {
    const { e, elem, step, columns } = this;
    const rowSetup = this.slots.i.map((v, s) => {
      e.newI32(`$ra${s}`);
      return `(local.set $ra${s} (i32.add (local.get $I${s}) (i32.mul (local.get $i) (i32.const ${v.dim * elem}))))`;
    });
    if (this.dense && this.packed) {
      // Packed symmetric storage (see `packedRowOffset`): row i holds columns j ≥ c0(i) = i & −step
      // (its lane group of rows; step is the float64 lane group this program runs with).
      e.newI32('$denseRow');
      e.newI32('$c0');
      e.newI32('$blk');
      const storeShift = columns === 'dense' ? 3 : 2;
      const offset = packedRowOffsetWat('(local.get $blk)', `(i32.and (local.get $i) (i32.const ${step - 1}))`, '(local.get $mPad)');
      rowSetup.push(
        `(local.set $blk (i32.shr_u (local.get $i) (i32.const ${Math.log2(step)})))`,
        `(local.set $denseRow (i32.add (local.get $out) (i32.shl ${offset} (i32.const ${storeShift}))))`,
        `(local.set $c0 (i32.mul (i32.and (local.get $i) (i32.const ${-step})) (i32.const ${elem})))`, // in bytes of jb
      );
    } else if (this.dense) {
      e.newI32('$denseRow');
      // dense-f32 rows are mPad float32 wide: half the float64 row bytes
      const rowBytes = columns === 'dense' ? '(local.get $mBytes)' : '(i32.shr_u (local.get $mBytes) (i32.const 1))';
      rowSetup.push(`(local.set $denseRow (i32.add (local.get $out) (i32.mul (local.get $i) ${rowBytes})))`);
    }
    if (columns === 'kmin') {
      e.newI32('$vrow');
      e.newI32('$irow');
      rowSetup.push(
        '(local.set $vrow (i32.add (local.get $out) (i32.shl (i32.mul (local.get $i) (local.get $ncols)) (i32.const 3))))',
        '(local.set $irow (i32.add (local.get $rhs) (i32.shl (i32.mul (local.get $i) (local.get $ncols)) (i32.const 2))))',
        kminThreshold(this.lane),
      );
    }
    return rowSetup;
  }

  /** Mirrored layout: the column accumulators' bases (per call); b_r[i] and the row's diagonal group's masks (per row). */
  mirrorSetup(): { call: string[]; row: string[] } {
    const { e, elem, lane, step, stepBytes } = this;
    const call: string[] = [];
    const row: string[] = [];
    const load = elem === 8 ? 'f64.load' : 'f32.load';
    for (let r = 0; r < this.fusedCols; r++) {
      e.newI32(`$oj${r}`);
      call.push(`(local.set $oj${r} (i32.add (local.get $outJ) (i32.mul (i32.const ${r * 8}) (local.get $mPad))))`);
      this.bi.push(e.newV128());
      row.push(`(local.set ${this.bi[r]} (${lane}.splat (${load} (i32.add (local.get $b${r}) (i32.mul (local.get $i) (i32.const ${elem}))))))`);
    }
    // the row's diagonal lane group and its masks (lanes j ≥ i for out_i, j > i for outJ)
    row.push(
      `(local.set $gb (i32.mul (i32.and (local.get $i) (i32.const ${-step})) (i32.const ${elem})))`,
      `(local.set $dge (i32.add (local.get $maskTab) (i32.mul (i32.and (local.get $i) (i32.const ${step - 1})) (i32.const ${stepBytes}))))`,
      `(local.set $dgt (i32.add (local.get $dge) (i32.const ${step * stepBytes})))`,
      // padding lanes exist only in the last group; elsewhere an all-ones mask
      `(local.set $padSel (select (local.get $mask) (i32.add (local.get $maskTab) (i32.const ${2 * step * stepBytes})) (i32.eq (local.get $gb) (local.get $mFullBytes))))`,
    );
    return { call, row };
  }

  /**
   * One lane group of every unroll unit: the kernel's values, then what the mode does with them. The last lane group
   * may hold padding columns; there K is masked to 0 (padding rhs is 0 too, but an infinite K at a repeated point would
   * give ∞·0 = NaN). The mirrored layout also masks the row's diagonal group: out_i takes lanes j ≥ i, the mirrored
   * outJ lanes j > i.
   */
  innerBody(accMask: UnitMask, mirrorMask: UnitMask): string[] {
    const { e, lane, elem, columns, kernel, accs, bi } = this;
    // where column jb of the row is stored: packed rows start at their column c0
    const denseAt = this.packed ? '(i32.sub (local.get $jb) (local.get $c0))' : '(local.get $jb)';
    const lines: string[] = [];
    for (let u = 0; u < UNROLL; u++) {
      lines.push(...e.inner[u]!);
      const maskedAt = (m: UnitMask, w: number) => (m ? `(v128.and (local.get ${kernel[w]}) ${m(w)})` : `(local.get ${kernel[w]})`);
      const masked = (m: UnitMask) => maskedAt(m, u);
      const k = masked(accMask);
      if (columns === 'dense-f32') {
        // two f64x2 vectors → one f32x4: lanes of vector u−1 then of vector u (UNROLL is even)
        if (u % 2 === 1) {
          const demote = (v: string) => `(f32x4.demote_f64x2_zero ${v})`;
          lines.push(`(v128.store offset=${(u - 1) * 8} (i32.add (local.get $denseRow) (i32.shr_u ${denseAt} (i32.const 1))) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${demote(maskedAt(accMask, u - 1))} ${demote(k)}))`);
        }
      } else if (columns === 'scratch') {
        lines.push(`(v128.store offset=${u * 16} (i32.add (local.get $scratch) (i32.sub (local.get $jb) (local.get $jt))) ${k})`);
      } else if (columns === 'dense') {
        lines.push(`(v128.store offset=${u * 16} (i32.add (local.get $denseRow) ${denseAt}) ${k})`);
      } else if (columns === 'kmin') {
        lines.push(...kminUpdate(lane, elem, u, accMask ? `(v128.bitselect (local.get ${kernel[u]}) ${lane === 'f64x2' ? '(f64x2.splat (f64.const nan))' : '(f32x4.splat (f32.const nan))'} ${accMask(u)})` : `(local.get ${kernel[u]})`));
      } else {
        for (let r = 0; r < this.fusedCols; r++) {
          lines.push(`(local.set ${accs[r]} (${lane}.add (local.get ${accs[r]}) (${lane}.mul ${k} (v128.load offset=${u * 16} (i32.add (local.get $b${r}) (local.get $jb))))))`);
        }
      }
      if (this.symmetric) {
        const km = masked(mirrorMask);
        for (let r = 0; r < this.fusedCols; r++) lines.push(...mirrorUpdate(lane, `$oj${r}`, u, `(${lane}.mul ${km} (local.get ${bi[r]}))`));
      }
    }
    return lines;
  }

  /** After a row's tile: the staged columns' products (scratch mode) or the fused sums added to out. */
  afterTile(): string[] {
    const { e, lane, elem, symmetric } = this;
    if (this.columns === 'scratch') {
      // the row's staged columns start where its tile loop started: its diagonal group (symmetric) or the tile
      return [
        '(local.set $r (i32.const 0))',
        symmetric ? '(local.set $sjb (select (local.get $gb) (local.get $jt) (i32.ge_u (local.get $gb) (local.get $jt))))' : '(local.set $sjb (local.get $jt))',
        ...scratchColumns(e, lane, elem, SCRATCH_BLOCK, symmetric),
        ...scratchColumns(e, lane, elem, 1, symmetric),
      ];
    }
    return this.accs.map((a, r) => addToOut(r, hsum(lane, a)));
  }

  /**
   * A task's first tile. The mirrored and packed layouts need columns j ≥ i only: tiles start at its first row's
   * tile, and a tile serves the rows whose diagonal group starts before its end.
   */
  firstTile(): string {
    const { elem, step, tile } = this;
    return this.symmetric || this.packed
      ? `(i32.mul (i32.div_u (i32.mul (i32.and (local.get $iStart) (i32.const ${-step})) (i32.const ${elem})) (i32.const ${tile * elem})) (i32.const ${tile * elem}))`
      : '(i32.const 0)';
  }

  /** The row loop's exit. */
  rowsDone(): string {
    const { elem, step } = this;
    if (this.symmetric) {
      return `(br_if $rowsDone (i32.or (i32.ge_u (local.get $i) (local.get $iEnd)) (i32.ge_u (i32.mul (local.get $i) (i32.const ${elem})) (local.get $jtEnd))))`;
    }
    // packed rows are ascending: once a row's first stored column is past the tile, so are the rest
    return this.packed
      ? `(br_if $rowsDone (i32.or (i32.ge_u (local.get $i) (local.get $iEnd)) (i32.ge_u (i32.mul (i32.and (local.get $i) (i32.const ${-step})) (i32.const ${elem})) (local.get $jtEnd))))`
      : '(br_if $rowsDone (i32.ge_u (local.get $i) (local.get $iEnd)))';
  }

  /** Where a row's columns start in the tile: its diagonal group, masked (mirrored), its c0 (packed), else the tile's start. */
  diagonalGroup(): string[] {
    if (this.symmetric) {
      return [
        '(local.set $jb (local.get $jt))',
        '(if (i32.ge_u (local.get $gb) (local.get $jt)) (then',
        '(local.set $jb (local.get $gb))',
        ...this.innerBody(
          (u) => `(v128.and (v128.load offset=${u * 16} (local.get $dge)) (v128.load offset=${u * 16} (local.get $padSel)))`,
          (u) => `(v128.load offset=${u * 16} (local.get $dgt))`,
        ),
        `(local.set $jb (i32.add (local.get $jb) (i32.const ${this.stepBytes})))`,
        '))',
      ];
    }
    return this.packed
      ? ['(local.set $jb (select (local.get $c0) (local.get $jt) (i32.gt_u (local.get $c0) (local.get $jt))))']
      : ['(local.set $jb (local.get $jt))'];
  }

  /**
   * The row's lane groups in the tile. A store's in one loop whose last group takes the padding mask and every other
   * group the all-ones group after it (v128.and with all ones changes no bit): the loop body once, where two copies of
   * it — the exp and all — made TurboFan's compile of a store's program, on the calling thread before a fresh
   * process's first product, 30–40 % longer (the Laplacian's at d = 3, 68 KB of text: 10–13 ms against 6–9). A product
   * keeps its unmasked loop and the masked group after it (the masks' loads and ands would run at every group of every
   * product).
   */
  columnGroups(): string[] {
    const { stepBytes } = this;
    if (this.dense) {
      return [
        `(local.set $ones (i32.add (local.get $mask) (i32.const ${stepBytes})))`,
        '(block $jDone (loop $jLoop',
        '(br_if $jDone (i32.ge_u (local.get $jb) (local.get $jtEnd)))',
        '(local.set $mk (select (local.get $mask) (local.get $ones) (i32.ge_u (local.get $jb) (local.get $mFullBytes))))',
        ...this.innerBody((u) => `(v128.load offset=${u * 16} (local.get $mk))`, null),
        `(local.set $jb (i32.add (local.get $jb) (i32.const ${stepBytes})))`,
        '(br $jLoop)))',
      ];
    }
    return [
      '(block $jDone (loop $jLoop',
      '(br_if $jDone (i32.ge_u (local.get $jb) (local.get $jtFull)))',
      ...this.innerBody(null, null),
      `(local.set $jb (i32.add (local.get $jb) (i32.const ${stepBytes})))`,
      '(br $jLoop)))',
      '(if (i32.lt_u (local.get $jb) (local.get $jtEnd)) (then',
      ...this.innerBody((u) => `(v128.load offset=${u * 16} (local.get $mask))`, null),
      '))',
    ];
  }
}
