/**
 * A WebAssembly text (WAT) assembler for the subset the CPU programs are written in: one module of an
 * imported shared memory and exported functions, whose bodies are folded (or plain) instructions over
 * locals, blocks, loops, ifs, scalar and SIMD arithmetic, loads and stores.
 *
 * Why not wabt: wabt is a 700 KB emscripten build whose load, instantiation and first parse cost
 * 250–800 ms of a fresh process's first product on the 2-vCPU VM — more than compiling the program it
 * assembles. This assembler takes 6 ms for the largest (68 KB of text: a Laplacian's packed store at d = 3, eight
 * unrolled units) once warm, 15–40 ms the first time in a process, and writes the bytes wabt writes
 * (canonical LEBs, consecutive locals of one type grouped, function types shared), which the tests check
 * against wabt on every program the emitters produce.
 */

type Sexp = string | Sexp[];

const VALTYPES: Record<string, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/**
 * Atoms, parentheses, strings and comments, in order: one native regular-expression pass, where a loop over the
 * characters ran in the interpreter (a fresh process assembles each program once, before any of this code is hot).
 */
const TOKEN = /;;[^\n]*|\(;[\s\S]*?(?:;\)|$)|"(?:[^"\\]|\\.)*"|[()]|[^\s()";]+|\S/g;

/** Tokens and nested lists of `text` (comments `;; …` and `(; … ;)` skipped, strings kept with their quotes). */
function parse(text: string): Sexp[] {
  const stack: Sexp[][] = [[]];
  let top = stack[0]!;
  const tokens = text.match(TOKEN) ?? [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    const c = t.charCodeAt(0);
    if (t === '(') {
      stack.push((top = []));
    } else if (t === ')') {
      const list = stack.pop()!;
      if (stack.length === 0) throw new SyntaxError('WAT: unbalanced ")"');
      (top = stack[stack.length - 1]!).push(list);
    } else if (c === 59 /* ; */ || (c === 40 /* ( */ && t.length > 1)) {
      if (t.length === 1 || t.charCodeAt(1) !== 59) throw new SyntaxError(`WAT: unexpected ';' at token ${k}`);
      if (c === 40 && !t.endsWith(';)')) throw new SyntaxError('WAT: unterminated block comment');
      // a comment
    } else if (c === 34 /* " */) {
      if (t.length === 1) throw new SyntaxError('WAT: unterminated string'); // a lone quote: no string matched
      top.push(t);
    } else {
      top.push(t);
    }
  }
  if (stack.length !== 1) throw new SyntaxError('WAT: unbalanced "("');
  return top;
}

/** Growable byte buffer with the LEB128 encodings of the binary format. */
class Bytes {
  private buf = new Uint8Array(256);
  length = 0;
  byte(b: number): this {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b & 0xff;
    return this;
  }
  bytes(b: ArrayLike<number>): this {
    for (let k = 0; k < b.length; k++) this.byte(b[k]!);
    return this;
  }
  u32(v: number): this {
    do {
      const b = v & 0x7f;
      v >>>= 7;
      this.byte(v ? b | 0x80 : b);
    } while (v);
    return this;
  }
  sleb(v: bigint): this {
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }
  /** Signed LEB128 of an int32 held as a number (the BigInt path costs far more per constant when cold). */
  sleb32(v: number): this {
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }
  name(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    return this.u32(utf8.length).bytes(utf8);
  }
  /** This buffer's bytes, prefixed by their count. */
  sized(into: Bytes): Bytes {
    return into.u32(this.length).bytes(this.view());
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

// ---- instruction table --------------------------------------------------------------------------

type Imm = 'none' | 'local' | 'label' | 'mem' | 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'lane' | 'shuffle';
interface Op { code: number[]; imm: Imm; align?: number }

const OPS = new Map<string, Op>();
const op = (name: string, code: number[], imm: Imm = 'none', align?: number) => OPS.set(name, { code, imm, ...(align === undefined ? {} : { align }) });
const simd = (name: string, code: number, imm: Imm = 'none', align?: number) => {
  const leb = new Bytes().u32(code).view();
  op(name, [0xfd, ...leb], imm, align);
};

op('unreachable', [0x00]); op('nop', [0x01]); op('br', [0x0c], 'label'); op('br_if', [0x0d], 'label');
op('return', [0x0f]); op('drop', [0x1a]); op('select', [0x1b]);
op('local.get', [0x20], 'local'); op('local.set', [0x21], 'local'); op('local.tee', [0x22], 'local');
op('i32.const', [0x41], 'i32'); op('i64.const', [0x42], 'i64'); op('f32.const', [0x43], 'f32'); op('f64.const', [0x44], 'f64');
// loads and stores (natural alignment, as log2 bytes)
[['i32.load', 2], ['i64.load', 3], ['f32.load', 2], ['f64.load', 3], ['i32.load8_s', 0], ['i32.load8_u', 0], ['i32.load16_s', 1],
  ['i32.load16_u', 1], ['i64.load8_s', 0], ['i64.load8_u', 0], ['i64.load16_s', 1], ['i64.load16_u', 1], ['i64.load32_s', 2],
  ['i64.load32_u', 2], ['i32.store', 2], ['i64.store', 3], ['f32.store', 2], ['f64.store', 3], ['i32.store8', 0], ['i32.store16', 1],
  ['i64.store8', 0], ['i64.store16', 1], ['i64.store32', 2]].forEach(([name, align], k) => op(name as string, [0x28 + k], 'mem', align as number));
// scalar numeric instructions, in opcode order from 0x45
[
  'i32.eqz', 'i32.eq', 'i32.ne', 'i32.lt_s', 'i32.lt_u', 'i32.gt_s', 'i32.gt_u', 'i32.le_s', 'i32.le_u', 'i32.ge_s', 'i32.ge_u',
  'i64.eqz', 'i64.eq', 'i64.ne', 'i64.lt_s', 'i64.lt_u', 'i64.gt_s', 'i64.gt_u', 'i64.le_s', 'i64.le_u', 'i64.ge_s', 'i64.ge_u',
  'f32.eq', 'f32.ne', 'f32.lt', 'f32.gt', 'f32.le', 'f32.ge', 'f64.eq', 'f64.ne', 'f64.lt', 'f64.gt', 'f64.le', 'f64.ge',
  'i32.clz', 'i32.ctz', 'i32.popcnt', 'i32.add', 'i32.sub', 'i32.mul', 'i32.div_s', 'i32.div_u', 'i32.rem_s', 'i32.rem_u',
  'i32.and', 'i32.or', 'i32.xor', 'i32.shl', 'i32.shr_s', 'i32.shr_u', 'i32.rotl', 'i32.rotr',
  'i64.clz', 'i64.ctz', 'i64.popcnt', 'i64.add', 'i64.sub', 'i64.mul', 'i64.div_s', 'i64.div_u', 'i64.rem_s', 'i64.rem_u',
  'i64.and', 'i64.or', 'i64.xor', 'i64.shl', 'i64.shr_s', 'i64.shr_u', 'i64.rotl', 'i64.rotr',
  'f32.abs', 'f32.neg', 'f32.ceil', 'f32.floor', 'f32.trunc', 'f32.nearest', 'f32.sqrt', 'f32.add', 'f32.sub', 'f32.mul',
  'f32.div', 'f32.min', 'f32.max', 'f32.copysign',
  'f64.abs', 'f64.neg', 'f64.ceil', 'f64.floor', 'f64.trunc', 'f64.nearest', 'f64.sqrt', 'f64.add', 'f64.sub', 'f64.mul',
  'f64.div', 'f64.min', 'f64.max', 'f64.copysign',
  'i32.wrap_i64', 'i32.trunc_f32_s', 'i32.trunc_f32_u', 'i32.trunc_f64_s', 'i32.trunc_f64_u', 'i64.extend_i32_s',
  'i64.extend_i32_u', 'i64.trunc_f32_s', 'i64.trunc_f32_u', 'i64.trunc_f64_s', 'i64.trunc_f64_u', 'f32.convert_i32_s',
  'f32.convert_i32_u', 'f32.convert_i64_s', 'f32.convert_i64_u', 'f32.demote_f64', 'f64.convert_i32_s', 'f64.convert_i32_u',
  'f64.convert_i64_s', 'f64.convert_i64_u', 'f64.promote_f32', 'i32.reinterpret_f32', 'i64.reinterpret_f64',
  'f32.reinterpret_i32', 'f64.reinterpret_i64',
].forEach((name, k) => op(name, [0x45 + k]));

// SIMD (0xfd prefix)
simd('v128.load', 0x00, 'mem', 4);
[['v128.load8x8_s', 3], ['v128.load8x8_u', 3], ['v128.load16x4_s', 3], ['v128.load16x4_u', 3], ['v128.load32x2_s', 3],
  ['v128.load32x2_u', 3], ['v128.load8_splat', 0], ['v128.load16_splat', 1], ['v128.load32_splat', 2], ['v128.load64_splat', 3]]
  .forEach(([name, align], k) => simd(name as string, 0x01 + k, 'mem', align as number));
simd('v128.store', 0x0b, 'mem', 4);
simd('v128.const', 0x0c, 'v128');
simd('i8x16.shuffle', 0x0d, 'shuffle');
simd('i8x16.swizzle', 0x0e);
['i8x16.splat', 'i16x8.splat', 'i32x4.splat', 'i64x2.splat', 'f32x4.splat', 'f64x2.splat'].forEach((name, k) => simd(name, 0x0f + k));
['i8x16.extract_lane_s', 'i8x16.extract_lane_u', 'i8x16.replace_lane', 'i16x8.extract_lane_s', 'i16x8.extract_lane_u',
  'i16x8.replace_lane', 'i32x4.extract_lane', 'i32x4.replace_lane', 'i64x2.extract_lane', 'i64x2.replace_lane',
  'f32x4.extract_lane', 'f32x4.replace_lane', 'f64x2.extract_lane', 'f64x2.replace_lane'].forEach((name, k) => simd(name, 0x15 + k, 'lane'));
const intCompares = ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'];
['i8x16', 'i16x8', 'i32x4'].forEach((s, k) => intCompares.forEach((c, q) => simd(`${s}.${c}`, 0x23 + 10 * k + q)));
['f32x4', 'f64x2'].forEach((s, k) => ['eq', 'ne', 'lt', 'gt', 'le', 'ge'].forEach((c, q) => simd(`${s}.${c}`, 0x41 + 6 * k + q)));
['v128.not', 'v128.and', 'v128.andnot', 'v128.or', 'v128.xor', 'v128.bitselect', 'v128.any_true'].forEach((name, k) => simd(name, 0x4d + k));
simd('v128.load32_zero', 0x5c, 'mem', 2);
// relaxed SIMD's multiply-adds (a·b + c, fused where the hardware has it): Node 20's V8 behind a flag (programs.ts)
[['f32x4.relaxed_madd', 0x105], ['f32x4.relaxed_nmadd', 0x106], ['f64x2.relaxed_madd', 0x107], ['f64x2.relaxed_nmadd', 0x108]]
  .forEach(([name, code]) => simd(name as string, code as number));
simd('v128.load64_zero', 0x5d, 'mem', 3);
simd('f32x4.demote_f64x2_zero', 0x5e);
simd('f64x2.promote_low_f32x4', 0x5f);
[['f32x4.ceil', 0x67], ['f32x4.floor', 0x68], ['f32x4.trunc', 0x69], ['f32x4.nearest', 0x6a], ['f64x2.ceil', 0x74],
  ['f64x2.floor', 0x75], ['f64x2.trunc', 0x7a], ['f64x2.nearest', 0x94]].forEach(([name, code]) => simd(name as string, code as number));
[['abs', 0xa0], ['neg', 0xa1], ['all_true', 0xa3], ['bitmask', 0xa4], ['shl', 0xab], ['shr_s', 0xac], ['shr_u', 0xad], ['add', 0xae],
  ['sub', 0xb1], ['mul', 0xb5], ['min_s', 0xb6], ['min_u', 0xb7], ['max_s', 0xb8], ['max_u', 0xb9]]
  .forEach(([name, code]) => simd(`i32x4.${name as string}`, code as number));
[['abs', 0xc0], ['neg', 0xc1], ['all_true', 0xc3], ['bitmask', 0xc4], ['shl', 0xcb], ['shr_s', 0xcc], ['shr_u', 0xcd], ['add', 0xce],
  ['sub', 0xd1], ['mul', 0xd5], ['eq', 0xd6], ['ne', 0xd7], ['lt_s', 0xd8], ['gt_s', 0xd9], ['le_s', 0xda], ['ge_s', 0xdb]]
  .forEach(([name, code]) => simd(`i64x2.${name as string}`, code as number));
['f32x4', 'f64x2'].forEach((s, k) => ['abs', 'neg', '', 'sqrt', 'add', 'sub', 'mul', 'div', 'min', 'max', 'pmin', 'pmax']
  .forEach((name, q) => name && simd(`${s}.${name}`, 0xe0 + 12 * k + q)));
['i32x4.trunc_sat_f32x4_s', 'i32x4.trunc_sat_f32x4_u', 'f32x4.convert_i32x4_s', 'f32x4.convert_i32x4_u',
  'i32x4.trunc_sat_f64x2_s_zero', 'i32x4.trunc_sat_f64x2_u_zero', 'f64x2.convert_low_i32x4_s', 'f64x2.convert_low_i32x4_u']
  .forEach((name, k) => simd(name, 0xf8 + k));

// ---- literals -----------------------------------------------------------------------------------

function intLiteral(tok: string, bits: 32 | 64): bigint {
  const clean = tok.replace(/_/g, '');
  const neg = clean.startsWith('-');
  const body = clean.replace(/^[+-]/, '');
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(body)) throw new SyntaxError(`WAT: bad integer ${tok}`);
  const v = neg ? -BigInt(body) : BigInt(body);
  if (v < -(1n << BigInt(bits - 1)) || v >= 1n << BigInt(bits)) throw new RangeError(`WAT: integer ${tok} out of range for i${bits}`);
  return BigInt.asIntN(bits, v);
}

/** A decimal literal written as JavaScript prints it (no sign +, underscores or hex) within int32, else undefined. */
function plainInt32(tok: string): number | undefined {
  const v = Number(tok);
  return v >= -2147483648 && v <= 2147483647 && String(v) === tok ? v : undefined;
}

/** The float64 value of a decimal (or inf/nan) literal. */
function f64Literal(tok: string): number {
  const t = tok.replace(/_/g, '');
  const sign = t.startsWith('-') ? -1 : 1;
  const body = t.replace(/^[+-]/, '');
  if (body === 'inf') return sign * Infinity;
  if (!/^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(body)) throw new SyntaxError(`WAT: unsupported float literal ${tok}`);
  return sign * Number(body);
}

/** Exact comparison of the decimal `body` (no sign) against the finite float64 `d` ≥ 0: −1, 0 or 1. */
function compareDecimal(body: string, d: number): number {
  const [mant, exp = '0'] = body.toLowerCase().split('e');
  const [int = '', frac = ''] = mant!.split('.');
  let num = BigInt((int + frac) || '0');
  let den = 1n;
  const e10 = Number(exp) - frac.length;
  if (e10 >= 0) num *= 10n ** BigInt(e10);
  else den = 10n ** BigInt(-e10);
  // d = m·2^e exactly
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, d);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const m = (bits & ((1n << 52n) - 1n)) | (biased ? 1n << 52n : 0n);
  const e = (biased || 1) - 1075;
  const lhs = num * (e < 0 ? 1n << BigInt(-e) : 1n);
  const rhs = m * den * (e > 0 ? 1n << BigInt(e) : 1n);
  return lhs < rhs ? -1 : lhs > rhs ? 1 : 0;
}

/** The float32 nearest to the decimal literal (ties to even), not the float32 of its float64 (double rounding). */
function f32Literal(tok: string): number {
  const d = f64Literal(tok);
  const f = Math.fround(d);
  if (!Number.isFinite(d) || f === d || !Number.isFinite(f)) return f;
  // d sits between float32 neighbours f and g: double rounding errs only when d is their exact midpoint
  const next = new Float32Array(1);
  const bitsOf = new Uint32Array(next.buffer);
  next[0] = f;
  bitsOf[0]! += Math.abs(d) > Math.abs(f) ? 1 : -1;
  const g = next[0]!;
  if ((f + g) / 2 !== d) return f;
  const cmp = compareDecimal(tok.replace(/_/g, '').replace(/^[+-]/, ''), Math.abs(d));
  if (cmp === 0) return f;
  const away = Math.abs(g) > Math.abs(f) ? g : f;
  const toward = away === g ? f : g;
  return cmp > 0 ? away : toward;
}

/** The little-endian bytes of a float literal; `nan` is the canonical quiet NaN, its sign as written. */
function floatBytes(tok: string, width: 4 | 8): Uint8Array {
  const bytes = new Uint8Array(width);
  const view = new DataView(bytes.buffer);
  if (/^[+-]?nan$/.test(tok)) {
    const negative = tok.startsWith('-');
    if (width === 4) view.setUint32(0, (negative ? 0xffc00000 : 0x7fc00000) >>> 0, true);
    else view.setBigUint64(0, negative ? 0xfff8000000000000n : 0x7ff8000000000000n, true);
  } else if (width === 4) view.setFloat32(0, f32Literal(tok), true);
  else view.setFloat64(0, f64Literal(tok), true);
  return bytes;
}

// ---- module -------------------------------------------------------------------------------------

interface Func { params: number[]; results: number[]; locals: number[]; names: Map<string, number>; body: Sexp[]; exports: string[] }

const isList = (s: Sexp | undefined): s is Sexp[] => Array.isArray(s);

/** Splits a func's fields: its exports, params, results, locals, then the body. */
function readFunc(fields: Sexp[]): Func {
  const f: Func = { params: [], results: [], locals: [], names: new Map(), body: [], exports: [] };
  let k = 1;
  if (typeof fields[k] === 'string' && (fields[k] as string).startsWith('$')) k++; // the function's own name
  for (; k < fields.length; k++) {
    const field = fields[k];
    if (!isList(field) || !['export', 'param', 'result', 'local'].includes(field[0] as string)) break;
    const [head, ...rest] = field as string[];
    if (head === 'export') { f.exports.push(JSON.parse(rest[0]!) as string); continue; }
    const named = rest[0]?.startsWith('$');
    const types = (named ? rest.slice(1) : rest).map((t) => {
      const code = VALTYPES[t];
      if (code === undefined) throw new SyntaxError(`WAT: unknown type ${t}`);
      return code;
    });
    if (head === 'result') { f.results.push(...types); continue; }
    if (named) f.names.set(rest[0]!, f.params.length + f.locals.length);
    (head === 'param' ? f.params : f.locals).push(...types);
  }
  f.body = fields.slice(k);
  return f;
}

/** Writes a function body's instructions (folded or plain). */
class BodyWriter {
  private labels: (string | undefined)[] = [];
  constructor(private readonly f: Func, readonly out: Bytes) {}

  /** The instructions items[from…to) (no copies of the lists: a fresh process runs this code cold). */
  seq(items: Sexp[], from = 0, to = items.length): void {
    let k = from;
    while (k < to) {
      const item = items[k++]!;
      if (isList(item)) this.folded(item);
      else k = this.plain(item, items, k);
    }
  }

  /** A plain instruction `item` with immediates from items[k…]; returns the index after them. */
  private plain(name: string, items: Sexp[], k: number): number {
    const o = OPS.get(name);
    if (!o) throw new SyntaxError(`WAT: unsupported instruction ${name}${['block', 'loop', 'if'].includes(name) ? ' (only folded blocks)' : ''}`);
    const want = immediateCount(o.imm, items, k);
    this.emit(name, o, items as string[], k, want);
    return k + want;
  }

  private folded(list: Sexp[]): void {
    const head = list[0];
    if (typeof head !== 'string') throw new SyntaxError('WAT: an instruction list must start with its name');
    if (head === 'block' || head === 'loop' || head === 'if') return this.structured(head, list);
    const o = OPS.get(head);
    if (!o) throw new SyntaxError(`WAT: unsupported instruction ${head}`);
    const want = immediateCount(o.imm, list, 1);
    this.seq(list, 1 + want);
    this.emit(head, o, list as string[], 1, want);
  }

  private structured(head: 'block' | 'loop' | 'if', list: Sexp[]): void {
    let k = 1;
    const label = typeof list[k] === 'string' && (list[k] as string).startsWith('$') ? (list[k++] as string) : undefined;
    let blockType = 0x40;
    if (isList(list[k]) && (list[k] as Sexp[])[0] === 'result') {
      const r = (list[k++] as string[]).slice(1);
      if (r.length !== 1) throw new SyntaxError('WAT: blocks of several results are not supported');
      blockType = VALTYPES[r[0]!]!;
    }
    if (head === 'if') {
      let thenAt = k;
      while (thenAt < list.length && !(isList(list[thenAt]) && (list[thenAt] as Sexp[])[0] === 'then')) thenAt++;
      if (thenAt === list.length) throw new SyntaxError('WAT: folded if without (then …)');
      this.seq(list, k, thenAt); // the condition
      this.out.byte(0x04).byte(blockType);
      this.labels.push(label);
      this.seq(list[thenAt] as Sexp[], 1);
      const other = list[thenAt + 1];
      if (isList(other) && other[0] === 'else') {
        this.out.byte(0x05);
        this.seq(other, 1);
      }
    } else {
      this.out.byte(head === 'block' ? 0x02 : 0x03).byte(blockType);
      this.labels.push(label);
      this.seq(list, k);
    }
    this.labels.pop();
    this.out.byte(0x0b);
  }

  /** The opcode of `name` and its immediates, the `count` atoms items[at…at + count). */
  private emit(name: string, o: Op, items: string[], at: number, count: number): void {
    const out = this.out;
    out.bytes(o.code);
    const first = items[at]!;
    switch (o.imm) {
      case 'none': return;
      case 'local': out.u32(this.local(first)); return;
      case 'label': out.u32(this.label(first)); return;
      case 'i32': {
        const v = plainInt32(first);
        if (v === undefined) out.sleb(intLiteral(first, 32));
        else out.sleb32(v);
        return;
      }
      case 'i64': out.sleb(intLiteral(first, 64)); return;
      case 'f32': out.bytes(floatBytes(first, 4)); return;
      case 'f64': out.bytes(floatBytes(first, 8)); return;
      case 'lane': out.byte(laneIndex(first, 255)); return;
      case 'shuffle': for (let q = 0; q < count; q++) out.byte(laneIndex(items[at + q]!, 31)); return;
      case 'v128': out.bytes(v128Const(items.slice(at, at + count))); return;
      case 'mem': {
        let offset = 0;
        let align = o.align!;
        for (let q = 0; q < count; q++) {
          const t = items[at + q]!;
          if (t.startsWith('offset=')) offset = plainInt32(t.slice(7)) ?? Number(intLiteral(t.slice(7), 32) & 0xffffffffn);
          else align = Math.log2(Number(t.slice(6)));
        }
        if (!Number.isInteger(align)) throw new SyntaxError(`WAT: bad alignment in ${name}`);
        out.u32(align).u32(offset);
        return;
      }
    }
  }

  private local(tok: string): number {
    const index = tok.startsWith('$') ? this.f.names.get(tok) : Number(tok);
    if (index === undefined || !Number.isInteger(index)) throw new SyntaxError(`WAT: unknown local ${tok}`);
    return index;
  }

  private label(tok: string): number {
    if (!tok.startsWith('$')) return Number(tok);
    const at = this.labels.lastIndexOf(tok);
    if (at < 0) throw new SyntaxError(`WAT: unknown label ${tok}`);
    return this.labels.length - 1 - at;
  }
}

/** How many atoms after an instruction's name are its immediates. */
function immediateCount(imm: Imm, items: Sexp[], k: number): number {
  switch (imm) {
    case 'none': return 0;
    case 'mem': {
      let q = 0;
      while (typeof items[k + q] === 'string' && /^(offset|align)=/.test(items[k + q] as string)) q++;
      return q;
    }
    case 'shuffle': return 16;
    case 'v128': return 1 + ({ i8x16: 16, i16x8: 8, i32x4: 4, i64x2: 2, f32x4: 4, f64x2: 2 }[items[k] as string] ?? 0);
    default: return 1;
  }
}

function laneIndex(tok: string, most: number): number {
  const v = Number(tok);
  if (!Number.isInteger(v) || v < 0 || v > most) throw new SyntaxError(`WAT: bad lane index ${tok}`);
  return v;
}

function v128Const(imms: string[]): Uint8Array {
  const [shape, ...values] = imms;
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  const width = 16 / values.length;
  values.forEach((t, k) => {
    const at = k * width;
    if (shape === 'f32x4' || shape === 'f64x2') bytes.set(floatBytes(t, width as 4 | 8), at);
    else if (shape === 'i64x2') view.setBigInt64(at, intLiteral(t, 64), true);
    else {
      const v = Number(BigInt.asUintN(width * 8, intLiteral(t, 32)));
      if (width === 4) view.setUint32(at, v, true);
      else if (width === 2) view.setUint16(at, v, true);
      else view.setUint8(at, v);
    }
  });
  return bytes;
}

/** The import of the module's memory: `(import "m" "n" (memory min max? shared?))`. */
function writeImport(field: Sexp[], out: Bytes): void {
  const [, mod, name, desc] = field;
  if (!isList(desc) || desc[0] !== 'memory') throw new SyntaxError('WAT: only memory imports are supported');
  const rest = desc.slice(1).filter((t) => typeof t === 'string' && !t.startsWith('$')) as string[];
  const shared = rest.includes('shared');
  const limits = rest.filter((t) => t !== 'shared').map(Number);
  out.name(JSON.parse(mod as string) as string).name(JSON.parse(name as string) as string).byte(0x02);
  out.byte((limits.length > 1 ? 1 : 0) | (shared ? 2 : 0));
  limits.forEach((v) => out.u32(v));
}

/** Assembles the WAT text of a module into its binary. */
export function assembleWat(text: string): Uint8Array {
  const top = parse(text);
  if (top.length !== 1 || !isList(top[0]) || top[0][0] !== 'module') throw new SyntaxError('WAT: expected one (module …)');
  const fields = top[0].slice(1);
  const imports = fields.filter((f): f is Sexp[] => isList(f) && f[0] === 'import');
  const funcs = fields.filter((f): f is Sexp[] => isList(f) && f[0] === 'func').map(readFunc);
  const other = fields.find((f) => !isList(f) || (f[0] !== 'import' && f[0] !== 'func'));
  if (other !== undefined) throw new SyntaxError(`WAT: unsupported module field ${JSON.stringify(other).slice(0, 40)}`);

  const typeKeys: string[] = [];
  const typeOf = funcs.map((f) => {
    const key = `${f.params.join(',')}|${f.results.join(',')}`;
    if (!typeKeys.includes(key)) typeKeys.push(key);
    return typeKeys.indexOf(key);
  });
  const module = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, body: Bytes) => { module.byte(id); body.sized(module); };

  const types = new Bytes().u32(typeKeys.length);
  for (const key of typeKeys) {
    const [params, results] = key.split('|').map((s) => (s ? s.split(',').map(Number) : []));
    types.byte(0x60).u32(params!.length).bytes(params!).u32(results!.length).bytes(results!);
  }
  if (typeKeys.length) section(1, types);
  if (imports.length) {
    const imp = new Bytes().u32(imports.length);
    imports.forEach((f) => writeImport(f, imp));
    section(2, imp);
  }
  if (funcs.length) section(3, new Bytes().u32(funcs.length).bytes(typeOf.flatMap((t) => [...new Bytes().u32(t).view()])));
  const exported = funcs.flatMap((f, k) => f.exports.map((name) => [name, k] as const));
  if (exported.length) {
    const exp = new Bytes().u32(exported.length);
    exported.forEach(([name, k]) => exp.name(name).byte(0x00).u32(k));
    section(7, exp);
  }
  if (funcs.length) {
    const code = new Bytes().u32(funcs.length);
    for (const f of funcs) {
      const body = new Bytes();
      // consecutive locals of one type form one declaration
      const runs: [number, number][] = [];
      for (const t of f.locals) {
        const last = runs[runs.length - 1];
        if (last && last[1] === t) last[0]++;
        else runs.push([1, t]);
      }
      body.u32(runs.length);
      runs.forEach(([count, t]) => body.u32(count).byte(t));
      new BodyWriter(f, body).seq(f.body);
      body.byte(0x0b);
      body.sized(code);
    }
    section(10, code);
  }
  return module.view().slice();
}
