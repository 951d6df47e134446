/**
 * Sign facts provable from the formula's structure alone (never from bound values, since
 * compiled code is shared by every binding). Used to drop overflow handling from exp(x ≤ 0).
 */
import type { Node } from './ast.js';

export function isNonNegative(n: Node): boolean {
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
}

export function isNonPositive(n: Node): boolean {
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
}
