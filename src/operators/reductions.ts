/**
 * Formula reductions (`F.sum(1)`, `F.argKmin(k, 0)`, `F.logsumexp(1)` …) on the CPU or GPU backend, from the
 * one spec of `formula/reduction.ts`. Each backend offers two generated programs, and every reduction is made
 * of them:
 *  - k-min: per row the k smallest values of a scalar formula with their indices (min, argmin, kmin, and max
 *    through −F);
 *  - weighted sums: Σ_j G_ij·b_j for a scalar formula G and columns b (the kernel product).
 * logsumexp and sumSoftmaxWeight take two passes: m_i = max_j F_ij (k-min), then sums of exp(F_ij − m_i)·W_ij,
 * a formula in which m is one more i-variable; every term is ≤ 1 and one equals 1, so nothing overflows or
 * underflows to a zero sum. Vector formulas and weights are summed one component at a time, except a weight
 * that is a j-variable, which becomes the product's columns (one pass).
 */
import type { Node, VarNode } from '../formula/ast.js';
import { collectVariables } from '../formula/analyze.js';
import { binary, unary, variable } from '../formula/nodes.js';
import {
  alongJ, checkRowFilled, componentOf, reductionShape, registerReductionExecutor, shapeKminResult,
  type ReductionOptions, type ReductionResult, type ReductionSpec,
} from '../formula/reduction.js';
import { reduceKernel, reduceKmin } from '../cpu/reduce.js';
import { gpuReduceKernel, gpuReduceKmin } from '../gpu/reduce.js';
import { optional, oneOf, parseOptions } from './options.js';
import { assertFloat32Range, float32OverflowError, periodicLimits, periodicNaNHint, refuseGpuFloat64, resolvePlacement, usesPeriodic } from './kernel-operator.js';
import { compileScalarJs, type ScalarKernel } from '../formula/emit-js.js';
import { allFinite } from './validate.js';
import { largestIntermediateBound } from '../formula/magnitude.js';

const REDUCTION_SPEC = {
  backend: optional(oneOf('auto', 'cpu', 'gpu')),
  dtype: optional(oneOf('float32', 'float64')),
};

/** The two programs of a backend for one problem size (n rows of the result, m reduced). */
interface Engine {
  readonly rows: number;
  readonly reduced: number;
  kmin(node: Node, k: number): Promise<{ values: Float64Array; indices: Int32Array }>;
  sums(node: Node, columns: readonly Float64Array[]): Promise<Float64Array[]>;
  /** A float32 engine's float64 CPU twin, for results checked beyond its passes' (softmaxFamily). */
  readonly exact?: Engine;
}

function engineFor(spec: ReductionSpec, options: ReductionOptions | undefined): Engine {
  const o = parseOptions('reduction', options ?? {}, REDUCTION_SPEC);
  const { rows, reduced } = reductionShape(spec);
  refuseGpuFloat64(`Formula.${spec.kind}`, o.backend, o.dtype);
  const { backend, dtype } = resolvePlacement(o.backend, o.dtype, rows * reduced);
  if (dtype === 'float32') {
    assertFloat32Range(collectVariables(spec.formula), `Formula.${spec.kind}`);
    if (spec.weight) assertFloat32Range(collectVariables(spec.weight), `Formula.${spec.kind}`);
  }
  const cpu64: Engine = {
    rows, reduced,
    kmin: (node, k) => reduceKmin(node, collectVariables(node), rows, reduced, k, { dtype: 'float64' }),
    sums: (node, columns) => reduceKernel(node, collectVariables(node), rows, reduced, columns, { dtype: 'float64' }),
  };
  if (dtype === 'float64') return cpu64;
  return refusingFloat32Overflow(`Formula.${spec.kind}`, backend, backend === 'gpu'
    ? {
      rows, reduced,
      kmin: (node, k) => gpuReduceKmin(node, collectVariables(node), rows, reduced, k),
      sums: (node, columns) => gpuReduceKernel(node, collectVariables(node), rows, reduced, columns),
    }
    : {
      rows, reduced,
      kmin: (node, k) => reduceKmin(node, collectVariables(node), rows, reduced, k, { dtype }),
      sums: (node, columns) => reduceKernel(node, collectVariables(node), rows, reduced, columns, { dtype }),
    }, cpu64);
}

/**
 * A float32 engine whose results are refused (RangeError naming the row) where they are NaN or ±∞ and the float64
 * CPU programs, run on that path only, give a finite value: a value inside the formula left float32's range.
 */
function refusingFloat32Overflow(fn: string, backend: 'cpu' | 'gpu', f32: Engine, f64: Engine): Engine {
  const check = (node: Node, got: Float64Array, exact: Float64Array, width: number): void => {
    got.forEach((v, t) => {
      if (!Number.isFinite(v) && Number.isFinite(exact[t]!)) {
        const error = float32OverflowError(fn, 'result', v, `row ${Math.floor(t / width)}`, exact[t]!);
        if (usesPeriodic(node)) error.message += periodicNaNHint(backend);
        throw error;
      }
    });
  };
  return {
    rows: f32.rows, reduced: f32.reduced, exact: f64,
    async kmin(node, k) {
      const r = await f32.kmin(node, k);
      if (largestIntermediateBound(node) <= FLOAT32_SAFE_MAGNITUDE) {
        if (!allFinite(r.values)) check(node, r.values, (await f64.kmin(node, k)).values, k);
        return r;
      }
      // a value inside F may leave float32's range, and a NaN it makes there (∞ − ∞) is skipped as nanmin skips NaN:
      // the row's least values would be wrong with nothing non-finite to show it (max of x·y + (e^100xy − e^100xy)
      // at y = 1, 0.5, 0 gave 0.5 at index 1 for 1 at index 0). The float64 twin's values tell.
      const exact = await f64.kmin(node, k);
      check(node, r.values, exact.values, k);
      hiddenByOverflow(fn, r, exact, k);
      return r;
    },
    async sums(node, columns) {
      const out = await f32.sums(node, columns);
      if (!out.every(allFinite)) {
        const exact = await f64.sums(node, columns);
        out.forEach((col, c) => check(node, col, exact[c]!, 1));
      }
      return out;
    },
  };
}

/**
 * Below this, no value of a float32 evaluation overflows (float32's largest finite value is 3.4e38; a margin for the
 * rounding of the bounded operations along the way).
 */
const FLOAT32_SAFE_MAGNITUDE = 1e37;

/**
 * Refuses a float32 k-min row where the float64 twin found a different entry at some rank, and a value clearly below
 * float32's there (beyond a near-tie's rounding): an entry the float32 pass evaluated as NaN (skipped) or ±∞ was finite
 * and smaller in float64.
 */
function hiddenByOverflow(
  fn: string, got: { values: Float64Array; indices: Int32Array }, exact: { values: Float64Array; indices: Int32Array }, k: number,
): void {
  for (let t = 0; t < got.values.length; t++) {
    const [g, e] = [got.values[t]!, exact.values[t]!];
    if (!Number.isFinite(e) || got.indices[t] === exact.indices[t]) continue;
    if (g - e <= 1e-3 * Math.max(Math.abs(e), Math.abs(g))) continue; // NaN g fails this test: refused
    // values as the k-min pass sees them (a max runs on −F): magnitudes only in the message
    throw new RangeError(`${fn}: entry ${exact.indices[t]} of row ${Math.floor(t / k)} is finite in float64 (|F| = ${Math.abs(e)}) where float32 `
      + `evaluated it as NaN or beyond its range and skipped it, changing the result: a value inside the formula leaves float32's range; use dtype 'float64' or rescale the inputs`);
  }
}

/** Runs a reduction spec (registered with the formula layer as its executor). */
export async function executeReduction(spec: ReductionSpec, options?: ReductionOptions): Promise<ReductionResult> {
  const engine = engineFor(spec, options);
  const s = alongJ(spec);
  switch (s.kind) {
    case 'sum': {
      const sums = await sumOf(engine, s.formula);
      if (usesPeriodic(s.formula)) {
        // component by component (n×e row-major)
        const e = s.formula.dim;
        for (let c = 0; c < e; c++) {
          const column = e === 1 ? sums : Float64Array.from({ length: engine.rows }, (_, i) => sums[i * e + c]!);
          if (!column.some(Number.isNaN)) continue;
          await refuseHiddenPeriodicNaN(engine, e === 1 ? s.formula : componentOf(s.formula, c), s.kind, column);
        }
      }
      return sums;
    }
    case 'logsumexp': case 'sumSoftmaxWeight': {
      if (usesPeriodic(s.formula)) await refuseHiddenPeriodicNaN(engine, s.formula, s.kind);
      return softmaxFamily(engine, s);
    }
    default: {
      const isMax = s.kind === 'max' || s.kind === 'argmax' || s.kind === 'maxArgmax';
      if (usesPeriodic(s.formula)) await refuseHiddenPeriodicNaN(engine, s.formula, s.kind);
      const { values, indices } = await kminChecked(engine, isMax ? unary('neg', s.formula) : s.formula, s.k);
      if (isMax) for (let t = 0; t < values.length; t++) values[t] = -values[t]!;
      return shapeKminResult(s.kind, values, indices);
    }
  }
}

/** Rows checked by the JS twin in `refuseHiddenPeriodicNaN` (each costs m evaluations). */
const PERIODIC_CHECKED_ROWS = 8;

/**
 * The min/max family skips NaN values (as numpy's nanmin) — but the generated code also gives NaN for sin and cos
 * past its accurate range (2⁵¹ on the CPU, 2¹⁶ for the GPU's float32), where the formula has a value: skipped, those
 * entries would leave a minimum over the others, returned as if right (formula-fuzz seed 25, case 270). So for a
 * formula with sin or cos, one sum over j first marks the rows holding a NaN; the first PERIODIC_CHECKED_ROWS of
 * them are evaluated by the float64 JS twin (Math.sin, Math.cos), and a row that has no NaN there is refused, named.
 * A sum (given as `sums`) and the logsumexp family are checked the same way: their NaN would stand for a finite value.
 */
async function refuseHiddenPeriodicNaN(engine: Engine, formula: Node, kind: string, sums?: Float64Array): Promise<void> {
  const rowSums = sums ?? (await engine.sums(formula, [new Float64Array(engine.reduced).fill(1)]))[0]!;
  let f: ScalarKernel | undefined; // the twin, compiled at the first row holding a NaN
  let checked = 0;
  for (let i = 0; i < engine.rows && checked < PERIODIC_CHECKED_ROWS; i++) {
    if (!Number.isNaN(rowSums[i]!)) continue;
    checked++;
    f ??= compileScalarJs(formula);
    let j = 0;
    while (j < engine.reduced && !Number.isNaN(f(i, j))) j++;
    if (j === engine.reduced) {
      throw new RangeError(`Formula.${kind}: row ${i} holds NaN values that the float64 JS evaluation does not: the generated code ` +
        `gives sin and cos of arguments beyond ${periodicLimits} as NaN, and the reduction would skip them; rescale the inputs`);
    }
  }
}

async function kminChecked(engine: Engine, node: Node, k: number): Promise<{ values: Float64Array; indices: Int32Array }> {
  const r = await engine.kmin(node, k);
  for (let i = 0; i < engine.rows; i++) {
    if (r.indices[i * k + k - 1] === -1) {
      let filled = 0;
      while (filled < k && r.indices[i * k + filled] !== -1) filled++;
      checkRowFilled(i, filled, k);
    }
  }
  return r;
}

/** Row-major rows×e from e columns. */
function interleave(columns: readonly Float64Array[], rows: number): Float64Array {
  const e = columns.length;
  if (e === 1) return columns[0]!;
  const out = new Float64Array(rows * e);
  columns.forEach((col, c) => { for (let i = 0; i < rows; i++) out[i * e + c] = col[i]!; });
  return out;
}

/** The columns of a j-variable (m×e row-major) as e Float64Arrays. */
function columnsOf(v: VarNode): Float64Array[] {
  const { rows, cols, data } = v.value;
  return Array.from({ length: cols }, (_, c) => {
    const col = new Float64Array(rows);
    for (let r = 0; r < rows; r++) col[r] = data[r * cols + c]!;
    return col;
  });
}

const isJVar = (n: Node | undefined): n is VarNode => n !== undefined && n.op === 'var' && n.cat === 'j';

/** Both an i- and a j-variable: a formula the kernel programs can run alone. */
function hasBothIndices(n: Node): boolean {
  const v = collectVariables(n);
  return v.i.length > 0 && v.j.length > 0;
}

/** Σ_j G_ij·W_ij per component of W (W absent: Σ_j G_ij), as columns of length rows. */
async function weightedSums(engine: Engine, G: Node, W: Node | undefined): Promise<Float64Array[]> {
  const ones = new Float64Array(engine.reduced).fill(1);
  if (W === undefined) return engine.sums(G, [ones]);
  if (isJVar(W)) return engine.sums(G, columnsOf(W));
  const out: Float64Array[] = [];
  for (let c = 0; c < W.dim; c++) out.push(...await engine.sums(binary('mul', G, componentOf(W, c)), [ones]));
  return out;
}

async function sumOf(engine: Engine, F: Node): Promise<Float64Array> {
  if (F.dim === 1) return (await weightedSums(engine, F, undefined))[0]!;
  // S·v with v a j-variable: one product with v's columns
  if (F.op === 'mul') {
    for (const [S, v] of [[F.left, F.right], [F.right, F.left]] as const) {
      if (S.dim === 1 && isJVar(v) && hasBothIndices(S)) return interleave(await weightedSums(engine, S, v), engine.rows);
    }
  }
  const cols: Float64Array[] = [];
  for (let c = 0; c < F.dim; c++) cols.push(...await weightedSums(engine, componentOf(F, c), undefined));
  return interleave(cols, engine.rows);
}

/**
 * logsumexp and sumSoftmaxWeight, their float32 results checked as a whole: each pass's are (refusingFloat32Overflow),
 * but the two passes' programs may round F differently — the max m finite, exp(F − m) = 0 for every pair of the sums
 * pass, so log 0 = −∞ (formula fuzz, seed 6: −∞ where float64 gives 7.1e28; an unweighted logsumexp now bounds its sum
 * instead, below). A non-finite result where float64's is finite is refused, naming the row.
 */
async function softmaxFamily(engine: Engine, s: ReductionSpec): Promise<Float64Array> {
  const out = await softmaxPasses(engine, s);
  if (engine.exact && !allFinite(out)) {
    const exact = await softmaxPasses(engine.exact, s);
    const width = out.length / engine.rows;
    out.forEach((v, t) => {
      if (!Number.isFinite(v) && Number.isFinite(exact[t]!)) throw float32OverflowError(`Formula.${s.kind}`, 'result', v, `row ${Math.floor(t / width)}`, exact[t]!);
    });
  }
  return out;
}

/**
 * A weighted logsumexp whose sum Σ_j exp(F_ij)·W_ij is negative has no real logarithm (KeOps and the float64 oracle
 * give NaN); it was clamped to 0 and returned as −∞, which reads as "no mass". Refused, naming the first such result
 * (`sums`: the sums of exp(F − m) per weight component; a sum of exactly 0 stays −∞).
 */
function refuseNegativeWeightedSums(sums: readonly Float64Array[], mx: Float64Array, axis: 0 | 1): void {
  sums.forEach((col, c) => {
    const i = col.findIndex((v) => v < 0);
    if (i < 0) return;
    const where = `result ${i}${sums.length > 1 ? `, weight component ${c}` : ''} (axis ${axis})`;
    throw new RangeError(`Formula.logsumexp: at ${where} the weighted sum of exp(F)·W is negative (−exp(${(mx[i]! + Math.log(-col[i]!)).toPrecision(6)})), `
      + 'which has no real logarithm; the weights must keep every sum ≥ 0');
  });
}

async function softmaxPasses(engine: Engine, s: ReductionSpec): Promise<Float64Array> {
  const { values } = await kminChecked(engine, unary('neg', s.formula), 1);
  const rows = engine.rows;
  const mx = values.map((v) => -v);
  const shift = mx.map((v) => (Number.isFinite(v) ? v : 0));
  const shiftVar = variable('i', 'rowMax', Object.freeze({ data: shift, rows, cols: 1 }));
  const G = unary('exp', binary('sub', s.formula, shiftVar));
  if (s.kind === 'logsumexp') {
    const sums = await weightedSums(engine, G, s.weight);
    // unweighted, the max's own term makes Σ exp(F − m) ≥ 1 exactly; the two passes' programs may round F differently
    // (by ulp(F): 4e21 at F ≈ 7e28 in float32), which left the sum below 1, even 0 — the bound restores it
    const floor = s.weight === undefined ? 1 : 0;
    if (s.weight !== undefined) refuseNegativeWeightedSums(sums, mx, s.axis);
    const out = sums.map((col) => col.map((v, i) => (Number.isFinite(mx[i]!) ? mx[i]! + Math.log(Math.max(v, floor)) : mx[i]!)));
    return interleave(out, rows);
  }
  const V = s.weight!;
  // one pass for the denominator and a j-variable V's columns
  const [den, ...num] = isJVar(V)
    ? await engine.sums(G, [new Float64Array(engine.reduced).fill(1), ...columnsOf(V)])
    : [...await weightedSums(engine, G, undefined), ...await weightedSums(engine, G, V)];
  return interleave(num.map((col) => col.map((v, i) => v / den![i]!)), rows);
}

registerReductionExecutor(executeReduction);
