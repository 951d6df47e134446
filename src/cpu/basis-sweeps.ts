/**
 * A basis of long vectors (Lanczos' V, n × slots float64) held in one WebAssembly memory, and the sweeps a Krylov
 * method makes over it in WASM SIMD (f64x2): dots against every basis vector, the subtraction of their combination,
 * and combinations written back in place (thick-restart Ritz vectors). The kernels read the basis where it lies:
 * its vectors are views of the memory, handed to the operator's product without a copy.
 *
 * Each sweep runs chunk by chunk (CHUNK entries): the chunk of the vector being updated (or of the outputs being
 * formed) stays in cache while every basis vector's chunk streams past once, four basis vectors per pass. Axpy-like
 * entries are rounded as plain axpys round them (one term at a time, no fused multiply-add); a dot sums even and
 * odd entries of a chunk apart (the two lanes) and adds the chunks in order.
 */
import { compileWat } from './reduce.js';
import { acquireMemory, recycleMemory } from './memory-pool.js';

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

/** Chunks [s, e) of the n·8 bytes of a vector: `body` runs once per chunk. */
function chunks(body: string[]): string[] {
  return [
    '(local.set $s (i32.const 0))',
    '(block $cDone (loop $c',
    '(br_if $cDone (i32.ge_u (local.get $s) (local.get $nb)))',
    `(local.set $e (select (local.get $nb) (i32.add (local.get $s) (i32.const ${CHUNK_BYTES})) (i32.lt_u (i32.sub (local.get $nb) (local.get $s)) (i32.const ${CHUNK_BYTES}))))`,
    ...body,
    '(local.set $s (local.get $e))',
    '(br $c)))',
  ];
}

const q4 = (g: number) => Array.from({ length: g }, (_, q) => q);

/** out[i] = V_i · w for i < count: lanes summed apart over a chunk, then the chunk's sum added to out[i]. */
function dotsBody(): string[] {
  const group = (g: number): string[] => [
    ...q4(g).flatMap((q) => [`(local.set $p${q} ${slotPointer('$tab', q)})`, `(local.set $a${q} (v128.const i64x2 0 0))`]),
    '(local.set $t (local.get $s))',
    `(block $v${g}Done (loop $v${g}`,
    `(br_if $v${g}Done (i32.gt_u (i32.add (local.get $t) (i32.const 16)) (local.get $e)))`,
    `(local.set $x (v128.load ${at('$w', '$t')}))`,
    ...q4(g).map((q) => `(local.set $a${q} (f64x2.add (local.get $a${q}) (f64x2.mul (v128.load ${at(`$p${q}`, '$t')}) (local.get $x))))`),
    '(local.set $t (i32.add (local.get $t) (i32.const 16)))',
    `(br $v${g})))`,
    ...q4(g).map((q) => `(local.set $f${q} (f64.add (f64x2.extract_lane 0 (local.get $a${q})) (f64x2.extract_lane 1 (local.get $a${q}))))`),
    '(if (i32.lt_u (local.get $t) (local.get $e)) (then',
    `(local.set $xs (f64.load ${at('$w', '$t')}))`,
    ...q4(g).map((q) => `(local.set $f${q} (f64.add (local.get $f${q}) (f64.mul (f64.load ${at(`$p${q}`, '$t')}) (local.get $xs))))`),
    '))',
    ...q4(g).map((q) => {
      const o = `(i32.add (local.get $out) (i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 3)))`;
      return `(f64.store ${o} (f64.add (f64.load ${o}) (local.get $f${q})))`;
    }),
  ];
  return [
    '(local.set $i (i32.const 0))',
    '(block $zDone (loop $z',
    '(br_if $zDone (i32.ge_u (local.get $i) (local.get $count)))',
    '(f64.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3))) (f64.const 0))',
    '(local.set $i (i32.add (local.get $i) (i32.const 1)))',
    '(br $z)))',
    ...chunks(['(local.set $i (i32.const 0))', ...groups('$count', group)]),
  ];
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
    let vec = `(v128.load ${at('$yd', '$t')})`;
    let sca = `(f64.load ${at('$yd', '$t')})`;
    for (const q of q4(g)) { vec = term(vec, q, 'v128.load', true); sca = term(sca, q, 'f64.load', false); }
    return [
      ...q4(g).flatMap((q) => [
        `(local.set $p${q} ${slotPointer('$tab', q)})`,
        `(local.set $f${q} (f64.load (i32.add (local.get $coef) (i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 3)))))`,
        `(local.set $a${q} (f64x2.splat (local.get $f${q})))`,
      ]),
      '(local.set $t (local.get $s))',
      `(block $v${g}Done (loop $v${g}`,
      `(br_if $v${g}Done (i32.gt_u (i32.add (local.get $t) (i32.const 16)) (local.get $e)))`,
      `(v128.store ${at('$yd', '$t')} ${vec})`,
      '(local.set $t (i32.add (local.get $t) (i32.const 16)))',
      `(br $v${g})))`,
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
    '(block $kDone (loop $k',
    '(br_if $kDone (i32.gt_u (i32.add (local.get $t) (i32.const 16)) (local.get $e)))',
    `(v128.store ${at('$dst', '$t')} (v128.load ${at('$src', '$t')}))`,
    '(local.set $t (i32.add (local.get $t) (i32.const 16)))',
    '(br $k)))',
    `(if (i32.lt_u (local.get $t) (local.get $e)) (then (f64.store ${at('$dst', '$t')} (f64.load ${at('$src', '$t')}))))`,
  ];
}

/**
 * The module: `dots(tab, count, w, nb, out)`, `axpys(tab, count, coef, y, nb)` (y += Σ coef[i]·V_i) and
 * `combine(tab, size, coef, cols, outTab, scratch, nb)`: for t < cols, V_outTab[t] ← Σ_{j<size} coef[t·size + j]·V_j,
 * each chunk of every output formed in scratch before any is written, so outTab may name inputs. `tab` and `outTab`
 * hold i32 byte offsets of the vectors, `nb` = n·8.
 */
export function basisSweepsWat(): string {
  const params = (names: string[]) => names.map((p) => `(param $${p} i32)`).join(' ');
  const combineChunk = [
    '(local.set $j (i32.const 0))',
    '(block $oDone (loop $o',
    '(br_if $oDone (i32.ge_u (local.get $j) (local.get $cols)))',
    // the scratch row of output j, addressed so that entry t of the chunk lies at t + $yd
    `(local.set $yd (i32.sub (i32.add (local.get $scratch) (i32.mul (local.get $j) (i32.const ${CHUNK_BYTES}))) (local.get $s)))`,
    '(local.set $t (local.get $s))',
    '(block $zDone (loop $z',
    '(br_if $zDone (i32.ge_u (local.get $t) (local.get $e)))',
    `(f64.store ${at('$yd', '$t')} (f64.const 0))`,
    '(local.set $t (i32.add (local.get $t) (i32.const 8)))',
    '(br $z)))',
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
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    `(func (export "dots") ${params(['tab', 'count', 'w', 'nb', 'out'])} ${LOCALS}`,
    ...dotsBody(),
    ')',
    `(func (export "axpys") ${params(['tab', 'count', 'coef', 'y', 'nb'])} ${LOCALS}`,
    '(local.set $yd (local.get $y))',
    ...chunks(axpysChunk()),
    ')',
    `(func (export "combine") ${params(['tab', 'count', 'coefs', 'cols', 'outTab', 'scratch', 'nb'])} (local $coef i32) ${LOCALS}`,
    ...chunks(combineChunk),
    ')',
    ')',
  ].join('\n');
}

interface Kernels {
  dots(tab: number, count: number, w: number, nb: number, out: number): void;
  axpys(tab: number, count: number, coef: number, y: number, nb: number): void;
  combine(tab: number, count: number, coefs: number, cols: number, outTab: number, scratch: number, nb: number): void;
}

/**
 * `slots` vectors of n float64 in one memory (a recycled one where the pool has it: its first touch is the cost at
 * large n), after a header of the slot table, coefficients and one chunk of scratch per slot.
 */
export class BasisSweeps {
  readonly n: number;
  readonly slots: number;
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: Kernels;
  private readonly tab: number; // i32 byte offset of slot j at tab + 4j
  private readonly outTab: number; // the same for combine's outputs
  private readonly coef: number; // slots² float64
  private readonly scratch: number; // slots × CHUNK float64
  private readonly base: number; // slot j at base + j·n·8
  private released = false;

  /** Bytes a basis of `slots` vectors of n entries needs; over 4 GiB it cannot be made (see `fits`). */
  static bytes(n: number, slots: number): number {
    const header = align16(slots * 4) * 2 + align16(slots * slots * 8) + slots * CHUNK_BYTES;
    return header + slots * align16(n * 8);
  }

  /** Whether the basis fits in one WebAssembly memory. */
  static fits(n: number, slots: number): boolean {
    return BasisSweeps.bytes(n, slots) <= MAX_BYTES;
  }

  static async create(n: number, slots: number): Promise<BasisSweeps> {
    if (!(Number.isInteger(n) && n > 0 && Number.isInteger(slots) && slots > 0)) throw new RangeError(`BasisSweeps: bad shape n = ${n}, slots = ${slots}`);
    if (!BasisSweeps.fits(n, slots)) throw new RangeError(`BasisSweeps: ${slots} vectors of ${n} need ${BasisSweeps.bytes(n, slots)} bytes, over the 4 GiB of a WebAssembly memory`);
    const module = await compileWat('basis-sweeps', basisSweepsWat);
    const memory = acquireMemory(Math.ceil(BasisSweeps.bytes(n, slots) / PAGE));
    const kernels = new WebAssembly.Instance(module, { env: { mem: memory } }).exports as unknown as Kernels;
    return new BasisSweeps(n, slots, memory, kernels);
  }

  private constructor(n: number, slots: number, memory: WebAssembly.Memory, kernels: Kernels) {
    this.n = n;
    this.slots = slots;
    this.memory = memory;
    this.kernels = kernels;
    this.tab = 0;
    this.outTab = align16(slots * 4);
    this.coef = 2 * this.outTab;
    this.scratch = this.coef + align16(slots * slots * 8);
    this.base = this.scratch + slots * CHUNK_BYTES;
    const tab = new Int32Array(memory.buffer, this.tab, slots);
    for (let j = 0; j < slots; j++) tab[j] = this.offset(j);
    new Int32Array(memory.buffer, this.outTab, slots).set(tab);
  }

  /** Slot j's vector: a view of the memory, valid until `release()`. */
  column(j: number): Float64Array {
    this.check(j, 'slot');
    return new Float64Array(this.memory.buffer, this.offset(j), this.n);
  }

  /** c[i] = V_i · V_w for i < count (slots 0…count). */
  dots(c: Float64Array, count: number, w: number): void {
    this.check(w, 'slot');
    this.checkCount(count);
    this.kernels.dots(this.tab, count, this.offset(w), this.n * 8, this.coef);
    c.set(new Float64Array(this.memory.buffer, this.coef, count));
  }

  /** V_w ← V_w − Σ_{i<count} c[i]·V_i. */
  subtract(w: number, count: number, c: Float64Array): void {
    this.check(w, 'slot');
    this.checkCount(count);
    const coef = new Float64Array(this.memory.buffer, this.coef, count);
    for (let i = 0; i < count; i++) coef[i] = -c[i]!;
    this.kernels.axpys(this.tab, count, this.coef, this.offset(w), this.n * 8);
  }

  /** V_t ← Σ_{j<size} Y[j·size + cols[t]]·V_j for t < cols.length, in place (Y row-major size×size). */
  combineInPlace(Y: Float64Array, size: number, cols: readonly number[]): void {
    this.checkCount(size);
    this.checkCount(cols.length);
    const coef = new Float64Array(this.memory.buffer, this.coef, cols.length * size);
    cols.forEach((c, t) => { for (let j = 0; j < size; j++) coef[t * size + j] = Y[j * size + c]!; });
    this.kernels.combine(this.tab, size, this.coef, cols.length, this.outTab, this.scratch, this.n * 8);
  }

  /** Hands the memory back for reuse; every view from `column` is then invalid. */
  release(): void {
    if (this.released) return;
    this.released = true;
    recycleMemory(this.memory);
  }

  private offset(j: number): number {
    return this.base + j * align16(this.n * 8);
  }

  private checkCount(count: number): void {
    if (!(Number.isInteger(count) && count >= 0 && count <= this.slots)) throw new RangeError(`BasisSweeps: count ${count} outside 0…${this.slots}`);
  }

  private check(j: number, what: string): void {
    if (this.released) throw new Error('BasisSweeps: used after release()');
    if (!(Number.isInteger(j) && j >= 0 && j < this.slots)) throw new RangeError(`BasisSweeps: ${what} ${j} outside 0…${this.slots - 1}`);
  }
}
