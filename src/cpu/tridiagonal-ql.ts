/**
 * The implicit QL sweeps of a symmetric tridiagonal eigenproblem (krylov/tridiagonal.ts) as one small fixed program:
 * the same IEEE operations in the same order as the loops there (their oracle), so its results are the same bits.
 *
 * Why: Lanczos solves its projected eigenproblem once a step after each restart, a few dozen times in all — too few
 * for V8 to optimise the loops before they are done. A fresh process ran them in the unoptimised tiers at ≈ 1 µs a
 * rotation, with a boxed double per operation: 1–4 ms a call for k = 12–20 at first, 20–35 ms over the first 80 calls
 * (0.02 ms a call once optimised), and the garbage the collector then paid for (2-vCPU VM; bench/RESULTS.md,
 * nineteenth session).
 */
import { acquireMemory, recycleMemory } from './memory-pool.js';
import { unrolledLoop } from './wat-loops.js';
import { fixedProgram } from './programs.js';

/** Calls made by the program (tests read it: a test fails if the program is bypassed). */
export const qlCounts = { calls: 0 };

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
/** Byte address of entry `index` (an i32 expression) of the f64 array at byte offset `base`. */
const at = (base: string, index: string) => `(i32.add ${get(base)} (i32.shl ${index} (i32.const 3)))`;
const load = (base: string, index: string) => `(f64.load ${at(base, index)})`;
const plus1 = (index: string) => `(i32.add ${index} (i32.const 1))`;
const EPS = '2.220446049250313e-16'; // Number.EPSILON, 2⁻⁵²

/**
 * `ql(k, d, e, z, zRows, maxIter, reduced)`: the sweeps on the f64
 * arrays d (k), e (k) and z (zRows × k, row-major) at those byte offsets. Returns the QL iterations made, or −1 − l
 * where eigenvalue l did not converge within maxIter; `reduced` ≠ 0 applies the matrix test from the start.
 */
function qlWat(): string {
  const abs = (v: string) => `(f64.abs ${v})`;
  const root = (u: string, t: string) => `(f64.mul ${get(u)} (f64.sqrt (f64.add (f64.const 1) (f64.mul ${get(t)} ${get(t)}))))`;
  /** $target ← hypot(a, b), inline (the assembler has no calls): x·√(1 + (y/x)²) for x = |a| > y = |b|, else alike. */
  const hypot = (target: string, a: string, b: string) => [
    set('hx', abs(a)),
    set('hy', abs(b)),
    `(if (f64.gt ${get('hx')} ${get('hy')}) (then`,
    set('ht', `(f64.div ${get('hy')} ${get('hx')})`),
    set(target, root('hx', 'ht')),
    `) (else (if (f64.eq ${get('hy')} (f64.const 0)) (then ${set(target, '(f64.const 0)')}) (else`,
    set('ht', `(f64.div ${get('hx')} ${get('hy')})`),
    set(target, root('hy', 'ht')),
    '))))',
  ];
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "ql") (param $k i32) (param $d i32) (param $e i32) (param $z i32) (param $zRows i32) (param $maxIter i32) (param $reduced i32) (result i32)',
    '(local $norm f64) (local $floor f64) (local $dd f64) (local $em f64) (local $g f64) (local $r f64) (local $s f64) (local $c f64)',
    '(local $p f64) (local $f f64) (local $b f64) (local $zi f64) (local $zi1 f64) (local $hx f64) (local $hy f64) (local $ht f64)',
    '(local $total i32) (local $l i32) (local $iter i32) (local $m i32) (local $i i32) (local $row i32) (local $o i32) (local $stride i32) (local $matrixTest i32) (local $under i32)',
    `(if (i32.gt_s ${get('k')} (i32.const 0)) (then (f64.store ${at('e', `(i32.sub ${get('k')} (i32.const 1))`)} (f64.const 0))))`,
    set('stride', `(i32.shl ${get('k')} (i32.const 3))`),
    // ‖T‖ (max row sum of |d| and |e|) and the matrix test's floor ε‖T‖
    '(block $nDone (loop $nLoop',
    `(br_if $nDone (i32.ge_s ${get('i')} ${get('k')}))`,
    set('norm', `(f64.max ${get('norm')} (f64.add ${abs(load('d', get('i')))} ${abs(load('e', get('i')))}))`),
    set('i', plus1(get('i'))),
    '(br $nLoop)))',
    set('floor', `(f64.mul (f64.const ${EPS}) ${get('norm')})`),
    '(block $lDone (loop $lLoop',
    `(br_if $lDone (i32.ge_s ${get('l')} ${get('k')}))`,
    set('iter', '(i32.const 0)'),
    '(block $converged (loop $sweep',
    set('matrixTest', `(i32.or (i32.ne ${get('reduced')} (i32.const 0)) (i32.ge_s ${get('iter')} (i32.const ${RESCUE_AFTER})))`),
    // the first negligible coupling at or after l
    set('m', get('l')),
    '(block $mDone (loop $mLoop',
    `(br_if $mDone (i32.ge_s ${get('m')} (i32.sub ${get('k')} (i32.const 1))))`,
    set('dd', `(f64.add ${abs(load('d', get('m')))} ${abs(load('d', plus1(get('m'))))})`),
    set('em', abs(load('e', get('m')))),
    `(br_if $mDone (f64.le ${get('em')} (f64.mul (f64.const ${EPS}) ${get('dd')})))`,
    `(br_if $mDone (i32.and ${get('matrixTest')} (f64.le ${get('em')} ${get('floor')})))`,
    set('m', plus1(get('m'))),
    '(br $mLoop)))',
    `(br_if $converged (i32.eq ${get('m')} ${get('l')}))`,
    set('iter', plus1(get('iter'))),
    `(if (i32.gt_s ${get('iter')} ${get('maxIter')}) (then (return (i32.sub (i32.const -1) ${get('l')}))))`,
    set('total', plus1(get('total'))),
    // the Wilkinson shift from the leading 2×2 block, applied implicitly
    set('g', `(f64.div (f64.sub ${load('d', plus1(get('l')))} ${load('d', get('l'))}) (f64.mul (f64.const 2) ${load('e', get('l'))}))`),
    ...hypot('r', get('g'), '(f64.const 1)'),
    set('g', `(f64.add (f64.sub ${load('d', get('m'))} ${load('d', get('l'))}) (f64.div ${load('e', get('l'))} (f64.add ${get('g')} (select ${get('r')} (f64.neg ${get('r')}) (f64.ge ${get('g')} (f64.const 0))))))`),
    set('s', '(f64.const 1)'),
    set('c', '(f64.const 1)'),
    set('p', '(f64.const 0)'),
    set('under', '(i32.const 0)'),
    set('i', `(i32.sub ${get('m')} (i32.const 1))`),
    '(block $iDone (loop $iLoop',
    `(br_if $iDone (i32.lt_s ${get('i')} ${get('l')}))`,
    set('f', `(f64.mul ${get('s')} ${load('e', get('i'))})`),
    set('b', `(f64.mul ${get('c')} ${load('e', get('i'))})`),
    ...hypot('r', get('f'), get('g')),
    `(f64.store ${at('e', plus1(get('i')))} ${get('r')})`,
    // underflow: the matrix split; the sweep restarts on the smaller block
    `(if (f64.eq ${get('r')} (f64.const 0)) (then`,
    `(f64.store ${at('d', plus1(get('i')))} (f64.sub ${load('d', plus1(get('i')))} ${get('p')}))`,
    `(f64.store ${at('e', get('m'))} (f64.const 0))`,
    set('under', '(i32.const 1)'),
    '(br $iDone)))',
    set('s', `(f64.div ${get('f')} ${get('r')})`),
    set('c', `(f64.div ${get('g')} ${get('r')})`),
    set('g', `(f64.sub ${load('d', plus1(get('i')))} ${get('p')})`),
    set('r', `(f64.add (f64.mul (f64.sub ${load('d', get('i'))} ${get('g')}) ${get('s')}) (f64.mul (f64.mul (f64.const 2) ${get('c')}) ${get('b')}))`),
    set('p', `(f64.mul ${get('s')} ${get('r')})`),
    `(f64.store ${at('d', plus1(get('i')))} (f64.add ${get('g')} ${get('p')}))`,
    set('g', `(f64.sub (f64.mul ${get('c')} ${get('r')}) ${get('b')})`),
    // Z ← Z·G on the rows kept
    set('row', '(i32.const 0)'),
    set('o', at('z', get('i'))),
    // unrolled (wat-loops.ts)
    ...unrolledLoop('z', `(i32.ge_s ${get('row')} ${get('zRows')})`, [
      set('zi', `(f64.load ${get('o')})`),
      set('zi1', `(f64.load offset=8 ${get('o')})`),
      `(f64.store offset=8 ${get('o')} (f64.add (f64.mul ${get('s')} ${get('zi')}) (f64.mul ${get('c')} ${get('zi1')})))`,
      `(f64.store ${get('o')} (f64.sub (f64.mul ${get('c')} ${get('zi')}) (f64.mul ${get('s')} ${get('zi1')})))`,
      set('o', `(i32.add ${get('o')} ${get('stride')})`),
      set('row', plus1(get('row'))),
    ]),
    set('i', `(i32.sub ${get('i')} (i32.const 1))`),
    '(br $iLoop)))',
    `(br_if $sweep ${get('under')})`,
    `(f64.store ${at('d', get('l'))} (f64.sub ${load('d', get('l'))} ${get('p')}))`,
    `(f64.store ${at('e', get('l'))} ${get('g')})`,
    `(f64.store ${at('e', get('m'))} (f64.const 0))`,
    '(br $sweep)))',
    set('l', plus1(get('l'))),
    '(br $lLoop)))',
    `${get('total')})`,
    ...sortWat(),
    ...householderWat(),
    ...unrotateWat(),
    ')',
  ].join('\n');
}

/** `for ($name = from; $name < to; $name++) body` (signed). */
const forLoop = (name: string, from: string, to: string, body: string[]): string[] => [
  set(name, from),
  `(block $${name}Done (loop $${name}Loop`,
  `(br_if $${name}Done (i32.ge_s ${get(name)} ${to}))`,
  ...body,
  set(name, plus1(get(name))),
  `(br $${name}Loop)))`,
];
const mul = (a: string, b: string) => `(i32.mul ${a} ${b})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;

/**
 * `householder(m, A, Q, qCount, v, p)`: krylov/tridiagonal.ts's `householderLoops` — the symmetric m×m A (row-major,
 * both triangles) reduced in place to tridiagonal HᵀAH, Q ← Q·H on Q's first qCount rows (m columns); v and p are m
 * f64 of scratch. The same operations in the same order.
 */
function householderWat(): string[] {
  const A = (i: string, j: string) => load('A', add(mul(i, get('m')), j));
  const setA = (i: string, j: string, value: string) => `(f64.store ${at('A', add(mul(i, get('m')), j))} ${value})`;
  const V = (i: string) => load('v', i);
  const P = (i: string) => load('p', i);
  const fsq = (name: string) => `(f64.mul ${get(name)} ${get(name)})`;
  return [
    '(func (export "householder") (param $m i32) (param $A i32) (param $Q i32) (param $qCount i32) (param $v i32) (param $p i32)',
    '(local $k i32) (local $k1 i32) (local $i i32) (local $j i32) (local $r i32)',
    '(local $x f64) (local $xnorm2 f64) (local $tail f64) (local $x0 f64) (local $alpha f64) (local $vv f64) (local $tau f64) (local $vp f64) (local $s f64) (local $kk f64)',
    set('k', '(i32.const 0)'),
    '(block $kDone (loop $kLoop',
    `(br_if $kDone (i32.ge_s ${add(get('k'), '(i32.const 2)')} ${get('m')}))`,
    set('k1', plus1(get('k'))),
    // reflect column k below the subdiagonal to zero
    set('xnorm2', '(f64.const 0)'),
    ...forLoop('i', get('k1'), get('m'), [set('x', A(get('i'), get('k'))), set('xnorm2', `(f64.add ${get('xnorm2')} ${fsq('x')})`)]),
    set('tail', '(f64.const 0)'),
    ...forLoop('i', add(get('k'), '(i32.const 2)'), get('m'), [set('x', A(get('i'), get('k'))), set('tail', `(f64.add ${get('tail')} ${fsq('x')})`)]),
    `(if (f64.ne ${get('tail')} (f64.const 0)) (then`,
    set('x0', A(get('k1'), get('k'))),
    set('alpha', `(select (f64.neg (f64.sqrt ${get('xnorm2')})) (f64.sqrt ${get('xnorm2')}) (f64.ge ${get('x0')} (f64.const 0)))`),
    ...forLoop('i', get('k1'), get('m'), [`(f64.store ${at('v', get('i'))} ${A(get('i'), get('k'))})`]),
    `(f64.store ${at('v', get('k1'))} (f64.sub ${get('x0')} ${get('alpha')}))`,
    set('vv', '(f64.const 0)'),
    ...forLoop('i', get('k1'), get('m'), [set('vv', `(f64.add ${get('vv')} (f64.mul ${V(get('i'))} ${V(get('i'))}))`)]),
    set('tau', `(f64.div (f64.const 2) ${get('vv')})`),
    // the trailing block S ← HSH = S − vqᵀ − qvᵀ, p = τSv, q = p − (τ/2)(vᵀp)v
    set('vp', '(f64.const 0)'),
    ...forLoop('i', get('k1'), get('m'), [
      set('s', '(f64.const 0)'),
      ...forLoop('j', get('k1'), get('m'), [set('s', `(f64.add ${get('s')} (f64.mul ${A(get('i'), get('j'))} ${V(get('j'))}))`)]),
      `(f64.store ${at('p', get('i'))} (f64.mul ${get('tau')} ${get('s')}))`,
      set('vp', `(f64.add ${get('vp')} (f64.mul ${V(get('i'))} ${P(get('i'))}))`),
    ]),
    set('kk', `(f64.mul (f64.div ${get('tau')} (f64.const 2)) ${get('vp')})`),
    ...forLoop('i', get('k1'), get('m'), [`(f64.store ${at('p', get('i'))} (f64.sub ${P(get('i'))} (f64.mul ${get('kk')} ${V(get('i'))})))`]),
    ...forLoop('i', get('k1'), get('m'), forLoop('j', get('k1'), get('m'), [
      setA(get('i'), get('j'), `(f64.sub (f64.sub ${A(get('i'), get('j'))} (f64.mul ${V(get('i'))} ${P(get('j'))})) (f64.mul ${P(get('i'))} ${V(get('j'))}))`),
    ])),
    setA(get('k1'), get('k'), get('alpha')),
    setA(get('k'), get('k1'), get('alpha')),
    ...forLoop('i', add(get('k'), '(i32.const 2)'), get('m'), [setA(get('i'), get('k'), '(f64.const 0)'), setA(get('k'), get('i'), '(f64.const 0)')]),
    // Q ← QH
    ...forLoop('r', '(i32.const 0)', get('qCount'), [
      set('s', '(f64.const 0)'),
      ...forLoop('j', get('k1'), get('m'), [set('s', `(f64.add ${get('s')} (f64.mul ${load('Q', add(mul(get('r'), get('m')), get('j')))} ${V(get('j'))}))`)]),
      set('s', `(f64.mul ${get('s')} ${get('tau')})`),
      ...forLoop('j', get('k1'), get('m'), [
        `(f64.store ${at('Q', add(mul(get('r'), get('m')), get('j')))} (f64.sub ${load('Q', add(mul(get('r'), get('m')), get('j')))} (f64.mul ${get('s')} ${V(get('j'))})))`,
      ]),
    ]),
    '))',
    set('k', plus1(get('k'))),
    '(br $kLoop)))',
    ')',
  ];
}

/**
 * `unrotate(Y, size, Q, keep, head)`: krylov/tridiagonal.ts's `unrotateLoops` — Y ← diag(Q, I)·Y on Y's first keep
 * rows (Y row-major size × size, Q row-major keep × keep), `head` keep·size f64 of scratch for those rows as they were.
 */
function unrotateWat(): string[] {
  const Yat = (r: string, c: string) => at('Y', add(mul(r, get('size')), c));
  return [
    '(func (export "unrotate") (param $Y i32) (param $size i32) (param $Q i32) (param $keep i32) (param $head i32)',
    '(local $r i32) (local $q i32) (local $c i32) (local $n i32) (local $t i32) (local $qv f64)',
    set('n', mul(get('keep'), get('size'))),
    ...forLoop('t', '(i32.const 0)', get('n'), [`(f64.store ${at('head', get('t'))} ${load('Y', get('t'))})`, `(f64.store ${at('Y', get('t'))} (f64.const 0))`]),
    ...forLoop('r', '(i32.const 0)', get('keep'), forLoop('q', '(i32.const 0)', get('keep'), [
      set('qv', load('Q', add(mul(get('r'), get('keep')), get('q')))),
      ...forLoop('c', '(i32.const 0)', get('size'), [
        `(f64.store ${Yat(get('r'), get('c'))} (f64.add (f64.load ${Yat(get('r'), get('c'))}) (f64.mul ${get('qv')} ${load('head', add(mul(get('q'), get('size')), get('c')))})))`,
      ]),
    ])),
    ')',
  ];
}

/**
 * `sort(k, d, z, zRows, order, row)`: the eigenvalues d ascending and the columns of z's rows alike — the stable order
 * (equal values keep theirs) that krylov/tridiagonal.ts's `sortAscending` gets from Array.prototype.sort, by insertion
 * into `order` (k i32); `row` is k f64 of scratch. Values move, none is computed: the same bits.
 */
function sortWat(): string[] {
  const idx = (base: string, index: string) => `(i32.add ${get(base)} (i32.shl ${index} (i32.const 2)))`;
  const dAt = (i: string) => load('d', `(i32.load ${idx('order', i)})`);
  /** The scratch row's k values to the array at byte offset $`to` (the assembler has no memory.copy). */
  const copyRow = (to: string) => [
    set('i', '(i32.const 0)'),
    `(block $copy${to}Done (loop $copy${to}`,
    `(br_if $copy${to}Done (i32.ge_s ${get('i')} ${get('k')}))`,
    `(f64.store ${at(to, get('i'))} ${load('row', get('i'))})`,
    set('i', plus1(get('i'))),
    `(br $copy${to})))`,
  ];
  return [
    '(func (export "sort") (param $k i32) (param $d i32) (param $z i32) (param $zRows i32) (param $order i32) (param $row i32)',
    '(local $i i32) (local $j i32) (local $t i32) (local $v f64) (local $r i32) (local $o i32) (local $moved i32)',
    '(block $iDone (loop $iLoop',
    `(br_if $iDone (i32.ge_s ${get('i')} ${get('k')}))`,
    `(i32.store ${idx('order', get('i'))} ${get('i')})`,
    set('i', plus1(get('i'))),
    '(br $iLoop)))',
    // insertion: order[j] moves left past every entry with a strictly larger value
    set('i', '(i32.const 1)'),
    '(block $sDone (loop $sLoop',
    `(br_if $sDone (i32.ge_s ${get('i')} ${get('k')}))`,
    set('t', `(i32.load ${idx('order', get('i'))})`),
    set('v', load('d', get('t'))),
    set('j', get('i')),
    '(block $jDone (loop $jLoop',
    `(br_if $jDone (i32.le_s ${get('j')} (i32.const 0)))`,
    `(br_if $jDone (i32.eqz (f64.gt ${dAt(`(i32.sub ${get('j')} (i32.const 1))`)} ${get('v')})))`,
    `(i32.store ${idx('order', get('j'))} (i32.load ${idx('order', `(i32.sub ${get('j')} (i32.const 1))`)}))`,
    set('moved', '(i32.const 1)'),
    set('j', `(i32.sub ${get('j')} (i32.const 1))`),
    '(br $jLoop)))',
    `(i32.store ${idx('order', get('j'))} ${get('t')})`,
    set('i', plus1(get('i'))),
    '(br $sLoop)))',
    `(if (i32.eqz ${get('moved')}) (then (return)))`,
    // d, then each row of z, permuted through the scratch row
    set('i', '(i32.const 0)'),
    '(block $dDone (loop $dLoop',
    `(br_if $dDone (i32.ge_s ${get('i')} ${get('k')}))`,
    `(f64.store ${at('row', get('i'))} ${dAt(get('i'))})`,
    set('i', plus1(get('i'))),
    '(br $dLoop)))',
    ...copyRow('d'),
    set('r', '(i32.const 0)'),
    set('o', get('z')),
    '(block $rDone (loop $rLoop',
    `(br_if $rDone (i32.ge_s ${get('r')} ${get('zRows')}))`,
    set('i', '(i32.const 0)'),
    '(block $cDone (loop $cLoop',
    `(br_if $cDone (i32.ge_s ${get('i')} ${get('k')}))`,
    `(f64.store ${at('row', get('i'))} ${load('o', `(i32.load ${idx('order', get('i'))})`)})`,
    set('i', plus1(get('i'))),
    '(br $cLoop)))',
    ...copyRow('o'),
    set('o', `(i32.add ${get('o')} (i32.shl ${get('k')} (i32.const 3)))`),
    set('r', plus1(get('r'))),
    '(br $rLoop)))',
    ')',
  ];
}

/** QL sweeps on one eigenvalue under the relative test alone before the matrix test may end them too (krylov/tridiagonal.ts). */
export const RESCUE_AFTER = 30;

const qlProgram = fixedProgram('tridiagonal|ql-sort-householder-unrotate', qlWat);

/**
 * Asks for the program ahead of its first use (`eigsh` calls this at its entry: its first projected eigenproblem comes
 * after a cycle of products — a store, a factor — while V8 compiles the program on a background thread).
 */
export function prepareQl(): void {
  qlProgram.prepare();
}

interface QlExports {
  ql(k: number, d: number, e: number, z: number, zRows: number, maxIter: number, reduced: number): number;
  sort(k: number, d: number, z: number, zRows: number, order: number, row: number): void;
  householder(m: number, A: number, Q: number, qCount: number, v: number, p: number): void;
  unrotate(Y: number, size: number, Q: number, keep: number, head: number): void;
}

/** The program on `memory`, or undefined where it is not available (the caller runs its loops: the same bits). */
const qlOn = (memory: WebAssembly.Memory): QlExports | undefined => qlProgram.instanceOn(memory) as QlExports | undefined;

/** The largest problem run by the program: its arrays and scratch within 2 GiB of one memory. */
const MAX_BYTES = 2 ** 31;

const align16 = (b: number) => Math.ceil(b / 16) * 16;

/**
 * Runs `work` on the program instantiated on a memory holding `arrays` (copied in at 16-byte aligned byte offsets, then
 * `scratch` bytes), copies the arrays back, and returns what `work` returned; undefined where the program is not
 * available (a browser's main thread before it compiled, a failed compile, a problem over 2 GiB) — the caller runs its
 * loops.
 */
function runOnArrays<T>(arrays: Float64Array[], scratch: number, work: (program: QlExports, offsets: number[], scratchOffset: number) => T): T | undefined {
  const offsets: number[] = [];
  let end = 16;
  for (const a of arrays) {
    offsets.push(end);
    end = align16(end + 8 * a.length);
  }
  const scratchOffset = end;
  const bytes = scratchOffset + scratch;
  if (bytes > MAX_BYTES) return undefined;
  const memory = acquireMemory(Math.ceil(bytes / 65536));
  try {
    const program = qlOn(memory);
    if (!program) return undefined;
    const f64 = new Float64Array(memory.buffer as unknown as ArrayBuffer);
    arrays.forEach((a, t) => f64.set(a, offsets[t]! / 8));
    qlCounts.calls++;
    const result = work(program, offsets, scratchOffset);
    arrays.forEach((a, t) => a.set(f64.subarray(offsets[t]! / 8, offsets[t]! / 8 + a.length)));
    return result;
  } finally {
    recycleMemory(memory);
  }
}

/**
 * The QL sweeps on (d, e) in place, the rotations applied to the `zRows` rows of z (row-major, length zRows·k), then —
 * where `sorted` and they converged — d ascending with z's columns alike, by the program: the QL iterations made,
 * −1 − l where eigenvalue l did not converge within `maxIter` (nothing sorted), or undefined where the program is not
 * available (see `runOnArrays`) — the caller runs the loops.
 */
export function qlInWasm(
  d: Float64Array, e: Float64Array, z: Float64Array | null, zRows: number, maxIter: number, reduced: boolean, sorted = false,
): number | undefined {
  // a budget the program's i32 cannot hold as the loops read it (non-integer, beyond 2³¹ − 1) goes to the loops
  if (!Number.isInteger(maxIter) || maxIter < 0 || maxIter > 2 ** 31 - 1) return undefined;
  const k = d.length;
  const rows = z ? zRows : 0;
  // the sort's scratch: its order (k i32), then a row (k f64)
  const orderBytes = align16(4 * k);
  const arrays = [d, e.subarray(0, k), z ? z.subarray(0, rows * k) : new Float64Array(0)];
  return runOnArrays(arrays, orderBytes + 8 * k, (program, [dAt, eAt, zAt], scratch) => {
    const result = program.ql(k, dAt!, eAt!, zAt!, rows, maxIter, reduced ? 1 : 0);
    if (sorted && result >= 0) program.sort(k, dAt!, zAt!, rows, scratch, scratch + orderBytes);
    return result;
  });
}

/** `householderLoops(A, m, Q, qCount)` by the program (A m × m, Q qCount × m); false where it is not available. */
export function householderInWasm(A: Float64Array, m: number, Q: Float64Array, qCount: number): boolean {
  return runOnArrays([A.subarray(0, m * m), Q.subarray(0, qCount * m)], 16 * m + 16, (program, [a, q], scratch) => {
    program.householder(m, a!, q!, qCount, scratch, align16(scratch + 8 * m));
    return true;
  }) ?? false;
}

/** `unrotateLoops(Y, size, Q, keep)` by the program; false where it is not available. */
export function unrotateInWasm(Y: Float64Array, size: number, Q: Float64Array, keep: number): boolean {
  return runOnArrays([Y.subarray(0, size * size), Q.subarray(0, keep * keep)], 8 * keep * size, (program, [y, q], scratch) => {
    program.unrotate(y!, size, q!, keep, scratch);
    return true;
  }) ?? false;
}
