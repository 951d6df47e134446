/**
 * Reductions of a formula over one of its two indices (KeOps' LazyTensor reductions): the one spec every
 * backend computes, and the float64 JS oracle that tests compare them with.
 *
 * `axis` 1 reduces over j (one result per i, n rows), `axis` 0 over i (one result per j, m rows; computed as
 * the axis-1 reduction of the formula with i and j swapped). Semantics:
 *  - sum: Σ_j F_ij, per component for a vector formula (n×e row-major);
 *  - min, max, argmin, argmax, minArgmin, maxArgmax: scalar formulas; ties go to the lowest index;
 *  - kmin, argKmin, kminArgKmin: the k smallest values per row, ascending, ties to the lowest index
 *    (n×k row-major), 1 ≤ k ≤ min(m, MAX_KMIN_K);
 *  - logsumexp(axis, weight?): log Σ_j exp(F_ij)·W_ij, computed as m_i + log Σ_j exp(F_ij − m_i)·W_ij with
 *    m_i = max_j F_ij, so it never overflows; a vector weight gives one result per component; a weighted sum below 0
 *    (no real logarithm) is refused by the backends, naming the result (this oracle gives NaN there);
 *  - sumSoftmaxWeight(V, axis): Σ_j exp(F_ij − m_i)·V_ij / Σ_j exp(F_ij − m_i), V of any dimension.
 * NaN values the formula produces are skipped by the min/max family (as numpy's nanmin) and propagate through
 * sums; a row with fewer than k non-NaN values is an error naming it. Input arrays with NaN or ±∞ are refused
 * where they are bound (`Vi`, `Vj`, `Pm`), with the array, row and column named.
 */
import type { Node, VarNode } from './ast.js';
import { isBinary, isUnary } from './ast.js';
import { collectVariables, rowCounts, swapIJ } from './analyze.js';
import { compileScalarJs } from './emit-js.js';
import { FormulaError, describeArgument } from './errors.js';
import { binary, unary, variable } from './nodes.js';

/** Largest k of the k-min reductions: each row keeps a sorted buffer of k candidates in registers or locals. */
export const MAX_KMIN_K = 64;

export type ReductionKind =
  | 'sum' | 'min' | 'max' | 'argmin' | 'argmax' | 'minArgmin' | 'maxArgmax'
  | 'kmin' | 'argKmin' | 'kminArgKmin' | 'logsumexp' | 'sumSoftmaxWeight';

export type Axis = 0 | 1;

/** A reduction of `formula` over `axis`; `k` for the k-min family, `weight` for logsumexp / sumSoftmaxWeight. */
export interface ReductionSpec {
  readonly kind: ReductionKind;
  readonly axis: Axis;
  readonly formula: Node;
  readonly k: number;
  readonly weight?: Node;
}

export interface ValuesAndIndices {
  /** Row-major n×k (k = 1 for minArgmin/maxArgmax). */
  readonly values: Float64Array;
  readonly indices: Int32Array;
}

export type ReductionResult = Float64Array | Int32Array | ValuesAndIndices;

/** Where a reduction runs: `backend` and `dtype` as for kernel operators (default: the global backend). */
export interface ReductionOptions {
  backend?: 'auto' | 'cpu' | 'gpu';
  dtype?: 'float32' | 'float64';
}

const SCALAR_ONLY: readonly ReductionKind[] = [
  'min', 'max', 'argmin', 'argmax', 'minArgmin', 'maxArgmax', 'kmin', 'argKmin', 'kminArgKmin', 'logsumexp', 'sumSoftmaxWeight',
];

export function checkAxis(method: string, axis: unknown): Axis {
  if (axis === 0 || axis === 1) return axis;
  throw new FormulaError(
    `Formula.${method}: axis must be 0 (reduce over i, one result per j) or 1 (reduce over j, one result per i); got ${describe(axis)}`,
  );
}

/** An axis or k as given: a number as it is, anything else quoted with its type ('a string "1"'). */
function describe(v: unknown): string {
  if (v === undefined) return 'no axis';
  if (typeof v === 'number') return String(v);
  if (v !== null && typeof v === 'object' && 'node' in v) return 'a Formula';
  return describeArgument(v);
}

/** Validates and freezes a spec (the builder's reduction methods call this). */
export function reductionSpec(kind: ReductionKind, formula: Node, axis: Axis, k = 1, weight?: Node): ReductionSpec {
  if (SCALAR_ONLY.includes(kind) && formula.dim !== 1) {
    throw new FormulaError(`Formula.${kind}: the formula must be scalar (it has dimension ${formula.dim}); sum accepts vector formulas`);
  }
  if (kind === 'kmin' || kind === 'argKmin' || kind === 'kminArgKmin') {
    if (!Number.isInteger(k) || k < 1) throw new FormulaError(`Formula.${kind}: k must be a positive integer (got ${describe(k)})`);
    if (k > MAX_KMIN_K) {
      throw new FormulaError(`Formula.${kind}: k = ${k} exceeds the limit ${MAX_KMIN_K} of the per-row candidate buffer; reduce k`);
    }
    const { n, m } = rowCounts(formula);
    const reduced = axis === 1 ? m : n;
    if (k > reduced) throw new FormulaError(`Formula.${kind}: k = ${k} exceeds the ${reduced} values reduced over (axis ${axis})`);
  }
  rowCounts(formula); // needs Vi and Vj
  if (weight !== undefined) checkWeight(kind, formula, weight);
  return Object.freeze({ kind, axis, formula, k, ...(weight ? { weight } : {}) });
}

function checkWeight(kind: ReductionKind, formula: Node, weight: Node): void {
  const vars = collectVariables(weight);
  const { n, m } = rowCounts(formula);
  for (const v of [...vars.i, ...vars.j]) {
    const rows = v.cat === 'i' ? n : m;
    if (v.value.rows !== rows) {
      throw new FormulaError(`Formula.${kind}: the weight's ${v.cat}-variable '${v.name}' has ${v.value.rows} rows, the formula's have ${rows}`);
    }
  }
}

/** The spec as an axis-1 reduction: the formula (and weight) with i and j swapped for axis 0. */
export function alongJ(spec: ReductionSpec): ReductionSpec {
  if (spec.axis === 1) return spec;
  return Object.freeze({ ...spec, axis: 1, formula: swapIJ(spec.formula), ...(spec.weight ? { weight: swapIJ(spec.weight) } : {}) });
}

/** Rows of the result (n for axis 1, m for axis 0) and the reduced count. */
export function reductionShape(spec: ReductionSpec): { rows: number; reduced: number } {
  const { n, m } = rowCounts(spec.formula);
  return spec.axis === 1 ? { rows: n, reduced: m } : { rows: m, reduced: n };
}

/** Components of the result per row (e for sum of a dim-e formula, k for the k-min family, …). */
export function resultWidth(spec: ReductionSpec): number {
  switch (spec.kind) {
    case 'sum': return spec.formula.dim;
    case 'kmin': case 'argKmin': case 'kminArgKmin': return spec.k;
    case 'logsumexp': return spec.weight?.dim ?? 1;
    case 'sumSoftmaxWeight': return spec.weight!.dim;
    default: return 1;
  }
}

// ------------------------------------------------------------------ components of a vector formula

/**
 * Component c of a vector formula as a scalar formula of the same variables' columns: element-wise nodes map
 * component-wise, scalar subtrees (reductions, dots, scalar variables) stay as they are. Backends that compute
 * scalar reductions use it for vector sums and weights (one pass per component).
 */
export function componentOf(node: Node, c: number): Node {
  if (c < 0 || c >= node.dim) throw new FormulaError(`componentOf: component ${c} of a dim-${node.dim} formula`);
  const memo = new Map<Node, Node>();
  const at = (n: Node): Node => {
    if (n.dim === 1) return n;
    const hit = memo.get(n);
    if (hit) return hit;
    let out: Node;
    if (n.op === 'var') out = columnVariable(n, c);
    else if (isUnary(n)) out = unary(n.op, at(n.arg));
    else if (isBinary(n)) out = binary(n.op, at(n.left), at(n.right));
    else throw new FormulaError(`componentOf: '${n.op}' of dimension ${n.dim}`);
    memo.set(n, out);
    return out;
  };
  return at(node);
}

const columnCache = new WeakMap<VarNode, Map<number, VarNode>>();

/** The variable of column c of `v` (one object per (v, c), so a formula keeps one slot for it). */
function columnVariable(v: VarNode, c: number): VarNode {
  let perVar = columnCache.get(v);
  if (!perVar) columnCache.set(v, (perVar = new Map()));
  let col = perVar.get(c);
  if (!col) {
    const { rows, cols, data } = v.value;
    const column = new Float64Array(rows);
    for (let r = 0; r < rows; r++) column[r] = data[r * cols + c]!;
    col = variable(v.cat, `${v.name}[${c}]`, Object.freeze({ data: column, rows, cols: 1 }));
    perVar.set(c, col);
  }
  return col;
}

// ------------------------------------------------------------------ the float64 JS oracle

/** Brute-force float64 evaluation of a reduction (the tests' reference; O(n·m) evaluations of the JS twin). */
export function evaluateReductionJs(spec: ReductionSpec): ReductionResult {
  const s = alongJ(spec);
  const { rows, reduced } = reductionShape(spec);
  const kernel = (node: Node) => compileScalarJs(node);
  const comps = (node: Node) => Array.from({ length: node.dim }, (_, c) => kernel(componentOf(node, c)));
  switch (s.kind) {
    case 'sum': {
      const fs = comps(s.formula);
      const out = new Float64Array(rows * fs.length);
      for (let i = 0; i < rows; i++) {
        fs.forEach((f, c) => {
          let acc = 0;
          for (let j = 0; j < reduced; j++) acc += f(i, j);
          out[i * fs.length + c] = acc;
        });
      }
      return out;
    }
    case 'logsumexp': case 'sumSoftmaxWeight':
      return softmaxFamilyJs(s, kernel(s.formula), s.weight ? comps(s.weight) : [() => 1], rows, reduced);
    default:
      return kminFamilyJs(s, kernel(s.formula), rows, reduced);
  }
}

function softmaxFamilyJs(
  s: ReductionSpec, f: (i: number, j: number) => number, ws: ((i: number, j: number) => number)[], rows: number, reduced: number,
): Float64Array {
  const e = ws.length;
  const out = new Float64Array(rows * e);
  for (let i = 0; i < rows; i++) {
    let mx = -Infinity; // streaming max and rescaled sums
    let den = 0;
    const num = new Float64Array(e);
    for (let j = 0; j < reduced; j++) {
      const v = f(i, j);
      if (v > mx) {
        const r = Math.exp(mx - v);
        den *= r;
        for (let c = 0; c < e; c++) num[c]! *= r;
        mx = v;
      }
      const t = Math.exp(v - mx);
      den += t;
      for (let c = 0; c < e; c++) num[c]! += t * ws[c]!(i, j);
    }
    for (let c = 0; c < e; c++) {
      out[i * e + c] = s.kind === 'logsumexp' ? (Number.isFinite(mx) ? mx + Math.log(num[c]!) : mx) : num[c]! / den;
    }
  }
  return out;
}

function kminFamilyJs(s: ReductionSpec, f: (i: number, j: number) => number, rows: number, reduced: number): ReductionResult {
  const isMax = s.kind === 'max' || s.kind === 'argmax' || s.kind === 'maxArgmax';
  const k = s.k;
  const values = new Float64Array(rows * k);
  const indices = new Int32Array(rows * k);
  for (let i = 0; i < rows; i++) {
    const cand: { v: number; j: number }[] = [];
    for (let j = 0; j < reduced; j++) {
      const v = f(i, j);
      if (!Number.isNaN(v)) cand.push({ v: isMax ? -v : v, j });
    }
    cand.sort((a, b) => a.v - b.v || a.j - b.j);
    checkRowFilled(i, cand.length, k);
    for (let t = 0; t < k; t++) {
      values[i * k + t] = isMax ? -cand[t]!.v : cand[t]!.v;
      indices[i * k + t] = cand[t]!.j;
    }
  }
  return shapeKminResult(s.kind, values, indices);
}

/** A row with fewer than k non-NaN values has no answer: an error naming it. */
export function checkRowFilled(row: number, filled: number, k: number): void {
  if (filled < k) {
    throw new FormulaError(`reduction: row ${row} has ${filled} non-NaN formula values, fewer than the ${k} asked for (NaN values are skipped)`);
  }
}

/** The result object of a min/max/k-min reduction from its n×k values and indices. */
export function shapeKminResult(kind: ReductionKind, values: Float64Array, indices: Int32Array): ReductionResult {
  switch (kind) {
    case 'min': case 'max': case 'kmin': return values;
    case 'argmin': case 'argmax': case 'argKmin': return indices;
    default: return Object.freeze({ values, indices });
  }
}

// ------------------------------------------------------------------ backend registration

export type ReductionExecutor = (spec: ReductionSpec, options: ReductionOptions | undefined) => Promise<ReductionResult>;

let executor: ReductionExecutor | undefined;

/** Installed by the operators layer (the backends sit above the formula layer). */
export function registerReductionExecutor(fn: ReductionExecutor): void {
  executor = fn;
}

export function runReduction(spec: ReductionSpec, options?: ReductionOptions): Promise<ReductionResult> {
  if (!executor) {
    return Promise.reject(new FormulaError('formula reductions need a backend: import them from the package entry (lazylinalg), not from the formula module alone'));
  }
  return executor(spec, options);
}

