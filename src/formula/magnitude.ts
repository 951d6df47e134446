/**
 * An upper bound of |value| of every node of a formula over its bound data (interval arithmetic on magnitudes, from
 * the largest |entry| of each variable): where the bound stays inside float32's range, no intermediate value of a
 * float32 evaluation can overflow. Used by the float32 min/max family (src/operators/reductions.ts), which skips NaN
 * entries as nanmin does — so a NaN that only float32's overflow made (∞ − ∞, 0·∞) would be skipped unseen.
 *
 * Conservative: an operation whose result the operands' magnitudes do not bound (a division by a variable, log, an
 * inverse, a negative power — where an underflowed float32 operand can also make ∞ or NaN) bounds nothing (+∞).
 * Depends on the bound values, so it is a check at run time, never a fact compiled into a program (see sign.ts).
 */
import type { Node } from './ast.js';
import { isNonPositive } from './sign.js';

const bounds = new WeakMap<Node, number>();

/** max |entry| of a variable's bound data (NaN entries: +∞, nothing is bounded). */
function dataBound(data: Float64Array): number {
  let max = 0;
  for (let t = 0; t < data.length; t++) {
    const a = Math.abs(data[t]!);
    if (!(a <= max)) max = a === a ? a : Infinity;
  }
  return max;
}

/** An upper bound of |F| for every pair (i, j) of F's bound variables; +∞ where none is proven. */
export function magnitudeBound(n: Node): number {
  let b = bounds.get(n);
  if (b === undefined) bounds.set(n, (b = bound(n)));
  return b;
}

/** The largest magnitude bound over all of F's nodes: what a float32 evaluation meets on its way. */
export function largestIntermediateBound(n: Node): number {
  let most = magnitudeBound(n);
  const seen = new Set<Node>();
  const visit = (m: Node): void => {
    if (seen.has(m) || most === Infinity) return;
    seen.add(m);
    most = Math.max(most, magnitudeBound(m));
    if ('arg' in m) visit(m.arg);
    if ('left' in m) { visit(m.left); visit(m.right); }
  };
  visit(n);
  return most;
}

function bound(n: Node): number {
  switch (n.op) {
    case 'var': return dataBound(n.value.data);
    case 'const': return Number.isFinite(n.value) ? Math.abs(n.value) : Infinity;
    case 'neg': case 'abs': case 'relu': return magnitudeBound(n.arg);
    case 'square': return magnitudeBound(n.arg) ** 2;
    // exp of what is never positive (a Gaussian's −r²/2) lies in [0, 1]; its argument's own bound is checked as a node
    case 'exp': return isNonPositive(n.arg) ? 1 : Math.exp(magnitudeBound(n.arg));
    case 'expm1': return isNonPositive(n.arg) ? 1 : Math.exp(magnitudeBound(n.arg));
    case 'sqrt': return Math.sqrt(magnitudeBound(n.arg));
    case 'sin': case 'cos': case 'tanh': case 'sign': case 'step': case 'sinxdivx': return 1;
    case 'add': case 'sub': return magnitudeBound(n.left) + magnitudeBound(n.right);
    case 'mul': return product(magnitudeBound(n.left), magnitudeBound(n.right));
    case 'div':
      return n.right.op === 'const' && n.right.value !== 0 ? magnitudeBound(n.left) / Math.abs(n.right.value) : Infinity;
    case 'pow':
      return n.right.op === 'const' && n.right.value >= 0 ? Math.max(1, magnitudeBound(n.left)) ** n.right.value : Infinity;
    case 'min': case 'max': case 'ifnonneg': case 'ifneg': return Math.max(magnitudeBound(n.left), magnitudeBound(n.right));
    case 'atan2': return Math.PI;
    case 'sqnorm2': return n.arg.dim * magnitudeBound(n.arg) ** 2;
    case 'norm2': return Math.sqrt(n.arg.dim) * magnitudeBound(n.arg);
    case 'sum': return n.arg.dim * magnitudeBound(n.arg);
    case 'dot': return n.left.dim * product(magnitudeBound(n.left), magnitudeBound(n.right));
    case 'rsqrt': return inverseNormBound(n.arg);
    default: return Infinity; // log, log1p, inv and anything new: not bounded by their operands
  }
}

/**
 * A bound of rsqrt(|v|²) for a variable v (cosine's 1/|x|): 1/|v| over its rows with |v| > 0 (rsqrt(0) is 0, as in
 * KeOps), where every such |v|² is a normal float32 (no underflow to 0 in a float32 pass); else none (+∞).
 */
function inverseNormBound(arg: Node): number {
  if (arg.op !== 'sqnorm2' || arg.arg.op !== 'var') return Infinity;
  const { data, cols } = arg.arg.value;
  let least = Infinity;
  for (let row = 0; row < data.length; row += cols) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += data[row + c]! ** 2;
    if (s > 0 && s < least) least = s;
  }
  return least >= FLOAT32_NORMAL_MIN * 2 ** 10 ? 1 / Math.sqrt(least) : Infinity;
}

/** float32's least normal value, 2⁻¹²⁶. */
const FLOAT32_NORMAL_MIN = 2 ** -126;

/** a·b for bounds ≥ 0, 0·∞ counted as ∞ (nothing proven). */
const product = (a: number, b: number): number => (a === Infinity || b === Infinity ? Infinity : a * b);
