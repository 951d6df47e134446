/**
 * The CPU twin and test oracle: JavaScript generated from the AST for k(x_i, y_j).
 *
 * Safety: the generated text contains only slot-based identifiers (I0, J1, P0, t3, S0 …),
 * operators, `Math.*` calls and numeric literals printed from finite numbers. No user-provided
 * name ever reaches it; bound data enters through function parameters, not through the text.
 *
 * Shape of the code: every non-trivial scalar node becomes one `const tN`; a vector node of
 * dimension ≤ UNROLL_MAX_DIM becomes one `const tN_k` per component, a larger one is computed by a
 * loop into a scratch Float64Array allocated once per compiled function. Shared subtrees (the same
 * node object used twice) are computed once. The scalar semantics match `scalar-ops.ts`.
 */
import type { Node, VarNode } from './ast.js';
import { isBinary, isReduce, isUnary } from './ast.js';
import { collectVariables, rowCounts, variableSlots } from './analyze.js';
import { FormulaError } from './errors.js';
import { isSmallIntegerExponent } from './scalar-ops.js';
import { NORM2_SAFE } from './norm2-range.js';

/** Vectors up to this dimension are unrolled; longer ones are looped. */
export const UNROLL_MAX_DIM = 32;

export type ScalarKernel = (i: number, j: number) => number;

/** A finite number as a JS literal that evaluates to exactly that number (negatives parenthesised). */
export function numberLiteral(v: number): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new FormulaError(`cannot emit non-finite constant ${String(v)}`);
  }
  if (Object.is(v, -0)) return '(-0)';
  return v < 0 ? `(${String(v)})` : String(v);
}

/** Component index: a literal (unrolled) or the loop variable `k`. */
type Index = number | 'k';

/** How to read a computed node: one expression for a scalar, or a per-component expression. */
type Ref =
  | { readonly kind: 'scalar'; readonly expr: string }
  | { readonly kind: 'vector'; readonly dim: number; readonly at: (k: Index) => string };

function component(ref: Ref, k: Index): string {
  return ref.kind === 'scalar' ? ref.expr : ref.at(k);
}

function plusIndex(base: string, k: Index): string {
  return k === 0 ? base : `${base} + ${k}`;
}

function unaryExpr(op: string, a: string): string {
  switch (op) {
    case 'neg': return `(- ${a})`;
    case 'exp': return `Math.exp(${a})`;
    case 'log': return `Math.log(${a})`;
    case 'sqrt': return `Math.sqrt(${a})`;
    case 'rsqrt': return `(${a} === 0 ? 0 : 1 / Math.sqrt(${a}))`; // KeOps: rsqrt(0) = 0 (scalar-ops.ts)
    case 'abs': return `Math.abs(${a})`;
    case 'square': return `(${a} * ${a})`;
    case 'inv': return `(1 / ${a})`;
    case 'sin': return `Math.sin(${a})`;
    case 'cos': return `Math.cos(${a})`;
    case 'tanh': return `Math.tanh(${a})`;
    case 'sign': return `Math.sign(${a})`;
    case 'step': return `(${a} >= 0 ? 1 : 0)`; // KeOps Step: 1 at 0
    case 'relu': return `(${a} < 0 ? 0 : ${a})`;
    case 'sinxdivx': return `(${a} === 0 ? 1 : Math.sin(${a}) / ${a})`;
    case 'log1p': return `Math.log1p(${a})`;
    case 'expm1': return `Math.expm1(${a})`;
    default: throw new FormulaError(`emit-js: unknown unary operator '${op}'`);
  }
}

/** x^n by repeated multiplication, the same order of products as `powInt`. */
function integerPowerExpr(a: string, n: number): string {
  if (n === 0) return '1';
  const product = Array.from({ length: Math.abs(n) }, () => a).join(' * ');
  return n < 0 ? `(1 / (${product}))` : `(${product})`;
}

function binaryExpr(op: string, a: string, b: string, right: Node): string {
  switch (op) {
    case 'add': return `(${a} + ${b})`;
    case 'sub': return `(${a} - ${b})`;
    case 'mul': return `(${a} * ${b})`;
    case 'div': return `(${a} / ${b})`;
    case 'pow':
      if (right.op === 'const' && isSmallIntegerExponent(right.value)) return integerPowerExpr(a, right.value);
      return `Math.pow(${a}, ${b})`;
    case 'min': return `Math.min(${a}, ${b})`;
    case 'max': return `Math.max(${a}, ${b})`;
    case 'atan2': return `Math.atan2(${a}, ${b})`;
    case 'ifnonneg': return `(${a} >= 0 ? ${b} : 0)`;
    case 'ifneg': return `(${a} >= 0 ? 0 : ${b})`;
    default: throw new FormulaError(`emit-js: unknown binary operator '${op}'`);
  }
}

class JsEmitter {
  private readonly prelude: string[] = []; // runs once per compiled function (scratch arrays)
  private readonly body: string[] = [];    // runs per pair (i, j)
  private readonly refs = new Map<Node, Ref>();
  private readonly slots: Map<VarNode, number>;
  private temps = 0;
  private scratches = 0;

  constructor(root: Node) {
    this.slots = variableSlots(root);
  }

  private temp(): string {
    return `t${this.temps++}`;
  }

  private scalar(expr: string): Ref {
    const name = this.temp();
    this.body.push(`const ${name} = ${expr};`);
    return { kind: 'scalar', expr: name };
  }

  /** Materialise a vector from a per-component expression builder. */
  private vector(dim: number, componentExpr: (k: Index) => string): Ref {
    if (dim <= UNROLL_MAX_DIM) {
      const name = this.temp();
      for (let k = 0; k < dim; k++) this.body.push(`const ${name}_${k} = ${componentExpr(k)};`);
      return { kind: 'vector', dim, at: (k) => (k === 'k' ? unreachableLoopIndex() : `${name}_${k}`) };
    }
    const scratch = `S${this.scratches++}`;
    this.prelude.push(`const ${scratch} = new Float64Array(${dim});`);
    this.body.push(`for (let k = 0; k < ${dim}; k++) ${scratch}[k] = ${componentExpr('k')};`);
    return { kind: 'vector', dim, at: (k) => `${scratch}[${k}]` };
  }

  /** Sum over components of term(k), unrolled or looped by dimension. */
  private sumOver(dim: number, term: (k: Index) => string): string {
    if (dim <= UNROLL_MAX_DIM) {
      return `(${Array.from({ length: dim }, (_, k) => term(k)).join(' + ')})`;
    }
    const acc = this.temp();
    this.body.push(`let ${acc} = 0;`);
    this.body.push(`for (let k = 0; k < ${dim}; k++) ${acc} += ${term('k')};`);
    return acc;
  }

  /**
   * √sq, recomputed with scaling where sq is outside float64's safe range (norm2-range.ts): Math.hypot unrolled,
   * two loops over the components (max, then the scaled squares) otherwise. NaN where a component is NaN.
   */
  private norm2(dim: number, c: (k: Index) => string, sq: string): Ref {
    const s = this.temp();
    this.body.push(`const ${s} = ${sq};`);
    const inRange = `${s} >= ${numberLiteral(NORM2_SAFE.float64.tiny)} && ${s} < ${numberLiteral(NORM2_SAFE.float64.huge)}`;
    if (dim <= UNROLL_MAX_DIM) {
      const all = Array.from({ length: dim }, (_, k) => c(k)).join(', ');
      return this.scalar(`(${inRange}) || ${s} !== ${s} ? Math.sqrt(${s}) : Math.hypot(${all})`);
    }
    const [r, m, t, q] = [this.temp(), this.temp(), this.temp(), this.temp()];
    this.body.push(
      `let ${r} = Math.sqrt(${s});`,
      `if (!(${inRange}) && ${s} === ${s}) {`,
      `  let ${m} = 0;`,
      `  for (let k = 0; k < ${dim}; k++) ${m} = Math.max(${m}, Math.abs(${c('k')}));`,
      `  if (${m} === 0 || ${m} === Infinity) ${r} = ${m};`,
      `  else { let ${t} = 0; for (let k = 0; k < ${dim}; k++) { const ${q} = ${c('k')} / ${m}; ${t} += ${q} * ${q}; } ${r} = ${m} * Math.sqrt(${t}); }`,
      '}',
    );
    return { kind: 'scalar', expr: r };
  }

  private variable(v: VarNode): Ref {
    const slot = this.slots.get(v) as number;
    const array = `${v.cat.toUpperCase()}${slot}`;
    if (v.cat === 'p') {
      return v.dim === 1
        ? { kind: 'scalar', expr: `${array}[0]` }
        : { kind: 'vector', dim: v.dim, at: (k) => `${array}[${k}]` };
    }
    const offset = `o${v.cat}${slot}`;
    return v.dim === 1
      ? { kind: 'scalar', expr: `${array}[${offset}]` }
      : { kind: 'vector', dim: v.dim, at: (k) => `${array}[${plusIndex(offset, k)}]` };
  }

  emit(n: Node): Ref {
    const cached = this.refs.get(n);
    if (cached !== undefined) return cached;
    const ref = this.emitUncached(n);
    this.refs.set(n, ref);
    return ref;
  }

  private emitUncached(n: Node): Ref {
    if (n.op === 'var') return this.variable(n);
    if (n.op === 'const') return { kind: 'scalar', expr: numberLiteral(n.value) };
    if (isUnary(n)) {
      const a = this.emit(n.arg);
      if (n.dim === 1) return this.scalar(unaryExpr(n.op, component(a, 0)));
      return this.vector(n.dim, (k) => unaryExpr(n.op, component(a, k)));
    }
    if (isBinary(n)) {
      const a = this.emit(n.left);
      const b = this.emit(n.right);
      const expr = (k: Index): string => binaryExpr(n.op, component(a, k), component(b, k), n.right);
      return n.dim === 1 ? this.scalar(expr(0)) : this.vector(n.dim, expr);
    }
    if (isReduce(n)) {
      const a = this.emit(n.arg);
      const dim = n.arg.dim;
      if (n.op === 'sum') return this.scalar(this.sumOver(dim, (k) => component(a, k)));
      const sq = this.sumOver(dim, (k) => `${component(a, k)} * ${component(a, k)}`);
      return n.op === 'sqnorm2' ? this.scalar(sq) : this.norm2(dim, (k) => component(a, k), sq);
    }
    if (n.op === 'dot') {
      const a = this.emit(n.left);
      const b = this.emit(n.right);
      return this.scalar(this.sumOver(n.left.dim, (k) => `${component(a, k)} * ${component(b, k)}`));
    }
    throw new FormulaError(`emit-js: unknown node '${(n as Node).op}'`);
  }

  /** Full source: the prelude, then `return function kernel(i, j) { … }`. */
  source(root: Node, offsets: string[]): string {
    const result = this.emit(root);
    if (result.kind !== 'scalar') throw new FormulaError('emit-js: root must be scalar');
    return [
      '"use strict";',
      ...this.prelude,
      'return function kernel(i, j) {',
      ...offsets.map((line) => `  ${line}`),
      ...this.body.map((line) => `  ${line}`),
      `  return ${result.expr};`,
      '};',
    ].join('\n');
  }
}

function unreachableLoopIndex(): never {
  throw new FormulaError('emit-js: internal error: loop index used on an unrolled vector');
}

function checkScalarRoot(node: Node): void {
  if (node.dim !== 1) {
    throw new FormulaError(
      `a kernel formula must be scalar (dim 1) but has dim ${node.dim}; reduce it with sum, sqnorm2, norm2 or dot`,
    );
  }
}

interface CompiledSource {
  readonly params: string[];
  readonly source: string;
}

function generate(node: Node): CompiledSource {
  checkScalarRoot(node);
  const vars = collectVariables(node);
  const offsets = [
    ...vars.i.map((v, s) => `const oi${s} = i * ${v.dim};`),
    ...vars.j.map((v, s) => `const oj${s} = j * ${v.dim};`),
  ];
  const params = [
    ...vars.i.map((_, s) => `I${s}`),
    ...vars.j.map((_, s) => `J${s}`),
    ...vars.p.map((_, s) => `P${s}`),
  ];
  return { params, source: new JsEmitter(node).source(node, offsets) };
}

/** The generated JavaScript source (a function body taking I0…, J0…, P0… and returning the kernel). */
export function compileScalarJsSource(node: Node): string {
  return generate(node).source;
}

/** k(row xi of the i-variables, row yj of the j-variables), reading the bound data. */
export function compileScalarJs(node: Node): ScalarKernel {
  const { params, source } = generate(node);
  const vars = collectVariables(node);
  const arrays = [...vars.i, ...vars.j, ...vars.p].map((v) => v.value.data);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- text built only from the AST (see module comment)
  const factory = new Function(...params, source) as (...data: Float64Array[]) => ScalarKernel;
  return factory(...arrays);
}

/** The dense n×m kernel matrix, row-major. */
export function evaluateDenseJs(node: Node): Float64Array {
  const { n, m } = rowCounts(node);
  const k = compileScalarJs(node);
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[i * m + j] = k(i, j);
  return out;
}

/** The diagonal k(x_i, y_i) of a square kernel matrix. */
export function evaluateDiagonalJs(node: Node): Float64Array {
  const { n, m } = rowCounts(node);
  if (n !== m) throw new FormulaError(`diagonal needs a square kernel matrix (got ${n}×${m})`);
  const k = compileScalarJs(node);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = k(i, i);
  return out;
}
