/**
 * Sign facts provable from the formula's structure alone (never from bound values, since
 * compiled code is shared by every binding). Used to drop overflow handling from exp(x ≤ 0).
 */
import type { Node } from './ast.js';

/**
 * A sign fact memoised per node. The facts ask both operands, and both signs of each (a product is ≥ 0 when both
 * factors are ≥ 0 or both ≤ 0), so unmemoised a product of d factors took 2^d steps (d = 22: 0.7 s to a first product;
 * a shared subformula likewise); nodes are immutable, so a fact about one holds for good.
 */
function memoised(fact: (n: Node) => boolean): (n: Node) => boolean {
  const known = new WeakMap<Node, boolean>();
  return (n) => {
    let v = known.get(n);
    if (v === undefined) known.set(n, (v = fact(n)));
    return v;
  };
}

export const isNonNegative = memoised((n: Node): boolean => {
  switch (n.op) {
    case 'const': return n.value >= 0;
    case 'sqnorm2': case 'norm2': case 'abs': case 'square': case 'exp': case 'sqrt': case 'rsqrt':
    case 'relu': case 'step':
      return true;
    case 'inv': return isNonNegative(n.arg);
    case 'neg': return isNonPositive(n.arg);
    case 'add': return isNonNegative(n.left) && isNonNegative(n.right);
    case 'mul': case 'div':
      return (isNonNegative(n.left) && isNonNegative(n.right)) || (isNonPositive(n.left) && isNonPositive(n.right));
    case 'max': return isNonNegative(n.left) || isNonNegative(n.right);
    case 'min': return isNonNegative(n.left) && isNonNegative(n.right);
    case 'ifnonneg': case 'ifneg': return isNonNegative(n.right);
    case 'log1p': case 'expm1': return isNonNegative(n.arg);
    case 'pow':
      return isNonNegative(n.left) || (n.right.op === 'const' && Number.isInteger(n.right.value) && n.right.value % 2 === 0);
    default: return false;
  }
});

export const isNonPositive = memoised((n: Node): boolean => {
  switch (n.op) {
    case 'const': return n.value <= 0;
    case 'neg': return isNonNegative(n.arg);
    case 'add': return isNonPositive(n.left) && isNonPositive(n.right);
    case 'mul': case 'div':
      return (isNonNegative(n.left) && isNonPositive(n.right)) || (isNonPositive(n.left) && isNonNegative(n.right));
    case 'min': return isNonPositive(n.left) || isNonPositive(n.right);
    case 'max': return isNonPositive(n.left) && isNonPositive(n.right);
    case 'ifnonneg': case 'ifneg': return isNonPositive(n.right);
    case 'log1p': case 'expm1': return isNonPositive(n.arg);
    default: return false;
  }
});

/**
 * Whether 0 ≤ F ≤ 1 and F is never NaN for every finite value of its inputs — exp of a distance scaled down
 * (Gaussian, Laplacian), 1/(1 + r²) (Cauchy) and products of these. Overflow inside is allowed where it only drives
 * the value to an end (x − y → ±∞, r² → +∞, exp(−∞) = 0); anything that could meet ∞ − ∞, 0·∞ or ∞/∞ is not
 * proven. A product Σ_j K_ij·x_j of such a K with finite x is then finite up to m·max|x_j|: the float32 range check
 * of products (src/operators/kernel-operator.ts) is skipped for it.
 */
export const isUnitBounded = memoised((n: Node): boolean => {
  switch (n.op) {
    case 'const': return n.value >= 0 && n.value <= 1;
    case 'exp': return nonPositiveNoNaN(n.arg);
    case 'inv': return atLeastOneNoNaN(n.arg);
    case 'mul': return isUnitBounded(n.left) && isUnitBounded(n.right);
    default: return false;
  }
});

/** A positive constant (0 would meet ∞ in a product: NaN). */
const positiveConst = (n: Node): boolean => n.op === 'const' && n.value > 0 && Number.isFinite(n.value);

/** Never NaN for finite inputs, and ≥ 0 or +∞. */
const nonNegativeNoNaN = memoised((n: Node): boolean => {
  switch (n.op) {
    case 'const': return n.value >= 0 && Number.isFinite(n.value);
    case 'sqnorm2': case 'norm2': return noNaNVector(n.arg);
    case 'sqrt': return nonNegativeNoNaN(n.arg);
    case 'add': return nonNegativeNoNaN(n.left) && nonNegativeNoNaN(n.right);
    case 'mul': return (positiveConst(n.left) && nonNegativeNoNaN(n.right)) || (nonNegativeNoNaN(n.left) && positiveConst(n.right));
    case 'div': return nonNegativeNoNaN(n.left) && positiveConst(n.right);
    default: return false;
  }
});

/** Never NaN for finite inputs, and ≤ 0 or −∞. */
const nonPositiveNoNaN = memoised((n: Node): boolean => {
  switch (n.op) {
    case 'const': return n.value <= 0 && Number.isFinite(n.value);
    case 'neg': return nonNegativeNoNaN(n.arg);
    case 'mul': return (positiveConst(n.left) && nonPositiveNoNaN(n.right)) || (nonPositiveNoNaN(n.left) && positiveConst(n.right));
    case 'div': return nonPositiveNoNaN(n.left) && positiveConst(n.right);
    default: return false;
  }
});

/** Never NaN for finite inputs, and ≥ 1 or +∞ (its inverse lies in [0, 1]). */
const atLeastOneNoNaN = memoised((n: Node): boolean => {
  if (n.op !== 'add') return n.op === 'const' && n.value >= 1 && Number.isFinite(n.value);
  return (atLeastOneNoNaN(n.left) && nonNegativeNoNaN(n.right)) || (nonNegativeNoNaN(n.left) && atLeastOneNoNaN(n.right));
});

/** A vector whose components are never NaN for finite inputs: the points, or a difference of two of them. */
const noNaNVector = memoised((n: Node): boolean => {
  if (n.op === 'var') return n.cat === 'i' || n.cat === 'j';
  return n.op === 'sub' && noNaNVector(n.left) && noNaNVector(n.right) && n.left.op === 'var' && n.right.op === 'var';
});
