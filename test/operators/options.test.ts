import { describe, expect, it } from 'vitest';
import {
  boolean, finiteNumber, integer, nonNegativeOrInfinity, oneOf, optional, parseOptions, positiveNumber, union, withDefault,
  checkArgument, positiveInt, OptionRangeError, OptionTypeError,
} from '../../src/operators/options.js';

const SPEC = {
  sigma: withDefault(positiveNumber, 1),
  rtol: withDefault(nonNegativeOrInfinity, 1e-5),
  k: optional(integer({ min: 1, max: 10 })),
  which: withDefault(oneOf('LM', 'SA'), 'LM'),
  flag: optional(boolean),
  rank: withDefault(union(oneOf('auto'), positiveInt), 'auto'),
  list: withDefault(finiteNumber(), 3),
};

describe('parseOptions', () => {
  it('applies defaults and keeps given values', () => {
    expect(parseOptions('f', undefined, SPEC)).toEqual({ sigma: 1, rtol: 1e-5, k: undefined, which: 'LM', flag: undefined, rank: 'auto', list: 3 });
    expect(parseOptions('f', { sigma: 0.5, rtol: Infinity, k: 3, rank: 12 }, SPEC)).toMatchObject({ sigma: 0.5, rtol: Infinity, k: 3, rank: 12 });
  });

  it('refuses an unknown key by name, with a hint and the known keys', () => {
    expect(() => parseOptions('gaussianKernel', { sigam: 0.1 }, SPEC)).toThrow(/unknown option 'sigam'.*did you mean 'sigma'.*known options: sigma, rtol/);
    expect(() => parseOptions('f', { zzzzzz: 1 }, SPEC)).toThrow(OptionRangeError);
  });

  it('quotes the type of a wrong value', () => {
    expect(() => parseOptions('f', { sigma: '1' }, SPEC)).toThrow('f: sigma must be a positive finite number, got a string "1"');
    expect(() => parseOptions('f', { sigma: '1' }, SPEC)).toThrow(OptionTypeError);
    expect(() => parseOptions('f', { sigma: null }, SPEC)).toThrow('got null');
    expect(() => parseOptions('f', { sigma: -1 }, SPEC)).toThrow(OptionRangeError);
    expect(() => parseOptions('f', { k: 11 }, SPEC)).toThrow('f: k must be an integer ≥ 1 and ≤ 10, got number 11');
    expect(() => parseOptions('f', { which: 'XX' }, SPEC)).toThrow(`one of "LM", "SA", got a string "XX"`);
    expect(() => parseOptions('f', { rank: 'big' }, SPEC)).toThrow(OptionRangeError);
    expect(() => parseOptions('f', { rank: true }, SPEC)).toThrow(OptionTypeError);
    expect(() => parseOptions('f', { rtol: NaN }, SPEC)).toThrow('got number NaN');
  });

  it('refuses options that are not a plain object', () => {
    expect(() => parseOptions('f', [1], SPEC)).toThrow(/options must be a plain object, got an array/);
    expect(() => parseOptions('f', 3, SPEC)).toThrow(/got number 3/);
    expect(parseOptions('f', Object.create(null), SPEC).sigma).toBe(1);
  });

  it('checks positional arguments the same way', () => {
    expect(() => checkArgument('eigsh', 'k', '2', positiveInt)).toThrow('eigsh: k must be an integer ≥ 1, got a string "2"');
    expect(checkArgument('eigsh', 'k', undefined, withDefault(positiveInt, 6))).toBe(6);
  });
});
