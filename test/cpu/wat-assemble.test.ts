// The WAT assembler that replaced wabt at run time (src/cpu/wat-assemble.ts) writes the very bytes wabt writes,
// for every kind of program the emitters produce; wabt (a dependency) is the reference.
import wabtInit from 'wabt';
import { beforeAll, describe, expect, it } from 'vitest';
import { reductionProgram } from '../../src/cpu/reduce.js';
import {
  denseGramWat, denseProductWat, denseSymmetricProductF32Wat, denseSymmetricProductWat, denseTransposedProductWat,
} from '../../src/cpu/dense-product.js';
import { assembleWat } from '../../src/cpu/wat-assemble.js';
import { collectVariables, Pm, Vi, Vj, type Formula } from '../../src/formula/index.js';
import { seededPoints } from '../random-data.js';

interface Wabt { parseWat(f: string, t: string, o: Record<string, boolean>): { toBinary(o: object): { buffer: Uint8Array }; destroy(): void } }
let wabt: Wabt;
beforeAll(async () => { wabt = await (wabtInit as unknown as () => Promise<Wabt>)(); });

function wabtBytes(text: string): Uint8Array {
  const parsed = wabt.parseWat('k.wat', text, { simd: true, threads: true });
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

const x = seededPoints(3, 20, 3);
const y = seededPoints(4, 30, 3);
/** Formulas over the emitters' operations: reductions, exp/log/trig/tanh polynomials, powers, branches. */
const formulas: [string, Formula][] = [
  ['gaussian', Vi(x).sub(Vj(x)).sqnorm2().div(Pm(0.08, 's')).neg().exp()],
  ['matern-like', Vi(x).sub(Vj(y)).norm2().mul(-1.7).exp().mul(Vi(x).sub(Vj(y)).norm2().mul(1.7).add(1))],
  ['mixed', Vi(x).dot(Vj(y)).add(1).pow(3).add(Vi(x).sum().sin()).add(Vj(y).sum().cos()).add(Vi(x).sub(Vj(y)).abs().sum().log())],
  ['branches', Vi(x).sub(Vj(y)).sum().tanh().add(Vi(x).sub(Vj(y)).sum().sign()).add(Vi(x).sub(Vj(y)).sum().relu().pow(-2.3))],
];

describe('assembleWat writes the bytes wabt writes', () => {
  for (const [name, f] of formulas) {
    it(`reduction programs of the ${name} formula (every column mode, both dtypes, symmetric and packed)`, () => {
      const slots = collectVariables(f.node);
      for (const dtype of ['float64', 'float32'] as const) {
        for (const columns of [1, 3, 9, 'dense', 'dense-f32'] as const) {
          if (typeof columns === 'string' && dtype !== 'float64') continue; // K is evaluated in float64 when stored
          for (const symmetric of [false, true]) {
            const { wat } = reductionProgram(f.node, slots, dtype, columns, symmetric);
            expect(assembleWat(wat)).toEqual(wabtBytes(wat));
          }
        }
      }
    });
  }

  it('dense-cache programs (products, transposed products, Gram, float32 sums)', () => {
    const texts = [denseSymmetricProductF32Wat()];
    for (const s of ['float32', 'float64'] as const) texts.push(denseProductWat(s), denseTransposedProductWat(s), denseSymmetricProductWat(s), denseGramWat(s));
    for (const wat of texts) expect(assembleWat(wat)).toEqual(wabtBytes(wat));
  });

  it('literals: float32 constants rounded once from the decimal (not through float64), integers, lanes, comments', () => {
    // 1 + 2⁻²⁴ + 10⁻²⁸ rounds to the float32 midpoint 1 + 2⁻²⁴ in float64, then to 1 (ties to even) — the
    // float32 nearest the decimal is 1 + 2⁻²³
    const wat = `(module ;; comment
      (import "env" "mem" (memory 1 65536 shared))
      (func (export "f") (param $a i32) (result i32) (local f32) (local $v v128) (local i64)
        (local.set 1 (f32.const 1.0000000596046447753906250001))
        (local.set 1 (f32.const -1.0000000596046447753906249999))
        (local.set 1 (f32.const 3.4028235e38)) (local.set 1 (f32.const 1e-46)) (local.set 1 (f32.const -nan))
        (local.set $v (v128.const f32x4 0.1 -0.0 inf 1.0000000596046447753906250001))
        (local.set $v (v128.const i32x4 -1 4294967295 0x7fffffff -2147483648))
        (local.set $v (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 255))
        (local.set $v (v128.const f64x2 1e-320 -1.7976931348623157e308))
        (local.set 3 (i64.const -9223372036854775808)) (local.set 3 (i64.const 18446744073709551615))
        (; block comment ;)
        (if (result i32) (i32.const 1) (then (i32.const -2147483648)) (else (i32.const 4294967295))))
    )`;
    expect(assembleWat(wat)).toEqual(wabtBytes(wat));
  });

  it('integers in every spelling (the int32 fast path and the exact path agree with wabt), comments and strings', () => {
    const consts = ['0', '-0', '+5', '63', '64', '-64', '-65', '8191', '8192', '2147483647', '-2147483648', '2147483648', '4294967295',
      '0x7f', '-0x80', '1_000', '007', '-1'];
    const wat = `(module (; a (block) comment ;) ;; a line comment with "quotes" (and parentheses
      (import "env" "mem" (memory 1 65536 shared))
      (func (export "f\\\"q") (result i32)
        ${consts.map((c) => `(drop (i32.const ${c}))`).join(' ')}
        (drop (i32.load offset=4294967295 (i32.const 0))) (drop (i32.load offset=0x10 align=2 (i32.const 0)))
        (i32.const 1);;end
      ))`;
    expect(assembleWat(wat)).toEqual(wabtBytes(wat));
  });

  it('reports an unterminated comment or string and a stray semicolon', () => {
    expect(() => assembleWat('(module (; open')).toThrow(/unterminated block comment/);
    expect(() => assembleWat('(module (func (export "f)))')).toThrow(/unterminated string/);
    expect(() => assembleWat('(module ; (func))')).toThrow(/unexpected ';'/);
  });

  it('refuses what it does not know, by name', () => {
    expect(() => assembleWat('(module (func (i32.frobnicate)))')).toThrow(/unsupported instruction i32\.frobnicate/);
    expect(() => assembleWat('(module (func (local.get $nope)))')).toThrow(/unknown local \$nope/);
    expect(() => assembleWat('(module (func (br $out)))')).toThrow(/unknown label \$out/);
    expect(() => assembleWat('(module (func)')).toThrow(/unbalanced/);
    expect(() => assembleWat('(module (global i32 (i32.const 0)))')).toThrow(/unsupported module field/);
  });
});
