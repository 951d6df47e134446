/**
 * Slot indexing shared by the code emitters: which slot each bound variable occupies, where
 * parameters sit in the packed parameter block, and a structural key per subtree (variables by
 * category, slot and dimension; constants by value) — equal keys mean equal code, which is what
 * common-subexpression elimination and program caches need.
 */
import type { Node, VarCategory, VarNode } from './ast.js';
import { StructureIds } from './analyze.js';
import { formatNumber } from './print.js';

export interface FormulaSlots {
  readonly i: readonly VarNode[];
  readonly j: readonly VarNode[];
  readonly p: readonly VarNode[];
}

export interface SlotInfo {
  readonly cat: VarCategory;
  readonly slot: number;
  /** Parameters: offset of the first value in the packed parameter block (0 for i/j). */
  readonly offset: number;
}

export class SlotIndex {
  private readonly slotOf = new Map<VarNode, SlotInfo>();
  private readonly structure = new StructureIds((n) => {
    if (n.op === 'var') {
      const s = this.slot(n);
      return `${s.cat}${s.slot}:${n.dim}`;
    }
    return `c${formatNumber(n.value)}`;
  });
  private readonly masks = new WeakMap<Node, 0 | 1 | 2 | 3>();

  constructor(slots: FormulaSlots) {
    let offset = 0;
    slots.p.forEach((v, s) => {
      this.slotOf.set(v, { cat: 'p', slot: s, offset });
      offset += v.dim;
    });
    slots.i.forEach((v, s) => this.slotOf.set(v, { cat: 'i', slot: s, offset: 0 }));
    slots.j.forEach((v, s) => this.slotOf.set(v, { cat: 'j', slot: s, offset: 0 }));
  }

  slot(v: VarNode): SlotInfo {
    const s = this.slotOf.get(v);
    if (!s) throw new Error(`internal: variable '${v.name}' is not among the formula's collected variables`);
    return s;
  }

  /**
   * Which row indices a subtree depends on, as a mask: 1 = an i-variable, 2 = a j-variable (0: parameters and
   * constants only). The emitters place each node by it (memoised per node).
   */
  deps(n: Node): 0 | 1 | 2 | 3 {
    let d = this.masks.get(n);
    if (d !== undefined) return d;
    if (n.op === 'var') {
      const c = this.slot(n).cat;
      d = c === 'p' ? 0 : c === 'i' ? 1 : 2;
    } else if (n.op === 'const') d = 0;
    else if ('arg' in n) d = this.deps(n.arg);
    else d = (this.deps(n.left) | this.deps(n.right)) as 0 | 1 | 2 | 3;
    this.masks.set(n, d);
    return d;
  }

  /**
   * Structural key of a subtree: `#` and its structure's number — equal keys, equal structure; short however large
   * the formula (memoised per node). Names code within one program; `text` names the program.
   */
  key(n: Node): string {
    return `#${this.structure.id(n)}`;
  }

  /** The canonical text of `root`'s structure by these slots (a program cache's key). */
  text(root: Node): string {
    return this.structure.text(root);
  }
}
