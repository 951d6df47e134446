/**
 * Is the kernel matrix of a formula symmetric, K_ij = K_ji, by its structure alone?
 *
 * Two conditions, both checked without evaluating the kernel:
 *  1. the Vi and Vj variables pair up on the same points: every i variable has a j variable of the same rows and
 *     dimension holding the same values — the same bound array, or equal contents (compared value by value,
 *     −0 ≠ +0: n·d comparisons, far below one product's n·m·d). `Vi(p)` and `Vj(p)` copy `p` each, so contents
 *     are what is compared;
 *  2. the formula is unchanged when each i variable is exchanged with its j partner, up to the rewrites below.
 *
 * Condition 2 compares canonical texts of F and of F with i ↔ j: operands of commutative operators (add, mul, min,
 * max, dot) are sorted, and a difference a − b under an even function (sqnorm2, norm2, abs, square, an even integer
 * power, or multiplied by itself) is written as the unordered pair {a, b}; abs and the even functions also see
 * through a negation. The check is sound (a `true` is always right) but not complete: a symmetric formula written
 * some other way — (x − y)·(y − x) negated, say — is reported `false`, and then `{ symmetric: true }` declares it.
 */
import type { BinaryNode, DotNode, Node, ReduceNode, UnaryNode, VarNode } from './ast.js';
import { isBinary } from './ast.js';
import { children, collectVariables, variableSlots } from './analyze.js';
import { formatNumber } from './print.js';

const COMMUTATIVE = new Set<string>(['add', 'mul', 'min', 'max', 'dot']);
const EVEN_UNARY = new Set<string>(['sqnorm2', 'norm2', 'abs', 'square']);

function sameValues(a: Float64Array, b: Float64Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (!Object.is(a[k], b[k])) return false;
  return true;
}

/** Each i variable's partner index (shared with a j variable holding the same points), or undefined if some has none. */
function pairVariables(node: Node): Map<VarNode, number> | undefined {
  const { i, j } = collectVariables(node);
  if (i.length === 0 || i.length !== j.length) return undefined;
  const pairs = new Map<VarNode, number>();
  const taken = new Set<VarNode>();
  for (let k = 0; k < i.length; k++) {
    const a = i[k]!;
    const partner = j.find((b) => !taken.has(b) && b.dim === a.dim && b.value.rows === a.value.rows && sameValues(a.value.data, b.value.data));
    if (partner === undefined) return undefined;
    taken.add(partner);
    pairs.set(a, k);
    pairs.set(partner, k);
  }
  return pairs;
}

/** Whether K_ij = K_ji follows from the structure of `node` and its bound points (see the module comment). */
export function isStructurallySymmetric(node: Node): boolean {
  const pairs = pairVariables(node);
  if (pairs === undefined) return false;
  const slots = variableSlots(node);
  // canonical texts are hash-consed (children by number, as StructureIds does), shared by both passes: a text written
  // out along every path of a shared DAG grows exponentially
  const ids = new Map<string, string>();
  const keyOf = (swapped: boolean): string => {
    const memo = new Map<Node, string>();
    const key = (n: Node): string => {
      const hit = memo.get(n);
      if (hit !== undefined) return hit;
      const text = write(n);
      let out = ids.get(text);
      if (out === undefined) ids.set(text, (out = `%${ids.size}`));
      memo.set(n, out);
      return out;
    };
    /** An even function's argument: a difference as an unordered pair, a negation seen through. */
    const evenArgument = (a: Node): string => {
      if (a.op === 'neg') return evenArgument((a as UnaryNode).arg);
      if (a.op === 'sub') {
        const b = a as BinaryNode;
        return `±{${[key(b.left), key(b.right)].sort().join(',')}}`;
      }
      return key(a);
    };
    const write = (n: Node): string => {
      if (n.op === 'var') {
        if (n.cat === 'p') return `p${slots.get(n)}`;
        const cat = swapped ? (n.cat === 'i' ? 'j' : 'i') : n.cat;
        return `${cat}${pairs.get(n)}`;
      }
      if (n.op === 'const') return `#${formatNumber(n.value)}`;
      if (EVEN_UNARY.has(n.op)) return `${n.op}(${evenArgument((n as UnaryNode | ReduceNode).arg)})`;
      if (n.op === 'pow') {
        const b = n as BinaryNode;
        if (b.right.op === 'const' && Number.isInteger(b.right.value / 2)) return `pow(${evenArgument(b.left)},${key(b.right)})`;
      }
      if (n.op === 'mul' || n.op === 'dot') {
        const b = n as BinaryNode | DotNode;
        if (key(b.left) === key(b.right)) return `${n.op}sq(${evenArgument(b.left)})`;
      }
      const parts = children(n).map(key);
      if (COMMUTATIVE.has(n.op) && (isBinary(n) || n.op === 'dot')) parts.sort();
      return `${n.op}(${parts.join(',')})`;
    };
    return key(node);
  };
  return keyOf(false) === keyOf(true);
}
