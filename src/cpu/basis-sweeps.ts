/**
 * A basis of long vectors (Lanczos' V, n × slots float64) held in one WebAssembly memory, and the sweeps a Krylov
 * method makes over it in WASM SIMD (f64x2): dots against every basis vector (and w·w), the subtraction of their
 * combination fused with the next pass' dots, and combinations written back in place (thick-restart Ritz vectors).
 * The kernels read the basis where it lies: its vectors are views of the memory, handed to the operator's product
 * without a copy.
 *
 * Each sweep runs chunk by chunk (SWEEP_CHUNK entries): the chunk of the vector being updated (or of the outputs being
 * formed) stays in cache while every basis vector's chunk streams past once, four basis vectors per pass. Axpy-like
 * entries are rounded as plain axpys round them (one term at a time, no fused multiply-add); a dot sums even and
 * odd entries of a chunk apart (the two lanes), and the chunks' sums are added in chunk order — so every result is
 * the same whether a sweep runs on the calling thread or is split over the pool.
 */
import { fixedProgram } from './programs.js';
import { vectorLoop } from './wat-loops.js';
import { runRowRanges } from './reduce.js';
import { acquireMemory, recycleMemory } from './memory-pool.js';
import { poolTasks, poolThreads } from './pool.js';

/** Entries per chunk: 2,048 float64 = 16 KiB, so the updated chunk and a few basis chunks share the L1/L2. */
export const SWEEP_CHUNK = 2048;
const CHUNK_BYTES = SWEEP_CHUNK * 8;
const PAGE = 65536;
/** The largest memory the kernels address: 4 GiB less a page, so no offset they form wraps. */
const MAX_BYTES = 2 ** 32 - PAGE;

const align16 = (b: number) => Math.ceil(b / 16) * 16;
const at = (base: string, off: string) => `(i32.add (local.get ${base}) (local.get ${off}))`;
const slotPointer = (tab: string, q: number) => `(i32.load (i32.add (local.get ${tab}) (i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 2))))`;

/** `(loop)` over the basis vectors in groups of `g` (4, then 1 for the rest), `body` given the group size. */
function groups(count: string, body: (g: number) => string[]): string[] {
  return [4, 1].flatMap((g) => [
    `(block $g${g}Done (loop $g${g}`,
    `(br_if $g${g}Done (i32.gt_u (i32.add (local.get $i) (i32.const ${g})) (local.get ${count})))`,
    ...body(g),
    `(local.set $i (i32.add (local.get $i) (i32.const ${g})))`,
    `(br $g${g})))`,
  ]);
}

/** The chunks [s, e) of bytes [$s0, $e0) of a vector, $cb bytes each: `body` runs once per chunk. */
function chunks(body: string[]): string[] {
  return [
    '(local.set $s (local.get $s0))',
    '(block $cDone (loop $c',
    '(br_if $cDone (i32.ge_u (local.get $s) (local.get $e0)))',
    `(local.set $e (select (local.get $e0) (i32.add (local.get $s) (i32.const ${CHUNK_BYTES})) (i32.lt_u (i32.sub (local.get $e0) (local.get $s)) (i32.const ${CHUNK_BYTES}))))`,
    ...body,
    '(local.set $s (local.get $e))',
    '(br $c)))',
  ];
}

const q4 = (g: number) => Array.from({ length: g }, (_, q) => q);

/**
 * Chunk q's partial dots V_i · w (i < count) into partials[q·count + i]: the lanes summed apart over the chunk, then
 * added. Summed over the chunks in order by the caller, so the result does not depend on how the chunks were split.
 */
function dotsChunk(tab = '$tab', count = '$count'): string[] {
  const partial = (q: number) =>
    `(i32.add (local.get $partials) (i32.shl (i32.add (i32.mul (i32.div_u (local.get $s) (i32.const ${CHUNK_BYTES})) (local.get ${count})) (i32.add (local.get $i) (i32.const ${q}))) (i32.const 3)))`;
  const group = (g: number): string[] => [
    ...q4(g).flatMap((q) => [`(local.set $p${q} ${slotPointer(tab, q)})`, `(local.set $a${q} (v128.const i64x2 0 0))`]),
    '(local.set $t (local.get $s))',
    ...vectorLoop(`v${g}`, 't', '(local.get $e)', [
      `(local.set $x (v128.load ${at('$w', '$t')}))`,
      ...q4(g).map((q) => `(local.set $a${q} (f64x2.add (local.get $a${q}) (f64x2.mul (v128.load ${at(`$p${q}`, '$t')}) (local.get $x))))`),
    ]),
    ...q4(g).map((q) => `(local.set $f${q} (f64.add (f64x2.extract_lane 0 (local.get $a${q})) (f64x2.extract_lane 1 (local.get $a${q}))))`),
    '(if (i32.lt_u (local.get $t) (local.get $e)) (then',
    `(local.set $xs (f64.load ${at('$w', '$t')}))`,
    ...q4(g).map((q) => `(local.set $f${q} (f64.add (local.get $f${q}) (f64.mul (f64.load ${at(`$p${q}`, '$t')}) (local.get $xs))))`),
    '))',
    ...q4(g).map((q) => `(f64.store ${partial(q)} (local.get $f${q}))`),
  ];
  return ['(local.set $i (i32.const 0))', ...groups(count, group)];
}

/**
 * y[t] += Σ_{i<count} coef[i]·V_i[t] for the entries t of chunk [s, e), one term at a time in i; y's entry t lies at
 * byte t + $yd (the vector itself, or a chunk of scratch).
 */
function axpysChunk(): string[] {
  const term = (acc: string, q: number, load: string, splat: boolean) =>
    splat ? `(f64x2.add ${acc} (f64x2.mul (local.get $a${q}) (${load} ${at(`$p${q}`, '$t')})))`
      : `(f64.add ${acc} (f64.mul (local.get $f${q}) (${load} ${at(`$p${q}`, '$t')})))`;
  const group = (g: number): string[] => {
    const vec = q4(g).reduce((acc, q) => term(acc, q, 'v128.load', true), `(v128.load ${at('$yd', '$t')})`);
    let sca = `(f64.load ${at('$yd', '$t')})`;
    for (const q of q4(g)) sca = term(sca, q, 'f64.load', false);
    return [
      ...q4(g).flatMap((q) => [
        `(local.set $p${q} ${slotPointer('$tab', q)})`,
        `(local.set $f${q} (f64.load (i32.add (local.get $coef) (i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 3)))))`,
        `(local.set $a${q} (f64x2.splat (local.get $f${q})))`,
      ]),
      '(local.set $t (local.get $s))',
      ...vectorLoop(`v${g}`, 't', '(local.get $e)', [`(v128.store ${at('$yd', '$t')} ${vec})`]),
      `(if (i32.lt_u (local.get $t) (local.get $e)) (then (f64.store ${at('$yd', '$t')} ${sca})))`,
    ];
  };
  return ['(local.set $i (i32.const 0))', ...groups('$count', group)];
}

const LOCALS = [
  '(local $s i32) (local $e i32) (local $t i32) (local $i i32) (local $yd i32) (local $j i32) (local $src i32) (local $dst i32)',
  '(local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $x v128) (local $xs f64)',
  '(local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $f0 f64) (local $f1 f64) (local $f2 f64) (local $f3 f64)',
].join(' ');

/** Copies bytes [s, e) of the chunk from $src + t to $dst + t (16 at a time, then the odd entry). */
function copyChunk(): string[] {
  return [
    '(local.set $t (local.get $s))',
    ...vectorLoop('k', 't', '(local.get $e)', [`(v128.store ${at('$dst', '$t')} (v128.load ${at('$src', '$t')}))`]),
    `(if (i32.lt_u (local.get $t) (local.get $e)) (then (f64.store ${at('$dst', '$t')} (f64.load ${at('$src', '$t')}))))`,
  ];
}

const params = (names: string[]) => names.map((p) => `(param $${p} i32)`).join(' ');
const MODULE_HEAD = '(module\n(import "env" "mem" (memory 1 65536 shared))';

/** `reduce(tab, count, w, s0, e0, partials)`: the partial dots of bytes [s0, e0) (see dotsChunk). */
export function basisDotsWat(): string {
  return [MODULE_HEAD, `(func (export "reduce") ${params(['tab', 'count', 'w', 's0', 'e0', 'partials'])} ${LOCALS}`, ...chunks(dotsChunk()), '))'].join('\n');
}

/**
 * `reduce(tab, count, coef, w, s0, e0, partials, dtab, dcount)`: w += Σ_{i<count} coef[i]·V_i and then the partial
 * dots of the updated chunk with the dcount vectors of dtab, in one sweep: the second pass of classical Gram–Schmidt
 * (and w·w) reads the basis chunks the update just brought into cache. Each result as the two sweeps apart give it.
 */
export function basisAxpysDotsWat(): string {
  return [
    MODULE_HEAD, `(func (export "reduce") ${params(['tab', 'count', 'coef', 'w', 's0', 'e0', 'partials', 'dtab', 'dcount'])} ${LOCALS}`,
    '(local.set $yd (local.get $w))', ...chunks([...axpysChunk(), ...dotsChunk('$dtab', '$dcount')]), '))',
  ].join('\n');
}

/**
 * `reduce(tab, count, coefs, cols, outTab, scratch, s0, e0)` over bytes [s0, e0): for t < cols,
 * V_outTab[t] ← Σ_{j<count} coefs[t·count + j]·V_j, each chunk of every output formed in scratch (cols chunks) before
 * any is written, so outTab may name inputs. `tab` and `outTab` hold i32 byte offsets of the vectors.
 */
export function basisCombineWat(): string {
  const body = [
    '(local.set $j (i32.const 0))',
    '(block $oDone (loop $o',
    '(br_if $oDone (i32.ge_u (local.get $j) (local.get $cols)))',
    // the scratch row of output j, addressed so that entry t of the chunk lies at t + $yd
    `(local.set $yd (i32.sub (i32.add (local.get $scratch) (i32.mul (local.get $j) (i32.const ${CHUNK_BYTES}))) (local.get $s)))`,
    '(local.set $t (local.get $s))',
    ...vectorLoop('z', 't', '(local.get $e)', [`(v128.store ${at('$yd', '$t')} (v128.const i64x2 0 0))`]),
    `(if (i32.lt_u (local.get $t) (local.get $e)) (then (f64.store ${at('$yd', '$t')} (f64.const 0))))`,
    '(local.set $coef (i32.add (local.get $coefs) (i32.shl (i32.mul (local.get $j) (local.get $count)) (i32.const 3))))',
    ...axpysChunk(),
    '(local.set $j (i32.add (local.get $j) (i32.const 1)))',
    '(br $o)))',
    '(local.set $j (i32.const 0))',
    '(block $wDone (loop $wr',
    '(br_if $wDone (i32.ge_u (local.get $j) (local.get $cols)))',
    `(local.set $src (i32.sub (i32.add (local.get $scratch) (i32.mul (local.get $j) (i32.const ${CHUNK_BYTES}))) (local.get $s)))`,
    '(local.set $dst (i32.load (i32.add (local.get $outTab) (i32.shl (local.get $j) (i32.const 2)))))',
    ...copyChunk(),
    '(local.set $j (i32.add (local.get $j) (i32.const 1)))',
    '(br $wr)))',
  ];
  return [
    MODULE_HEAD, `(func (export "reduce") ${params(['tab', 'count', 'coefs', 'cols', 'outTab', 'scratch', 's0', 'e0'])} (local $coef i32) ${LOCALS}`,
    ...chunks(body), '))',
  ].join('\n');
}

/**
 * `reduce(w, s0, e0, d)`: V_w ← V_w / d over bytes [s0, e0) — a division an entry (not a product with 1/d: the rounding
 * of the plain loop it replaces), so the result is the same however the sweep is split. In WebAssembly because Lanczos
 * divides each new vector by its norm: the loop ran unoptimised in a fresh process (≈ 40 ns an entry).
 */
export function basisDivideWat(): string {
  return [
    MODULE_HEAD, '(func (export "reduce") (param $w i32) (param $s0 i32) (param $e0 i32) (param $d f64) (local $t i32) (local $dv v128)',
    '(local.set $dv (f64x2.splat (local.get $d)))',
    '(local.set $t (local.get $s0))',
    ...vectorLoop('v', 't', '(local.get $e0)', [`(v128.store ${at('$w', '$t')} (f64x2.div (v128.load ${at('$w', '$t')}) (local.get $dv)))`]),
    `(if (i32.lt_u (local.get $t) (local.get $e0)) (then (f64.store ${at('$w', '$t')} (f64.div (f64.load ${at('$w', '$t')}) (local.get $d)))))`,
    '))',
  ].join('\n');
}

const compileDots = fixedProgram('basis-dots', basisDotsWat);
const compileDivide = fixedProgram('basis-divide', basisDivideWat);
const compileAxpysDots = fixedProgram('basis-axpys-dots', basisAxpysDotsWat);
const compileCombine = fixedProgram('basis-combine', basisCombineWat);

/** Multiply-adds (basis vectors × n) from which a sweep goes to the pool; below, the calling thread runs it. */
const POOL_WORK = 1 << 21;

interface Modules { dots: WebAssembly.Module; axpysDots: WebAssembly.Module; combine: WebAssembly.Module; divide: WebAssembly.Module }

/**
 * `slots` vectors of n float64 in one memory (a recycled one where the pool has it: its first touch is the cost at
 * large n), after a header: the slot tables, coefficients, the dots' per-chunk partials, and combine's scratch (one
 * chunk per output per pool thread). Sweeps go over the pool's threads at large n, split at chunk boundaries; every
 * result is the same however they are split.
 */
export class BasisSweeps {
  readonly n: number;
  readonly slots: number;
  private readonly memory: WebAssembly.Memory;
  /** Compiling while the caller's first product runs: the first sweep waits for it. */
  private readonly modules: Promise<Modules>;
  private readonly layout: ReturnType<typeof layoutOf>;
  private released = false;

  /** Bytes a basis of `slots` vectors of n entries needs; over 4 GiB it cannot be made (see `fits`). */
  static bytes(n: number, slots: number): number {
    return layoutOf(n, slots, poolThreads()).bytes;
  }

  /** Whether the basis fits in one WebAssembly memory. */
  static fits(n: number, slots: number): boolean {
    return BasisSweeps.bytes(n, slots) <= MAX_BYTES;
  }

  static async create(n: number, slots: number): Promise<BasisSweeps> {
    if (!(Number.isInteger(n) && n > 0 && Number.isInteger(slots) && slots > 0)) throw new RangeError(`BasisSweeps: bad shape n = ${n}, slots = ${slots}`);
    const layout = layoutOf(n, slots, poolThreads());
    if (layout.bytes > MAX_BYTES) throw new RangeError(`BasisSweeps: ${slots} vectors of ${n} need ${layout.bytes} bytes, over the 4 GiB of a WebAssembly memory`);
    const modules = Promise.all([compileDots(), compileAxpysDots(), compileCombine(), compileDivide()])
      .then(([dots, axpysDots, combine, divide]) => ({ dots, axpysDots, combine, divide }));
    modules.catch(() => undefined); // a failed compile is reported at the first sweep, not as an unhandled rejection
    return new BasisSweeps(n, slots, acquireMemory(Math.ceil(layout.bytes / PAGE)), modules, layout);
  }

  private constructor(n: number, slots: number, memory: WebAssembly.Memory, modules: Promise<Modules>, layout: ReturnType<typeof layoutOf>) {
    this.n = n;
    this.slots = slots;
    this.memory = memory;
    this.modules = modules;
    this.layout = layout;
    const tab = new Int32Array(memory.buffer, layout.tab, slots);
    for (let j = 0; j < slots; j++) tab[j] = this.offset(j);
    new Int32Array(memory.buffer, layout.outTab, slots).set(tab);
  }

  /** Slot j's vector: a view of the memory, valid until `release()`. */
  column(j: number): Float64Array {
    this.check(j, 'slot');
    return new Float64Array(this.memory.buffer, this.offset(j), this.n);
  }

  /** c[i] = V_i · V_w for i < count; returns V_w · V_w (the same sweep): the chunks' partial dots summed in chunk order. */
  async dots(c: Float64Array, count: number, w: number): Promise<number> {
    this.check(w, 'slot');
    this.checkCount(count);
    const dtab = this.dotTable(count, w);
    await this.sweep('dots', count + 1, (s0, e0) => [dtab, count + 1, this.offset(w), s0, e0, this.layout.partials]);
    return this.sumPartials(c, count);
  }

  /** V_w ← V_w / d, entry by entry. */
  async divide(w: number, d: number): Promise<void> {
    this.check(w, 'slot');
    await this.sweep('divide', 1, (s0, e0) => [this.offset(w), s0, e0, d]);
  }

  /** V_w ← V_w − Σ_{i<count} c[i]·V_i; returns the new V_w · V_w (the same sweep). */
  subtract(w: number, count: number, c: Float64Array): Promise<number> {
    return this.subtractThenDots(w, count, c, 0, new Float64Array(0));
  }

  /** `subtract`, then next[i] = V_i · V_w for i < count: the same results in one sweep; returns the new V_w · V_w. */
  subtractAndDots(w: number, count: number, c: Float64Array, next: Float64Array): Promise<number> {
    return this.subtractThenDots(w, count, c, count, next);
  }

  private async subtractThenDots(w: number, count: number, c: Float64Array, dcount: number, next: Float64Array): Promise<number> {
    this.check(w, 'slot');
    this.checkCount(count);
    const { tab, coef, partials } = this.layout;
    const co = new Float64Array(this.memory.buffer, coef, count);
    for (let i = 0; i < count; i++) co[i] = -c[i]!;
    const dtab = this.dotTable(dcount, w);
    await this.sweep('axpysDots', count + dcount + 1, (s0, e0) => [tab, count, coef, this.offset(w), s0, e0, partials, dtab, dcount + 1]);
    return this.sumPartials(next, dcount);
  }

  /** The table of slots 0…count − 1 and then w, for dots that also give w·w. */
  private dotTable(count: number, w: number): number {
    const { dtab } = this.layout;
    const t = new Int32Array(this.memory.buffer, dtab, count + 1);
    for (let i = 0; i < count; i++) t[i] = this.offset(i);
    t[count] = this.offset(w);
    return dtab;
  }

  /**
   * c[i] = Σ_q partials[q·(count + 1) + i] for i < count, over the chunks q in order (from 0, as a running sum would
   * give); returns the same sum of entry `count` (w·w).
   */
  private sumPartials(c: Float64Array, count: number): number {
    const { chunks, partials } = this.layout;
    const stride = count + 1;
    const p = new Float64Array(this.memory.buffer, partials, chunks * stride);
    c.fill(0, 0, count);
    let ww = 0;
    for (let q = 0; q < chunks; q++) {
      for (let i = 0; i < count; i++) c[i]! += p[q * stride + i]!;
      ww += p[q * stride + count]!;
    }
    return ww;
  }

  /** V_t ← Σ_{j<size} Y[j·size + cols[t]]·V_j for t < cols.length, in place (Y row-major size×size). */
  async combineInPlace(Y: Float64Array, size: number, cols: readonly number[]): Promise<void> {
    this.checkCount(size);
    this.checkCount(cols.length);
    const { coef, tab, outTab, scratch, scratchPerTask } = this.layout;
    const co = new Float64Array(this.memory.buffer, coef, cols.length * size);
    cols.forEach((c, t) => { for (let j = 0; j < size; j++) co[t * size + j] = Y[j * size + c]!; });
    await this.sweep('combine', size * cols.length, (s0, e0, task) =>
      [tab, size, coef, cols.length, outTab, scratch + task * scratchPerTask, s0, e0]);
  }

  /** Hands the memory back for reuse; every view from `column` is then invalid. */
  release(): void {
    if (this.released) return;
    this.released = true;
    recycleMemory(this.memory);
  }

  /** Runs `module` over the chunks, split into ranges of whole chunks over the pool's threads for large work. */
  private async sweep(program: keyof Modules, vectors: number, args: (s0: number, e0: number, task: number) => number[]): Promise<void> {
    const module = (await this.modules)[program];
    const { chunks, tasks: most } = this.layout;
    const work = vectors * this.n;
    const tasks = Math.max(1, Math.min(chunks, most, work >= POOL_WORK ? poolTasks(work >= 4 * POOL_WORK) : 1));
    const byte = (q: number) => Math.min(this.n * 8, q * CHUNK_BYTES);
    const boundary = (t: number) => Math.round((chunks * t) / tasks);
    return runRowRanges(module, this.memory, tasks, boundary, (t, q0, q1) => args(byte(q0), byte(q1), t));
  }

  private offset(j: number): number {
    return this.layout.base + j * this.layout.stride;
  }

  private checkCount(count: number): void {
    if (!(Number.isInteger(count) && count >= 0 && count <= this.slots)) throw new RangeError(`BasisSweeps: count ${count} outside 0…${this.slots}`);
  }

  private check(j: number, what: string): void {
    if (this.released) throw new Error('BasisSweeps: used after release()');
    if (!(Number.isInteger(j) && j >= 0 && j < this.slots)) throw new RangeError(`BasisSweeps: ${what} ${j} outside 0…${this.slots - 1}`);
  }
}

/** Byte offsets of the header's parts and the slots, for `tasks` pool threads at most. */
function layoutOf(n: number, slots: number, tasks: number) {
  const chunks = Math.ceil(n / SWEEP_CHUNK);
  const tab = 0;
  const outTab = align16(slots * 4);
  const dtab = 2 * outTab;
  const coef = dtab + align16((slots + 1) * 4);
  const partials = coef + align16(slots * slots * 8);
  const scratch = partials + align16(chunks * (slots + 1) * 8);
  const scratchPerTask = slots * CHUNK_BYTES;
  const base = scratch + tasks * scratchPerTask;
  const stride = align16(n * 8);
  return { chunks, tasks, tab, outTab, dtab, coef, partials, scratch, scratchPerTask, base, stride, bytes: base + slots * stride };
}
