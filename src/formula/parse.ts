/**
 * String formulas in mathjs syntax: `exp(-sqnorm2(x - y) / (2 * s^2))`.
 *
 * mathjs is used only as a parser: its syntax tree is walked here and every node is rebuilt with
 * the checking constructors, so nothing is ever evaluated by mathjs and only whitelisted
 * operators and functions can appear. Symbols resolve through the caller's scope (own
 * properties only, so `constructor` or `__proto__` never reach Object.prototype).
 * Implicit multiplication (`2 x`, `2 sqnorm2(x - y)`) is mathjs syntax for `*` and is accepted.
 */
import type { MathNode } from 'mathjs';
import type { BinaryOp, ReduceOp, UnaryOp, VarNode } from './ast.js';
import { Formula, Pm, hasDefaultName, max, min } from './builder.js';
import { collectVariables } from './analyze.js';
import { describeArgument, editDistance, FormulaError } from './errors.js';
import { MAX_FORMULA_DEPTH, binary, unary } from './nodes.js';

/** mathjs's `parse`, as a host loads it (`mathjs-node.ts`, `mathjs-browser.ts`). */
export type MathjsParse = (source: string) => MathNode;

/** Where mathjs's parser comes from, installed by the entry point; called at the first string formula. */
let loadMathParse: (() => MathjsParse) | undefined;
let mathParse: MathjsParse | undefined;

/** Installs how mathjs's parser is loaded (the entry points do; tests importing internals use test/setup-platform.ts). */
export function installMathjsLoader(load: () => MathjsParse): void {
  loadMathParse = load;
  mathParse = undefined;
}

function mathjsParse(): MathjsParse {
  if (!mathParse) {
    if (!loadMathParse) throw new Error("lazylinalg: no mathjs loader installed; import 'lazylinalg' (Node or browser entry) before its internal modules");
    mathParse = loadMathParse();
  }
  return mathParse;
}

export type ScopeValue = Formula | number | number[];
export type FormulaScope = Record<string, ScopeValue>;

const UNARY_FUNCTIONS: readonly UnaryOp[] = [
  'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'square', 'inv', 'sin', 'cos', 'tanh', 'sign', 'step', 'relu',
  'sinxdivx', 'log1p', 'expm1',
];
const REDUCE_FUNCTIONS: readonly ReduceOp[] = ['sqnorm2', 'norm2', 'sum'];
/** mathjs names where mathjs has the function (atan2, log1p, expm1); ifnonneg/ifneg are what `ifelse` prints as. */
const BINARY_FUNCTIONS = ['min', 'max', 'pow', 'dot', 'atan2', 'ifnonneg', 'ifneg', 'weightedSqNorm'] as const;
/** Functions built from the others: sinc(x) = sinxdivx(πx); clamp, ifelse and weightedSqDist take three arguments. */
const COMPOSED_FUNCTIONS: Readonly<Record<string, number>> = { sinc: 1, clamp: 3, ifelse: 3, weightedSqDist: 3 };
const ALLOWED_FUNCTIONS: readonly string[] = [...UNARY_FUNCTIONS, ...REDUCE_FUNCTIONS, ...BINARY_FUNCTIONS, ...Object.keys(COMPOSED_FUNCTIONS)];

const CONSTANTS: Readonly<Record<string, number>> = { pi: Math.PI, e: Math.E };

const INFIX_OPERATORS: Readonly<Record<string, BinaryOp>> = {
  add: 'add', subtract: 'sub', multiply: 'mul', divide: 'div', pow: 'pow',
};

/** What each rejected mathjs node type is, in the user's words. */
const UNSUPPORTED_NODES: Readonly<Record<string, string>> = {
  AssignmentNode: 'assignment',
  FunctionAssignmentNode: 'function definition',
  ArrayNode: 'matrix/array literal',
  AccessorNode: 'property access or indexing',
  IndexNode: 'indexing',
  ObjectNode: 'object literal',
  ConditionalNode: 'conditional (a ? b : c)',
  RangeNode: 'range (a:b)',
  BlockNode: 'multiple expressions',
  RelationalNode: 'comparison',
};

const ALLOWED_SYNTAX =
  'allowed: numbers, scope symbols, pi, e, + - * / ^, unary -/+, parentheses and the functions ' +
  ALLOWED_FUNCTIONS.join(', ');

/**
 * Deepest nesting of parentheses (function calls included) accepted. mathjs parses recursively, about 25 calls
 * per level, and ran out of call stack near 260 levels: the limit keeps a wide margin for callers' own frames.
 */
export const MAX_PARENTHESIS_DEPTH = 100;

/** Deepest parenthesis nesting of `source` (a '(' inside a string literal counts too: those are refused anyway). */
function parenthesisDepth(source: string): number {
  let depth = 0;
  let deepest = 0;
  for (let k = 0; k < source.length; k++) {
    const c = source.charCodeAt(k);
    if (c === 40) deepest = Math.max(deepest, ++depth); // (
    else if (c === 41) depth--; // )
  }
  return deepest;
}

/** Levels of a mathjs tree, walked with an explicit stack (the tree may be deeper than the call stack allows). */
function treeDepth(root: MathNode): number {
  let deepest = 0;
  const stack: [MathNode, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > deepest) deepest = depth;
    node.forEach((child: MathNode) => { stack.push([child, depth + 1]); });
  }
  return deepest;
}

function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/** Parse `source` into a Formula; names in `scope` are the symbols it may use, and each must be used. */
export function parseFormula(source: string, scope: FormulaScope): Formula {
  return parseFormulaIn(source, scope, false);
}

/**
 * `parseFormula`, where `unusedAllowed` lets scope entries go unread: for callers whose scope is theirs, not the
 * user's (knn's metric formulas get { x, y } and say themselves what a metric must use).
 */
export function parseFormulaIn(source: string, scope: FormulaScope, unusedAllowed: boolean): Formula {
  if (typeof source !== 'string') throw new FormulaError('parseFormula: the formula must be a string');
  // mathjs reads '' as an undefined constant ("unsupported literal undefined")
  if (source.trim() === '') throw new FormulaError('the formula is empty: write an expression of the scope\'s symbols, e.g. "sqnorm2(x - y)"');
  if (typeof scope !== 'object' || scope === null) {
    throw new FormulaError('parseFormula: scope must be an object mapping names to Formulas or numbers');
  }
  const reader = new FormulaReader(source, scope);
  const result = reader.read(syntaxTree(source));
  checkRowCounts(result, reader.scopeNames, reader.fail);
  if (!unusedAllowed) reader.refuseUnused();
  return result;
}

/** The mathjs tree of `source`, within the nesting limits (errors located in the source). */
function syntaxTree(source: string): MathNode {
  const nesting = parenthesisDepth(source);
  if (nesting > MAX_PARENTHESIS_DEPTH) {
    throw new FormulaError(`formula nests parentheses ${nesting} deep; the limit is ${MAX_PARENTHESIS_DEPTH} ${shortWhere(source)}`);
  }
  const parse = mathjsParse();
  let tree: MathNode;
  try {
    tree = parse(source);
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep(source, 'for the parser'); // e.g. thousands of unary minus signs
    throw new FormulaError(`syntax error ${shortWhere(source)}: ${(err as Error).message}`);
  }
  const depth = treeDepth(tree);
  if (depth > MAX_FORMULA_DEPTH) throw tooDeep(source, `(${depth} nested operations)`);
  return tree;
}

/**
 * One parse's walk of the mathjs tree into a Formula: symbols resolved in the scope (one Pm per scope key, so `s` used
 * twice is one parameter), calls checked against the allowed functions, and every error located in the source.
 */
class FormulaReader {
  /** The scope key of each Vi / Vj bound directly, for errors: Vi(points) is named 'x' unless the user names it. */
  readonly scopeNames = new Map<VarNode, string>();
  private readonly parameters = new Map<string, Formula>();
  private readonly used = new Set<string>();
  private readonly located = new WeakSet<Error>();
  private readonly where: string;

  constructor(private readonly source: string, private readonly scope: FormulaScope) {
    this.where = shortWhere(source);
  }

  /** Throws `message` located in the source; `tail` follows the location (lists of what is allowed). */
  readonly fail = (message: string, tail = ''): never => {
    const err = new FormulaError(`${message} ${this.where}${tail}`);
    this.located.add(err);
    throw err;
  };

  /** The Formula of the whole tree. */
  read(tree: MathNode): Formula {
    try {
      return this.walk(tree);
    } catch (err) {
      if (err instanceof RangeError) throw tooDeep(this.source, 'to compile');
      // Dimension errors from the constructors: add where they happened.
      if (err instanceof FormulaError && !this.located.has(err)) throw new FormulaError(`${err.message} ${this.where}`);
      throw err;
    }
  }

  /**
   * Refuses a scope binding the formula never reads: a mistake a result would not show — a misspelt symbol beside the
   * right one, or an option (backend, dtype…) put in the scope, where it would be ignored.
   */
  refuseUnused(): void {
    const unused = Object.keys(this.scope).filter((name) => !this.used.has(name));
    if (unused.length === 0) return;
    const name = unused[0]!;
    const option = OPTION_NAMES.find((o) => o === name || editDistance(o, name) <= 2);
    const hint = option !== undefined
      ? `; options such as '${option}' go in kernelOperator's third argument, kernelOperator(formula, scope, { ${option}: … })`
      : `; remove ${unused.length > 1 ? 'them' : 'it'}, or use ${unused.length > 1 ? 'them' : 'it'} in the formula`;
    this.fail(`scope binds '${name}'${unused.length > 1 ? ` (and ${unused.slice(1).map((u) => `'${u}'`).join(', ')})` : ''}, which the formula does not use`,
      `; it uses ${[...this.used].join(', ') || 'no scope symbol'}${hint}`);
  }

  private walk(node: MathNode): Formula {
    // mathjs node classes expose their fields untyped for our purposes; read them defensively.
    const n = node as unknown as Record<string, unknown> & { type: string };
    switch (n.type) {
      case 'ConstantNode': {
        const value = n['value'];
        if (typeof value !== 'number') return this.fail(`unsupported literal ${JSON.stringify(value)} (only numbers)`, `; ${ALLOWED_SYNTAX}`);
        if (!Number.isFinite(value)) return this.fail(`number literal out of range (${String(value)})`);
        return Formula.from(value);
      }
      case 'SymbolNode':
        return this.resolveSymbol(n['name'] as string);
      case 'ParenthesisNode':
        return this.walk(n['content'] as MathNode);
      case 'OperatorNode':
        return this.operator(String(n['op']), n['fn'] as string, (n['args'] as MathNode[]).map((arg) => this.walk(arg)));
      case 'FunctionNode': {
        const fnNode = n['fn'] as Record<string, unknown> & { type: string };
        if (fnNode.type !== 'SymbolNode') return this.fail('unsupported call of a computed function', `; ${ALLOWED_SYNTAX}`);
        const name = fnNode['name'] as string;
        // Check the name before walking the arguments so the error names the function.
        if (!ALLOWED_FUNCTIONS.includes(name)) {
          return this.fail(`unknown function '${name}'`, `; allowed functions: ${ALLOWED_FUNCTIONS.join(', ')}`);
        }
        return this.callFunction(name, (n['args'] as MathNode[]).map((arg) => this.walk(arg)));
      }
      default: {
        const what = UNSUPPORTED_NODES[n.type] ?? n.type;
        return this.fail(`unsupported syntax: ${what}`, `; ${ALLOWED_SYNTAX}`);
      }
    }
  }

  /** An infix or prefix operator (`op` as written, `fn` mathjs's name) on its walked operands. */
  private operator(op: string, fn: string, args: Formula[]): Formula {
    if (fn === 'unaryMinus' && args.length === 1) return (args[0] as Formula).neg();
    if (fn === 'unaryPlus' && args.length === 1) return args[0] as Formula;
    const infix = hasOwn(INFIX_OPERATORS, fn) ? INFIX_OPERATORS[fn] : undefined;
    if (infix === undefined || args.length !== 2) return this.fail(`unsupported operator '${op}'`, `; ${ALLOWED_SYNTAX}`);
    const [a, b] = args as [Formula, Formula];
    switch (infix) {
      case 'add': return a.add(b);
      case 'sub': return a.sub(b);
      case 'mul': return a.mul(b);
      case 'div': return a.div(b);
      default: return a.pow(b);
    }
  }

  private resolveSymbol(name: string): Formula {
    const { scope } = this;
    if (hasOwn(scope, name)) {
      this.used.add(name);
      const value: unknown = scope[name];
      if (value instanceof Formula) {
        // the node itself, not a renamed copy: F.grad(xi) finds xi by identity
        if (value.node.op === 'var' && hasDefaultName(value.node)) this.scopeNames.set(value.node, name);
        return value;
      }
      if (Array.isArray(value) && value.some((row) => typeof row === 'object' && row !== null)) {
        return this.fail(`scope value '${name}' is an array of ${value.length} rows (points?): points go in Vi(…) (one row per i) or Vj(…) (one per j), ` +
          `e.g. { ${name}: Vi(points) }; a number[] is a parameter`);
      }
      if (typeof value === 'number' || Array.isArray(value)) {
        let p = this.parameters.get(name);
        if (p === undefined) {
          p = Pm(value as number | number[], name);
          this.parameters.set(name, p);
        }
        return p;
      }
      const points = typeof value === 'object' && value !== null && (ArrayBuffer.isView(value) || ('rows' in value && ('cols' in value || 'columns' in value)))
        ? `; points go in Vi(…) or Vj(…), e.g. { ${name}: Vi(points) }` : '';
      return this.fail(`scope value '${name}' must be a Formula, a number or a number[] (got ${describeArgument(value)})${points}`);
    }
    if (hasOwn(CONSTANTS, name)) return Formula.from(CONSTANTS[name] as number);
    const hint = ALLOWED_FUNCTIONS.includes(name) ? ` ('${name}' is a function: call it as ${name}(…))` : '';
    const knownNames = Object.keys(scope);
    return this.fail(`unknown symbol '${name}'${hint}`,
      `; known: ${knownNames.length > 0 ? knownNames.join(', ') : '(empty scope)'}; constants: pi, e`);
  }

  private callFunction(name: string, args: Formula[]): Formula {
    if (!ALLOWED_FUNCTIONS.includes(name)) {
      return this.fail(`unknown function '${name}'`, `; allowed functions: ${ALLOWED_FUNCTIONS.join(', ')}`);
    }
    const arity = COMPOSED_FUNCTIONS[name] ?? ((BINARY_FUNCTIONS as readonly string[]).includes(name) ? 2 : 1);
    if (args.length !== arity) {
      return this.fail(`${name} takes ${arity} argument${arity === 1 ? '' : 's'} but got ${args.length}`);
    }
    const [a, b, c] = args as [Formula, Formula, Formula];
    switch (name) {
      case 'sinc': return a.sinc();
      case 'clamp': return a.clamp(b, c);
      case 'ifelse': return a.ifelse(b, c);
      case 'weightedSqDist': return a.weightedSqDist(b, c);
      case 'weightedSqNorm': return a.weightedSqNorm(b);
      case 'atan2': return a.atan2(b);
      case 'ifnonneg': case 'ifneg': return new Formula(binary(name, a.node, b.node));
      case 'min': return min(a, b);
      case 'max': return max(a, b);
      case 'pow': return a.pow(b);
      case 'dot': return a.dot(b);
      case 'sqnorm2': return a.sqnorm2();
      case 'norm2': return a.norm2();
      case 'sum': return a.sum();
      default: return new Formula(unary(name as UnaryOp, a.node));
    }
  }
}

/**
 * Vi (and Vj) variables of different row counts, refused here rather than where the operator is built so that the
 * message can name them as the scope does: 'z' for `z: Vi(points)`, whose own name is the default 'x'.
 */
function checkRowCounts(f: Formula, scopeNames: ReadonlyMap<VarNode, string>, fail: (message: string) => never): void {
  const vars = collectVariables(f.node);
  for (const [kind, list] of [['Vi', vars.i], ['Vj', vars.j]] as const) {
    const first = list[0];
    const other = list.find((v) => v.value.rows !== first!.value.rows);
    if (first === undefined || other === undefined) continue;
    const name = (v: VarNode) => scopeNames.get(v) ?? v.name;
    fail(`${kind} variables have different row counts: '${name(first)}' has ${first.value.rows} rows but '${name(other)}' has ${other.value.rows}`);
  }
}

/** KernelOperator's options (operators/kernel-operator.ts), named when one is found in a scope. */
const OPTION_NAMES = ['backend', 'dtype', 'symmetric', 'denseCache', 'label'] as const;

/** Where a formula is, shortened: a formula at a limit can be megabytes long. */
function shortWhere(source: string): string {
  return source.length <= 120 ? `in formula "${source}"` : `in formula "${source.slice(0, 60)}…${source.slice(-40)}" (${source.length} characters)`;
}

function tooDeep(source: string, what: string): FormulaError {
  return new FormulaError(
    `formula too deep ${what}: a chain a + b + c + … counts one level per term, and the limit is ${MAX_FORMULA_DEPTH} levels ` +
    `(parentheses: ${MAX_PARENTHESIS_DEPTH}); sum long lists of terms as a vector (sum, dot) ${shortWhere(source)}`,
  );
}
