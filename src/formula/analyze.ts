/**
 * Structural questions the backends ask about a formula tree: which variables it binds (and in
 * which slot), a cache key for compiled code, which loops a subtree depends on, the transposed
 * formula, and the matrix shape. All results are pure functions of the (immutable) tree, so they
 * are cached per node object.
 */
import type { BinaryNode, ConstNode, DotNode, Node, ReduceNode, UnaryNode, VarCategory, VarNode } from './ast.js';
import { isBinary, isReduce, isUnary } from './ast.js';
import { FormulaError } from './errors.js';
import { formatNumber } from './print.js';

export interface FormulaVariables {
  readonly i: VarNode[];
  readonly j: VarNode[];
  readonly p: VarNode[];
}

/** Children of a node, left to right. */
export function children(n: Node): Node[] {
  if (n.op === 'var' || n.op === 'const') return [];
  if (isUnary(n) || isReduce(n)) return [(n as UnaryNode | ReduceNode).arg];
  const b = n as BinaryNode | DotNode;
  return [b.left, b.right];
}

/**
 * The variables of each category in order of first appearance (depth-first, left to right),
 * deduplicated by object identity. A variable's slot is its index in its list.
 */
export function collectVariables(node: Node): FormulaVariables {
  const out: FormulaVariables = { i: [], j: [], p: [] };
  const seenVars = new Set<VarNode>();
  const visited = new Set<Node>(); // shared subtrees are walked once
  const visit = (n: Node): void => {
    if (visited.has(n)) return;
    visited.add(n);
    if (n.op === 'var') {
      if (!seenVars.has(n)) {
        seenVars.add(n);
        out[n.cat].push(n);
      }
      return;
    }
    for (const c of children(n)) visit(c);
  };
  visit(node);
  return out;
}

/** Every distinct node of the formula, each once (shared subtrees walked once: a walk of every path can be exponential). */
export function distinctNodes(node: Node): Node[] {
  const visited = new Set<Node>();
  const visit = (n: Node): void => {
    if (visited.has(n)) return;
    visited.add(n);
    for (const c of children(n)) visit(c);
  };
  visit(node);
  return [...visited];
}

/** Slot of every variable node of `node` (its index within its category). */
export function variableSlots(node: Node): Map<VarNode, number> {
  const vars = collectVariables(node);
  const slots = new Map<VarNode, number>();
  for (const list of [vars.i, vars.j, vars.p]) list.forEach((v, k) => slots.set(v, k));
  return slots;
}

/**
 * Hash-consing of formula structure: each distinct structure gets a small number, a node's text naming its children
 * by their numbers — so equal numbers mean equal structure, and no text grows with the formula. A formula that adds a
 * subformula to itself 24 times has 26 nodes but 2²⁴ paths: texts written out in full along every path (as keys once
 * were) grow past the longest string V8 holds. `leaf` names variables and constants.
 */
export class StructureIds {
  private readonly ids = new Map<string, number>();
  private readonly memo = new WeakMap<Node, number>();

  constructor(private readonly leaf: (n: VarNode | ConstNode) => string) {}

  /** The number of `n`'s structure (memoised per node). */
  id(n: Node): number {
    const hit = this.memo.get(n);
    if (hit !== undefined) return hit;
    const text = n.op === 'var' || n.op === 'const' ? this.leaf(n) : `${n.op}(${children(n).map((c) => this.id(c)).join(',')})`;
    let id = this.ids.get(text);
    if (id === undefined) this.ids.set(text, (id = this.ids.size));
    this.memo.set(n, id);
    return id;
  }

  /**
   * A canonical text of `root`'s structure, linear in its distinct subformulas: `exp(neg(sqnorm2(sub(i0:3,j0:3))))`
   * where nothing repeats; a subformula that repeats one written before (other than a variable or constant) is written
   * `@k`, k its place among the subformulas written out in full, in the order they were finished.
   */
  text(root: Node): string {
    const out: string[] = [];
    const written = new Map<number, number>();
    const write = (n: Node): void => {
      if (n.op === 'var' || n.op === 'const') {
        out.push(this.leaf(n));
        return;
      }
      const id = this.id(n);
      const at = written.get(id);
      if (at !== undefined) {
        out.push(`@${at}`);
        return;
      }
      out.push(n.op, '(');
      children(n).forEach((c, k) => {
        if (k > 0) out.push(',');
        write(c);
      });
      out.push(')');
      written.set(id, written.size);
    };
    write(root);
    return out.join('');
  }
}

const keyCache = new WeakMap<Node, string>();

/**
 * A canonical text of the tree's structure: variables written as category+slot:dim (`i0:3`),
 * constants with full round-trip precision, a repeated subformula by reference (`StructureIds.text`).
 * Two formulas with the same key compile to the same code whatever their bound data, so the key
 * names a compiled pipeline.
 */
export function formulaKey(node: Node): string {
  const cached = keyCache.get(node);
  if (cached !== undefined) return cached;
  const slots = variableSlots(node);
  const key = new StructureIds((n) => (n.op === 'var' ? `${n.cat}${slots.get(n)}:${n.dim}` : `#${formatNumber(n.value)}`)).text(node);
  keyCache.set(node, key);
  return key;
}

const depsCache = new WeakMap<Node, ReadonlySet<VarCategory>>();

/**
 * Which variable categories a subtree depends on. A p-only subtree can be hoisted out of both
 * loops, an i-only (or i+p) subtree out of the j loop.
 */
export function dependencies(node: Node): Set<VarCategory> {
  return new Set(dependenciesCached(node));
}

function dependenciesCached(node: Node): ReadonlySet<VarCategory> {
  const cached = depsCache.get(node);
  if (cached !== undefined) return cached;
  let deps: Set<VarCategory>;
  if (node.op === 'var') deps = new Set([node.cat]);
  else {
    deps = new Set();
    for (const c of children(node)) for (const d of dependenciesCached(c)) deps.add(d);
  }
  depsCache.set(node, deps);
  return deps;
}

const swapCache = new WeakMap<Node, Node>();

/**
 * The same formula with i and j variables exchanged (same bound data): the formula of Kᵀ.
 * Cached both ways, so swapIJ(swapIJ(n)) === n, and one variable always maps to one variable.
 * Nodes are rebuilt verbatim (no re-folding), keeping the structure and hence `formulaKey` shape.
 */
export function swapIJ(node: Node): Node {
  const cached = swapCache.get(node);
  if (cached !== undefined) return cached;
  let swapped: Node;
  const deps = dependenciesCached(node);
  if (!deps.has('i') && !deps.has('j')) {
    swapped = node; // constants and parameters are their own transpose
  } else if (node.op === 'var') {
    swapped = Object.freeze({ ...node, cat: node.cat === 'i' ? 'j' : 'i' } as VarNode);
  } else if (isUnary(node) || isReduce(node)) {
    swapped = Object.freeze({ ...node, arg: swapIJ(node.arg) } as Node);
  } else if (isBinary(node) || node.op === 'dot') {
    const b = node as BinaryNode | DotNode;
    swapped = Object.freeze({ ...b, left: swapIJ(b.left), right: swapIJ(b.right) } as Node);
  } else {
    throw new FormulaError(`swapIJ: unknown node '${(node as Node).op}'`);
  }
  swapCache.set(node, swapped);
  swapCache.set(swapped, node);
  return swapped;
}

/** Number of rows n (i variables) and m (j variables) of the kernel matrix. */
export function rowCounts(node: Node): { n: number; m: number } {
  const vars = collectVariables(node);
  if (vars.i.length === 0 || vars.j.length === 0) {
    throw new FormulaError(
      `a kernel formula needs at least one Vi and one Vj variable (found ${vars.i.length} Vi and ${vars.j.length} Vj)`,
    );
  }
  const common = (list: VarNode[], kind: string): number => {
    const first = list[0] as VarNode;
    for (const v of list) {
      if (v.value.rows !== first.value.rows) {
        throw new FormulaError(
          `${kind} variables have different row counts: '${first.name}' has ${first.value.rows} rows but '${v.name}' has ${v.value.rows}`,
        );
      }
    }
    return first.value.rows;
  };
  return { n: common(vars.i, 'Vi'), m: common(vars.j, 'Vj') };
}
