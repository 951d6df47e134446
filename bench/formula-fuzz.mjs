// @ts-nocheck -- plain JS over the built library (dist/) or, from the test, the sources: the library is injected
/**
 * Differential fuzz of the formula layer (issue 16, "no silent wrong answers"): seeded random well-typed formulas
 * from the builder — nesting, shared subtrees (the same node and structurally equal copies), constant folding,
 * integer / half-integer / real / parameter powers, every unary and binary operator of the AST, scalar-vector
 * broadcasting, sum / sqnorm2 / norm2 / dot, dimensions 1–5 and sometimes past the unrolled limit (40, 70, 300:
 * the chunked loops), points at magnitudes 10^±k — each checked against an independent float64 walk of the AST
 * written here:
 *   oracle    the JS emitter's dense matrix (emit-js) against the walk;
 *   cpu64     the WASM float64 product against the walk's K·b;
 *   cpu32     the WASM float32 product against the walk's K·b, within a float32 error bound;
 *   range32   a case whose float64 values leave float32's range: a float32 operator must throw, or answer within
 *             the bound — never NaN / ±∞ silently;
 *   gpu       the WGSL product (--gpu; EGL_PLATFORM=surfaceless on llvmpipe) against the CPU float32 one;
 *   grad      partialDerivative against central finite differences of the walk;
 *   roundtrip formatNode → parseFormula gives the same values;
 *   reduce    min / max / argKmin / logsumexp over axis 1 against brute force over the walk's matrix.
 *
 * Tolerances are condition-aware: the walk carries, with each value, a first-order bound on the error a
 * precision-u evaluation can make (interval images of the inputs' errors through each operator, plus one rounding
 * of the result; a few ulps for elementary functions; an absolute floor for underflow). A product row is compared
 * within SAFETY·(Σ_j |b_j|·E_ij + (m + 2)·u·Σ_j |K_ij·b_j|). An entry whose bound is infinite (a step or sign of
 * an argument within its error of 0, a division by an interval holding 0) is ill-conditioned: its row is skipped
 * and counted ("unstable"), never compared.
 *
 *   npm run build && node bench/formula-fuzz.mjs [--cases=N] [--seed=S] [--gpu] [--case=T] [--verbose] [--times]
 */

export const U64 = 2 ** -53;
export const U32 = 2 ** -24;
const F32_MAX = 3.4028234663852886e38;
const SAFETY = 8;
const PREC = { f64: { u: U64, eta: 2 ** -1022 }, f32: { u: U32, eta: 2 ** -126 } };
const f32 = Math.fround;

/** mulberry32 with a savable state (structurally equal copies regenerate a subtree from a saved state). */
export class Rng {
  constructor(seed) { this.s = seed >>> 0; }
  next() {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo, hi) { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick(list) { return list[Math.floor(this.next() * list.length)]; }
  chance(p) { return this.next() < p; }
}

// ---------------------------------------------------------------- generation

const CONSTS = [0.5, 2, 3, 0.25, 1.5, -1, -0.75, 1, 0, 10, 0.1, 1e-3, 1e21, -2.5e-7, 123456.789];

/** A random case: sizes, bound variables and a scalar formula built from the builder. */
export function generateCase(lib, seed, options = {}) {
  const rng = new Rng(seed);
  const r = rng.next();
  const d = options.d ?? (r < 0.82 ? rng.int(1, 5) : r < 0.92 ? 40 : r < 0.97 ? 70 : 300);
  const big = d > 5;
  const n = options.n ?? rng.int(2, big ? 4 : 7);
  // past a lane group (16/32 columns) sometimes, and rarely past a float32 tile (512 columns)
  const m = options.m ?? (big ? rng.int(2, 9) : rng.chance(0.02) ? rng.int(513, 600) : rng.chance(0.1) ? rng.int(33, 70) : rng.int(2, 19));
  // 1e20 and 1e30: squares past float32's range where norms are not (norm2 must scale, not overflow)
  const magnitude = rng.chance(0.8) ? 1 : rng.pick([1e-3, 1e3, 1e-12, 1e12, 1e-25, 1e25, 1e20, 1e30]);
  // sometimes y = x and v = u (one point set): the symmetry check, the symmetric and packed product paths
  const sameData = options.sameData ?? (!big && rng.chance(0.15));
  const pts = (rows, cols) => Array.from({ length: rows }, () => Array.from({ length: cols }, () => f32((rng.next() * 2 - 1) * magnitude)));
  const xs = pts(n, d);
  const us = pts(n, 1).map((row) => [f32(row[0] / magnitude)]);
  const rowsJ = sameData ? n : m;
  const V = {
    x: lib.Vi(xs, 'x'),
    y: lib.Vj(sameData ? xs : pts(m, d), 'y'),
    u: lib.Vi(us, 'u'),
    v: lib.Vj(sameData ? us : pts(m, 1).map((row) => [f32(row[0] / magnitude)]), 'v'),
    p: lib.Pm(f32(rng.pick([0.5, 1.5, 2, 0.3, -0.7, 3])), 'p'),
    q: lib.Pm(Array.from({ length: d }, () => f32(rng.next() * 2 - 0.5)), 'q'),
    k: lib.Pm(rng.pick([2, 3, -1, 0.5]), 'k'),
  };
  const pool = { 1: [], [d]: [] };
  const maxDepth = options.maxDepth ?? rng.int(2, 5);
  const g = new Generator(lib, rng, V, d, pool);
  let formula = g.scalar(maxDepth);
  // a kernel needs an i and a j variable: a formula that lost one is tied to the points by a Gaussian-type factor
  const deps = lib.collectVariables(formula.node);
  if (deps.i.length === 0 || deps.j.length === 0) {
    const tie = rng.pick([() => V.x.sub(V.y).sqnorm2().neg().exp(), () => V.u.mul(V.v), () => V.x.dot(V.y)])();
    formula = rng.chance(0.5) ? formula.mul(tie) : formula.add(tie);
  }
  // symmetric by construction; F.T's variables share their names and arrays with F's, so the round trip (one name,
  // two variables) and the finite differences (one array, two variables) do not apply to it
  const symmetrised = sameData && rng.chance(0.5);
  if (symmetrised) formula = formula.add(formula.T);
  return { seed, n, m: rowsJ, d, magnitude, vars: V, formula, sameData, symmetrised };
}

class Generator {
  constructor(lib, rng, V, d, pool) { Object.assign(this, { lib, rng, V, d, pool }); }

  /** A formula of dimension `dim` (1 or d), at most `depth` levels, sometimes a shared or structurally equal subtree. */
  gen(dim, depth) {
    const { rng } = this;
    const list = this.pool[dim];
    if (list.length > 0 && rng.chance(0.12)) return rng.pick(list); // the same node object: emit-js's CSE
    let f;
    if (depth > 1 && rng.chance(0.08)) {
      // two structurally equal subtrees, distinct objects: the WASM/WGSL emitters' structural CSE
      const saved = rng.s;
      const a = this.fresh(dim, depth - 1);
      rng.s = saved;
      const b = this.fresh(dim, depth - 1);
      f = rng.pick([() => a.add(b), () => a.mul(b), () => a.sub(b.mul(0.5))])();
    } else {
      f = this.fresh(dim, depth);
    }
    list.push(f);
    return f;
  }

  scalar(depth) { return this.gen(1, depth); }
  vector(depth) { return this.d === 1 ? this.gen(1, depth) : this.gen(this.d, depth); }

  leaf(dim) {
    const { rng, V, lib } = this;
    if (dim === 1) return rng.pick([V.u, V.v, V.p, V.u, V.v, lib.Formula.from(rng.pick(CONSTS))]);
    return rng.pick([V.x, V.y, V.x, V.y, V.q]);
  }

  fresh(dim, depth) {
    const { rng } = this;
    if (depth <= 1 || rng.chance(0.15)) return this.leaf(dim);
    const sub = (dd = depth - 1) => this.gen(dim, dd);
    const any = () => (rng.chance(0.5) ? this.gen(dim, depth - 1) : this.gen(1, depth - 1)); // broadcast operand
    if (dim === 1 && this.d > 1 && rng.chance(0.35)) {
      const a = this.vector(depth - 1);
      switch (rng.int(0, 5)) {
        case 5: return a.add(this.scalar(depth - 1)).sum(); // a scalar broadcast inside a reduction
        case 0: return a.sqnorm2();
        case 1: return a.norm2();
        case 2: return a.sum();
        case 3: return a.dot(this.vector(depth - 1));
        default: return this.V.x.sub(this.V.y).mul(a).sqnorm2(); // the kernel shape |(x − y)·a|²
      }
    }
    return this.op(sub, any, dim);
  }

  op(sub, any, dim) {
    const { rng, lib } = this;
    const pos = (a) => a.abs().add(rng.pick([0.5, 1, 0.25])); // a positive operand, away from 0
    const small = (a) => a.tanh().mul(rng.pick([2, 5, 20])); // a bounded exponent
    switch (rng.int(0, 27)) {
      case 0: case 1: return sub().add(any());
      case 2: return any().sub(sub());
      case 3: case 4: return sub().mul(any());
      case 5: return sub().div(pos(any()));
      case 6: return rng.chance(0.7) ? small(sub()).neg().exp() : sub().neg().exp(); // exp(−a) may overflow: range32
      case 7: return small(sub()).exp();
      case 8: return pos(sub()).log();
      case 9: return sub().abs().sqrt();
      case 10: return pos(sub()).rsqrt();
      case 11: return sub().pow(rng.pick([2, 3, 4, -1, -2, 5, 7]) * 1).mul(rng.chance(0.5) ? 1 : 0.5);
      case 12: return pos(sub()).pow(rng.pick([0.5, 1.5, -0.5, 2.5, 0.37, 2.3, -1.7]));
      case 13: return pos(sub()).pow(rng.chance(0.5) ? this.V.p : this.V.k);
      case 14: return sub().sin();
      case 15: return sub().cos();
      case 16: return sub().tanh();
      case 17: return lib.min(sub(), any());
      case 18: return lib.max(any(), sub());
      case 19: return sub().square();
      case 20: return pos(sub()).inv();
      case 21: return rng.pick([() => sub().relu(), () => sub().step(), () => sub().sign(), () => sub().neg()])();
      case 22: return small(sub()).sinxdivx();
      case 23: return sub().abs().log1p();
      case 24: return small(sub()).expm1();
      case 25: return sub().atan2(any());
      case 26: return sub().ifelse(any(), any());
      default: return sub().clamp(-1, rng.pick([0.5, 2]));
    }
  }
}

// ---------------------------------------------------------------- the independent float64 walk

/**
 * Value and error bound of every node at pair (i, j): { v: number[], e: number[] } per component. `prec` gives the
 * unit roundoff u and the absolute floor eta of the evaluation whose error is bounded. Flags: `big` = the largest
 * magnitude met (float32 range), `nonfinite` = a value is NaN or ±∞.
 */
export function walk(root, i, j, prec, flags) {
  const memo = new Map();
  const { u, eta } = prec;
  const rnd = (r) => Math.abs(r) * u + eta;
  const note = (v) => {
    for (const x of v) {
      if (!Number.isFinite(x)) flags.nonfinite = true;
      else if (Math.abs(x) > flags.big) flags.big = Math.abs(x);
    }
  };
  const at = (n) => {
    let r = memo.get(n);
    if (r === undefined) {
      r = node(n);
      note(r.v);
      memo.set(n, r);
    }
    return r;
  };
  const comp = (r, k) => (r.v.length === 1 ? 0 : k);
  /** The image of [a − e, a + e] under a monotone (or `even`) function, as an error about f(a). */
  const image = (f, a, e, fa, even = false) => {
    if (!(e > 0)) return 0;
    let w = Math.max(Math.abs(f(a - e) - fa), Math.abs(f(a + e) - fa));
    if (even && a - e < 0 && a + e > 0) w = Math.max(w, Math.abs(f(0) - fa));
    return Number.isNaN(w) ? Infinity : w;
  };
  const unary = (op, a, e) => {
    switch (op) {
      case 'neg': return [-a, e];
      case 'abs': return [Math.abs(a), e];
      case 'relu': return [a < 0 ? 0 : a, e];
      case 'exp': { const r = Math.exp(a); return [r, Math.abs(r) * Math.expm1(e + Math.abs(a) * 2 * u) + 8 * rnd(r)]; }
      case 'log': { const r = Math.log(a); return [r, image(Math.log, a, e, r) + 8 * rnd(r) + 4 * u]; }
      case 'sqrt': { const r = Math.sqrt(a); return [r, image((t) => Math.sqrt(Math.max(t, 0)), a, e, r) + 2 * rnd(r)]; }
      case 'rsqrt': {
        const r = a === 0 ? 0 : 1 / Math.sqrt(a);
        if (e > 0 && a - e <= 0) return [r, Infinity];
        return [r, image((t) => 1 / Math.sqrt(t), a, e, r) + 4 * rnd(r)];
      }
      case 'square': { const r = a * a; return [r, image((t) => t * t, a, e, r, true) + rnd(r)]; }
      case 'inv': { const r = 1 / a; return [r, e > 0 && Math.abs(a) <= e ? Infinity : image((t) => 1 / t, a, e, r) + 2 * rnd(r)]; }
      case 'sin': case 'cos': {
        const r = op === 'sin' ? Math.sin(a) : Math.cos(a);
        // the WASM range reduction is exact below 2^51 and NaN beyond (documented in cpu/wasm-math.ts), the GPU's
        // float32 one below 2^16 (gpu/wgsl-emit.ts HELPER_SINCOS): not compared beyond (the operators refuse the NaN)
        if (Math.abs(a) >= (prec === PREC.f32 ? 2 ** 16 : 2 ** 51)) return [r, Infinity];
        return [r, Math.min(e, 2) + 8 * u + eta];
      }
      case 'tanh': { const r = Math.tanh(a); return [r, image(Math.tanh, a, e, r) + 8 * rnd(r) + 2 * u * Math.min(1, Math.abs(a))]; }
      case 'sign': case 'step': {
        const r = op === 'sign' ? Math.sign(a) : a >= 0 ? 1 : 0;
        return [r, e > 0 && Math.abs(a) <= e ? Infinity : 0];
      }
      case 'sinxdivx': {
        const r = a === 0 ? 1 : Math.sin(a) / a;
        return [r, 0.5 * e + (Math.abs(a) + 16) * 4 * u + eta];
      }
      case 'log1p': { const r = Math.log1p(a); return [r, image(Math.log1p, a, e, r) + 8 * rnd(r)]; }
      case 'expm1': { const r = Math.expm1(a); return [r, image(Math.expm1, a, e, r) + 8 * rnd(r) + Math.abs(a) * Math.exp(a) * 4 * u]; }
      default: throw new Error(`walk: unary '${op}'`);
    }
  };
  const ipow = (a, k) => { let r = 1; for (let t = 0; t < Math.abs(k); t++) r *= a; return k < 0 ? 1 / r : r; };
  /** x·y for error terms: an unbounded error stays unbounded (0·∞: the program's operand may be NaN, as sin past 2^51). */
  const times = (x, y) => (x === Infinity || y === Infinity ? Infinity : x * y);
  const binary = (op, a, ea, b, eb, right) => {
    switch (op) {
      case 'add': { const r = a + b; return [r, ea + eb + rnd(r)]; }
      case 'sub': { const r = a - b; return [r, ea + eb + rnd(r)]; }
      case 'mul': { const r = a * b; return [r, times(Math.abs(a), eb) + times(Math.abs(b), ea) + times(ea, eb) + rnd(r)]; }
      case 'div': {
        const r = a / b;
        if (Math.abs(b) <= eb) return [r, Infinity];
        return [r, (ea + Math.abs(r) * eb) / (Math.abs(b) - eb) + 2 * rnd(r)];
      }
      case 'min': case 'max': { const r = op === 'min' ? Math.min(a, b) : Math.max(a, b); return [r, Math.max(ea, eb)]; }
      case 'atan2': {
        const r = Math.atan2(a, b);
        const r2 = a * a + b * b;
        if ((b < 0 && Math.abs(a) <= ea) || Math.sqrt(r2) <= ea + eb) return [r, Infinity];
        return [r, (Math.abs(b) * ea + Math.abs(a) * eb) / (Math.sqrt(r2) - ea - eb) ** 2 + 16 * u * (Math.abs(r) + 1)];
      }
      case 'ifnonneg': case 'ifneg': {
        const taken = (a >= 0) === (op === 'ifnonneg');
        const r = taken ? b : 0;
        if (ea > 0 && Math.abs(a) <= ea) return [r, Math.abs(b) + eb];
        return [r, taken ? eb : 0];
      }
      case 'pow': {
        if (right.op === 'const' && Number.isInteger(b) && Math.abs(b) <= 16) {
          const r = ipow(a, b);
          if (b < 0 && ea > 0 && Math.abs(a) <= ea) return [r, Infinity];
          return [r, image((t) => ipow(t, b), a, ea, r, b % 2 === 0) + 2 * Math.abs(b) * rnd(r)];
        }
        const r = Math.pow(a, b);
        const la = Math.log(Math.abs(a));
        if (ea > 0 && Math.abs(a) <= ea) return [r, Infinity];
        const rel = Math.abs(b) * ea / Math.abs(a) + Math.abs(la) * eb;
        return [r, Math.abs(r) * Math.expm1(rel) + Math.abs(r) * (Math.abs(b * la) + 2) * 8 * u + eta];
      }
      default: throw new Error(`walk: binary '${op}'`);
    }
  };
  const node = (n) => {
    switch (n.op) {
      case 'var': {
        const row = n.cat === 'i' ? i : n.cat === 'j' ? j : 0;
        const v = Array.from(n.value.data.subarray(row * n.dim, (row + 1) * n.dim));
        return { v, e: v.map(() => 0) };
      }
      case 'const': return { v: [n.value], e: [Math.abs(n.value) * u] };
      case 'sum': case 'sqnorm2': case 'norm2': {
        const a = at(n.arg);
        let s = 0; let es = 0; let mag = 0;
        a.v.forEach((x, k) => {
          const ek = a.e[k];
          if (n.op === 'sum') { s += x; es += ek; mag += Math.abs(x); }
          else { s += x * x; es += 2 * Math.abs(x) * ek + ek * ek; mag += x * x; }
        });
        es += a.v.length * mag * u + eta;
        if (n.op !== 'norm2') return { v: [s], e: [es] };
        // norm2's squared sum is not an intermediate: every backend rescales where it would leave the range
        const r = Math.sqrt(s);
        return { v: [r], e: [Math.sqrt(s + es) - Math.sqrt(Math.max(0, s - es)) + 2 * (r * u + eta)] };
      }
      case 'dot': {
        const a = at(n.left); const b = at(n.right);
        let s = 0; let es = 0; let mag = 0;
        a.v.forEach((x, k) => {
          const y = b.v[k];
          s += x * y; mag += Math.abs(x * y);
          es += times(Math.abs(x), b.e[k]) + times(Math.abs(y), a.e[k]) + times(a.e[k], b.e[k]);
        });
        return { v: [s], e: [es + a.v.length * mag * u + eta] };
      }
      default: break;
    }
    if ('arg' in n) {
      const a = at(n.arg);
      const out = a.v.map((x, k) => unary(n.op, x, a.e[k]));
      return { v: out.map((t) => t[0]), e: out.map((t) => t[1]) };
    }
    const a = at(n.left); const b = at(n.right);
    const out = Array.from({ length: n.dim }, (_, k) => binary(n.op, a.v[comp(a, k)], a.e[comp(a, k)], b.v[comp(b, k)], b.e[comp(b, k)], n.right));
    return { v: out.map((t) => t[0]), e: out.map((t) => t[1]) };
  };
  const r = at(root);
  return { v: r.v[0], e: r.e[0] };
}

/** The walk over every pair: K (float64) and the error bounds E64, E32. */
export function denseWalk(node, n, m) {
  const K = new Float64Array(n * m);
  const E64 = new Float64Array(n * m);
  const E32 = new Float64Array(n * m);
  const flags = { big: 0, nonfinite: false };
  const scratch = { big: 0, nonfinite: false };
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const a = walk(node, i, j, PREC.f64, flags);
      K[i * m + j] = a.v;
      E64[i * m + j] = a.e;
      E32[i * m + j] = walk(node, i, j, PREC.f32, scratch).e;
    }
  }
  return { K, E64, E32, big: flags.big, nonfinite: flags.nonfinite };
}

// ---------------------------------------------------------------- comparisons

function columnsFor(rng, m, count) {
  return Array.from({ length: count }, () => Float64Array.from({ length: m }, () => f32(rng.next() * 2 - 1)));
}

/**
 * Row-wise comparison of products `got[c][i]` with K·b, within the bound of `E` at unit roundoff u (times `scale`).
 * Returns { worst (error / tolerance), at, unstable rows }.
 */
export function compareProducts(K, E, n, m, cols, got, u, scale = 1) {
  let worst = 0; let at = null; let unstable = 0;
  cols.forEach((b, c) => {
    for (let i = 0; i < n; i++) {
      let want = 0; let bound = 0; let mag = 0;
      for (let j = 0; j < m; j++) {
        const kb = K[i * m + j] * b[j];
        want += kb;
        mag += Math.abs(kb);
        bound += Math.abs(b[j]) * E[i * m + j];
      }
      if (!Number.isFinite(bound)) { unstable++; continue; }
      const tol = scale * SAFETY * (bound + (m + 4) * u * mag) + 1e-300;
      const g = got[c][i];
      const ratio = Math.abs(g - want) / tol;
      if (!(ratio <= worst)) { worst = Number.isNaN(ratio) ? Infinity : Math.max(worst, ratio); at = { col: c, row: i, got: g, want, tol }; }
    }
  });
  return { worst, at, unstable };
}

/** Entry-wise comparison of two dense matrices within SAFETY·E (E at the precision of the comparison). */
function compareDense(K, E, got) {
  let worst = 0; let at = null;
  for (let t = 0; t < K.length; t++) {
    if (!Number.isFinite(E[t])) continue;
    const tol = SAFETY * E[t] + 1e-300;
    const ratio = Math.abs(got[t] - K[t]) / tol;
    if (!(ratio <= worst)) { worst = Number.isNaN(ratio) ? Infinity : ratio; at = { entry: t, got: got[t], want: K[t], tol }; }
  }
  return { worst, at };
}

/**
 * Runs every check of one case. `lib` holds the library functions (dist or src), `backends` the products:
 * { cpu(node, slots, n, m, cols, dtype), gpu?(node, slots, n, m, cols) }. Returns { skipped?, results: [{ kind, ok,
 * detail }] } — an `ok: false` result is a disagreement.
 */
export async function checkCase(lib, c, backends, options = {}) {
  const { n, m, formula } = c;
  const node = formula.node;
  const results = [];
  const push = (kind, ok, detail) => results.push({ kind, ok, detail });
  let dense;
  try {
    lib.rowCounts(node);
  } catch {
    return { skipped: 'no Vi/Vj', results };
  }
  dense = denseWalk(node, n, m);
  if (dense.nonfinite) return { skipped: 'float64 value not finite', results };
  const { K, E64, E32 } = dense;
  const rng = new Rng(c.seed ^ 0x5bd1e995);
  const slots = lib.collectVariables(node);

  // the JS oracle against the walk
  const oracle = lib.evaluateDenseJs(node);
  const o = compareDense(K, E64, oracle);
  push('oracle', o.worst <= 1, o);

  // WASM float64, fused (≤ 4 columns) or scratch (more) path
  const cols = columnsFor(rng, m, rng.chance(0.3) ? 6 : 2);
  const got64 = await backends.cpu(node, slots, n, m, cols, 'float64');
  const p64 = compareProducts(K, E64, n, m, cols, got64, U64);
  push('cpu64', p64.worst <= 1, p64);
  if (c.sameData && lib.isStructurallySymmetric(node)) {
    // the check is sound by contract: a formula it calls symmetric has K_ij = K_ji (within both entries' bounds)
    let worst = 0; let at = null;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) {
      const tol = SAFETY * (E64[i * m + j] + E64[j * m + i]) + 1e-300;
      const ratio = Math.abs(K[i * m + j] - K[j * m + i]) / tol;
      if (Number.isFinite(tol) && !(ratio <= worst)) { worst = Number.isNaN(ratio) ? Infinity : ratio; at = { i, j, kij: K[i * m + j], kji: K[j * m + i] }; }
    }
    push('symmetry', worst <= 1, { worst, at });
    // the symmetric product (each pair once, mirrored; ≤ 4 columns)
    const two = cols.slice(0, 2);
    const dtype = rng.chance(0.5) ? 'float64' : 'float32';
    if (dtype === 'float64' || dense.big <= F32_MAX / 4) {
      const sym = await backends.cpu(node, slots, n, m, two, dtype, { symmetric: true });
      const r = compareProducts(K, dtype === 'float64' ? E64 : E32, n, m, two, sym, dtype === 'float64' ? U64 : U32);
      push(`cpu${dtype === 'float64' ? 64 : 32}sym`, r.worst <= 1, r);
    }
  }

  if (backends.operator && rng.chance(options.denseRate ?? 0.2)) {
    // the operator's stored K (dense cache: 'dense' programs, packed when symmetric) against the same bound
    const dtype = dense.big > F32_MAX / 4 || rng.chance(0.5) ? 'float64' : 'float32';
    let y;
    try {
      y = await backends.operator(formula, cols[0], { dtype, denseCache: 'always' });
    } catch (e) {
      // the operator's documented refusals are right answers: a value inside the formula leaving float32's range (K's
      // entries may be in range while an intermediate is not), and sin/cos of arguments past 2^51
      const refused = e instanceof RangeError && ((dtype === 'float32' && /float32's range/.test(e.message)) || /beyond 2\^51/.test(e.message));
      if (!refused) throw e;
      push(`dense${dtype === 'float64' ? 64 : 32}`, true, { refused: String(e.message).slice(0, 160) });
    }
    if (y) {
      const r = compareProducts(K, dtype === 'float64' ? E64 : E32, n, m, [cols[0]], [y], dtype === 'float64' ? U64 : U32);
      push(`dense${dtype === 'float64' ? 64 : 32}`, r.worst <= 1, r);
    }
  }

  const overflows32 = dense.big > F32_MAX / 4;
  if (overflows32) {
    // float32's range is left: the operator must refuse (or answer right), never NaN/±∞ silently
    let answer; let error;
    try {
      answer = await backends.operator32(formula, cols[0]);
    } catch (e) {
      error = e;
    }
    if (error) push('range32', true, { refused: String(error.message).slice(0, 160) });
    else {
      const r = compareProducts(K, E32, n, m, [cols[0]], [answer], U32);
      push('range32', r.worst <= 1 && answer.every(Number.isFinite), { ...r, big: dense.big });
    }
  } else {
    const got32 = await backends.cpu(node, slots, n, m, cols, 'float32');
    const p32 = compareProducts(K, E32, n, m, cols, got32, U32);
    push('cpu32', p32.worst <= 1, p32);
    if (backends.gpu) {
      const gpu = await backends.gpu(node, slots, n, m, cols);
      // both within their float32 bound of K·b: apart by at most the two bounds
      const g = compareProducts(K, E32, n, m, cols, gpu, U32);
      const d = Math.max(...cols.map((_, q) => Math.max(...gpu[q].map((x, i) => Math.abs(x - got32[q][i])))));
      push('gpu', g.worst <= 1, { ...g, maxAbsDiffToCpu32: d });
    }
  }

  if (options.grad !== false && !c.symmetrised) push(...gradCheck(lib, c, node, K, E64, rng));
  if (!c.symmetrised) push(...roundTrip(lib, c, node, K, E64, oracle));
  if (options.reductions !== false && rng.chance(options.reductionRate ?? 0.35)) {
    for (const r of await reductionChecks(lib, c, formula, K, E64, E32, rng, backends, overflows32)) push(...r);
  }
  return { results, big: dense.big };
}

/** ∂F/∂v_k (partialDerivative, evaluated by the JS oracle) against central differences of the walk. */
function gradCheck(lib, c, node, K, E64, rng) {
  const vars = lib.collectVariables(node);
  const all = [...vars.i, ...vars.j, ...vars.p].filter((v) => v.name !== 'k');
  if (all.length === 0) return ['grad', true, { none: true }];
  const v = rng.pick(all);
  const k = rng.int(0, v.dim - 1);
  const dnode = lib.partialDerivative(node, v, k);
  let D;
  try {
    D = lib.evaluateDenseJs(node.op === 'const' ? node : withRows(lib, dnode, node));
  } catch (e) {
    return ['grad', false, { error: e.message, variable: v.name }];
  }
  const { n, m } = c;
  const rowOf = v.cat === 'p' ? 0 : rng.int(0, (v.cat === 'i' ? n : m) - 1);
  const entries = [];
  for (let t = 0; t < n * m; t++) {
    const i = Math.floor(t / m); const j = t % m;
    if (v.cat === 'p' || (v.cat === 'i' ? i : j) === rowOf) entries.push(t);
  }
  const data = v.value.data;
  const at = rowOf * v.dim + k;
  const x0 = data[at];
  let spread = 0;
  for (const x of data) spread = Math.max(spread, Math.abs(x));
  const evalAt = (x, t) => {
    data[at] = x;
    try {
      return walk(node, Math.floor(t / m), t % m, PREC.f64, { big: 0, nonfinite: false }).v;
    } finally {
      data[at] = x0;
    }
  };
  let worst = 0; let detail = null; let kinks = 0;
  for (const t of entries.slice(0, 12)) {
    const h = 1e-4 * Math.max(Math.abs(x0), 1e-3 * spread, 1e-300);
    const fd = (s) => (evalAt(x0 + s, t) - evalAt(x0 - s, t)) / (2 * s);
    const [a, b, q] = [fd(h), fd(h / 2), fd(h / 4)];
    const g = D[t];
    if (!Number.isFinite(g) && singularAt(node, Math.floor(t / m), t % m)) { kinks++; continue; }
    // a smooth entry's differences converge as h² (a − b ≈ 4(b − q)); a kink or a jump does not: skipped
    // rounding of the walk itself (its float64 error bound), amplified by the step
    const noise = SAFETY * (E64[t] + U64 * Math.abs(K[t])) / (h / 4);
    if (!(Math.abs(a - b) <= 6 * Math.abs(b - q) + 8 * noise) || !Number.isFinite(a + b + q)) { kinks++; continue; }
    // a corner (clamp, min, max, abs at a tie): the one-sided slopes differ by a jump that does not shrink with h
    const f0 = evalAt(x0, t);
    const jump = (s) => Math.abs((evalAt(x0 + s, t) - f0) / s - (f0 - evalAt(x0 - s, t)) / s);
    const [j1, j4] = [jump(h), jump(h / 4)];
    if (j4 > 0.5 * j1 && j4 > 16 * noise) { kinks++; continue; }
    const tol = 4 * Math.abs(b - q) + 16 * noise + 1e-9 * Math.abs(q);
    const ratio = g === q ? 0 : Math.abs(g - q) / tol; // both exactly 0 (a constant piece): tol is 0 too
    if (!(ratio <= worst)) { worst = Number.isNaN(ratio) ? Infinity : ratio; detail = { entry: t, got: g, fd: q, tol, variable: v.name, component: k }; }
  }
  return ['grad', worst <= 1, { worst, at: detail, kinks, derivative: lib.formatNode(dnode).slice(0, 200) }];
}

/**
 * Whether the walk meets sqrt, rsqrt, norm2, log or a fractional power at exactly 0 at pair (i, j): there the
 * symbolic derivative is infinite or 0·∞ = NaN by design (formula/derivative.ts: write kernels in r²).
 */
function singularAt(node, i, j) {
  let hit = false;
  const seen = new Set();
  const value = (n) => walk(n, i, j, PREC.f64, { big: 0, nonfinite: false }).v;
  const visit = (n) => {
    if (seen.has(n) || hit) return;
    seen.add(n);
    const fractional = n.op === 'pow' && !(n.right.op === 'const' && Number.isInteger(n.right.value));
    if (['sqrt', 'rsqrt', 'log'].includes(n.op) || fractional) {
      const arg = n.arg ?? n.left;
      if (arg.dim === 1 && value(arg) === 0) hit = true;
    }
    if (n.op === 'norm2' && value(n) === 0) hit = true;
    for (const ch of [n.arg, n.left, n.right]) if (ch) visit(ch);
  };
  visit(node);
  return hit;
}

/** A derivative formula that lost its i or j variables (∂F/∂x of F = x·c): add 0·(u + v) so it still spans n×m. */
function withRows(lib, dnode, node) {
  const vars = lib.collectVariables(dnode);
  if (vars.i.length > 0 && vars.j.length > 0) return dnode;
  const orig = lib.collectVariables(node);
  const zero = (v) => lib.binary('mul', lib.constant(0), v.dim === 1 ? v : lib.reduce('sum', v));
  let out = dnode;
  if (vars.i.length === 0) out = lib.binary('add', out, zero(orig.i[0]));
  if (vars.j.length === 0) out = lib.binary('add', out, zero(orig.j[0]));
  return out;
}

/** formatNode → parseFormula (scope: the case's variables by name) → the same values, entry by entry. */
function roundTrip(lib, c, node, K, E64, oracle) {
  const text = lib.formatNode(node);
  // the variables the printed formula reads (parseFormula refuses scope entries a formula does not use)
  const scope = Object.fromEntries(Object.entries(c.vars).filter(([name]) => new RegExp(`\\b${name}\\b`).test(text)));
  let parsed;
  try {
    parsed = lib.parseFormula(text, scope);
  } catch (e) {
    return ['roundtrip', false, { error: e.message.slice(0, 300), text }];
  }
  const back = lib.evaluateDenseJs(parsed.node);
  const r = compareDense(K, E64, back);
  const same = lib.formulaKey(parsed.node) === lib.formulaKey(node);
  let identical = true;
  for (let t = 0; t < back.length; t++) if (!Object.is(back[t], oracle[t])) identical = false;
  return ['roundtrip', r.worst <= 1 && (same || identical), { ...r, sameStructure: same, identical, reprinted: same ? undefined : lib.formatNode(parsed.node) }];
}

/** min / max / argKmin / logsumexp over axis 1 against brute force over K, on the CPU (float64, float32) and GPU. */
async function reductionChecks(lib, c, formula, K, E64, E32, rng, backends, overflows32) {
  const { n, m } = c;
  const out = [];
  const targets = [['cpu', 'float64', E64, U64]];
  if (backends.gpu && rng.chance(0.5)) targets.push(['gpu', 'float32', null, U32]);
  else targets.push(['cpu', 'float32', null, U32]);
  for (const [backend, dtype, E0, u] of targets) {
    const E = E0 ?? E32;
    const opts = { backend, dtype };
    const kind = `reduce-${backend}${dtype === 'float64' ? 64 : 32}`;
    const rowTol = (i) => { let e = 0; for (let j = 0; j < m; j++) e = Math.max(e, E[i * m + j]); return SAFETY * e; };
    try {
      const kk = Math.min(m, rng.int(1, 4));
      const [mn, mx, idx, lse, mn0] = await Promise.all([formula.min(1, opts), formula.max(1, opts), formula.argKmin(kk, 1, opts), formula.logsumexp(1, undefined, opts), formula.min(0, opts)]);
      let worst = 0; let at = null;
      const note = (what, i, got, want, tol) => {
        const ratio = Math.abs(got - want) / (tol + 1e-300);
        if (!(ratio <= worst)) { worst = Number.isNaN(ratio) ? Infinity : ratio; at = { what, row: i, got, want, tol }; }
      };
      for (let i = 0; i < n; i++) {
        const row = Array.from(K.subarray(i * m, (i + 1) * m));
        const tol = rowTol(i);
        if (!Number.isFinite(tol)) continue;
        const sorted = row.slice().sort((a, b) => a - b);
        note('min', i, mn[i], sorted[0], tol);
        note('max', i, mx[i], sorted[m - 1], tol);
        for (let t = 0; t < kk; t++) note(`argKmin[${t}]`, i, row[idx[i * kk + t]] ?? NaN, sorted[t], tol);
        const top = sorted[m - 1];
        const want = top + Math.log(row.reduce((s, x) => s + Math.exp(x - top), 0));
        note('logsumexp', i, lse[i], want, tol + SAFETY * (m + 4) * u * Math.max(1, Math.abs(want)));
      }
      for (let j = 0; j < m; j++) {
        // axis 0: the formula with i and j exchanged (swapIJ) reduced over its new j
        let want = Infinity; let tol = 0;
        for (let i = 0; i < n; i++) { want = Math.min(want, K[i * m + j]); tol = Math.max(tol, SAFETY * E[i * m + j]); }
        if (Number.isFinite(tol)) note('min axis 0', j, mn0[j], want, tol);
      }
      out.push([kind, worst <= 1, { worst, at, k: kk }]);
    } catch (e) {
      // leaving float32's range must be refused (as products are): a RangeError naming it is the right answer
      // and so must sin/cos past the generated code's range (2^51; 2^16 for the GPU's float32), which gives NaN
      // — and logsumexp's float32 refusal where |F| is so large (|F|·2^−24 > 1) that the two passes' roundings of F
      // can differ by more than exp's range (documented in docs/keops-mapping.md: seed 28, case 245, |F| ≈ 1e22)
      const refused = e instanceof RangeError
        && ((dtype === 'float32' && /float32's range/.test(e.message) && (overflows32 || (/logsumexp/.test(e.message) && K.reduce((b, x) => (Number.isFinite(x) ? Math.max(b, Math.abs(x)) : b), 0) * U32 > 1)))
          || /sin and cos of arguments beyond 2\^51/.test(e.message));
      out.push([kind, refused, { error: String(e.message).slice(0, 300) }]);
    }
  }
  return out;
}

// ---------------------------------------------------------------- command line

async function main() {
  const args = process.argv.slice(2);
  const flag = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  const cases = Number(flag('cases', 400));
  const seed = Number(flag('seed', 1));
  const only = flag('case', undefined);
  const verbose = args.includes('--verbose');
  const useGpu = args.includes('--gpu');
  const lib = await loadDist();
  let products = 0;
  const backends = {
    // every third product on the worker pool (its row split), the others on the calling thread
    cpu: (node, slots, n, m, cols, dtype, extra) => lib.reduceKernel(node, slots, n, m, cols, { dtype, parallel: products++ % 3 === 0, ...extra }),
    operator32: (formula, b) => lib.kernelOperator(formula, { dtype: 'float32', backend: 'cpu' }).matvec(b),
    operator: (formula, b, options) => lib.kernelOperator(formula, { backend: 'cpu', ...options }).matvec(b),
  };
  if (useGpu) backends.gpu = (node, slots, n, m, cols) => lib.gpuReduceKernel(node, slots, n, m, cols);
  const tally = {};
  const count = (kind, key) => { tally[kind] ??= { ok: 0, bad: 0 }; tally[kind][key]++; };
  let skipped = 0; let unstable = 0;
  const t0 = Date.now();
  const list = only === undefined ? Array.from({ length: cases }, (_, t) => t) : [Number(only)];
  for (const t of list) {
    const caseSeed = (seed * 1000003 + t) >>> 0;
    let c;
    try {
      c = generateCase(lib, caseSeed);
    } catch (e) {
      count('build', 'bad');
      console.log(`[build] seed=${seed} case=${t}: ${e.message}`);
      continue;
    }
    const text = lib.formatNode(c.formula.node);
    let r;
    const tc = Date.now();
    try {
      r = await checkCase(lib, c, backends);
    } catch (e) {
      count('crash', 'bad');
      console.log(`[crash] seed=${seed} case=${t} n=${c.n} m=${c.m} d=${c.d} mag=${c.magnitude}\n  F = ${text}\n  ${e.stack?.split('\n').slice(0, 3).join('\n  ')}`);
      continue;
    }
    if (r.skipped) { skipped++; continue; }
    if (args.includes('--times')) console.log(`case ${t}: ${Date.now() - tc} ms n=${c.n} m=${c.m} d=${c.d}`);
    for (const { kind, ok, detail } of r.results) {
      count(kind, ok ? 'ok' : 'bad');
      if (detail?.unstable) unstable += detail.unstable;
      if (!ok || verbose) {
        console.log(`[${ok ? 'ok' : 'DISAGREE'} ${kind}] seed=${seed} case=${t} n=${c.n} m=${c.m} d=${c.d} mag=${c.magnitude}\n  F = ${text.length > 400 ? `${text.slice(0, 400)}…` : text}\n  ${JSON.stringify(detail, (k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x))}`);
      }
    }
  }
  console.log(`\n${list.length} cases (seed ${seed}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${skipped} skipped (float64 value not finite or no Vi/Vj); ${unstable} ill-conditioned rows not compared`);
  for (const [kind, { ok, bad }] of Object.entries(tally)) console.log(`  ${kind.padEnd(14)} ${String(ok).padStart(5)} agree  ${String(bad).padStart(4)} disagree`);
  await lib.shutdownCpuPool();
  if (lib.releaseGpu) await lib.releaseGpu();
  process.exitCode = Object.values(tally).some((x) => x.bad > 0) ? 1 : 0;
}

async function loadDist() {
  const root = new URL('../dist/', import.meta.url);
  const mod = (p) => import(new URL(p, root).href);
  const [index, formula, nodes, cpu, pool, gpu, symmetry] = await Promise.all([
    mod('index.js'), mod('formula/index.js'), mod('formula/nodes.js'), mod('cpu/reduce.js'), mod('cpu/pool.js'), mod('gpu/reduce.js'), mod('formula/symmetry.js'),
  ]);
  return { ...formula, ...nodes, isStructurallySymmetric: symmetry.isStructurallySymmetric, kernelOperator: index.kernelOperator, reduceKernel: cpu.reduceKernel, shutdownCpuPool: pool.shutdownCpuPool, gpuReduceKernel: gpu.gpuReduceKernel };
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
