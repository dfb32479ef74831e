import { expect } from 'chai';
import {
  formatBinaryQuantity,
  parseQuantity,
} from '../../../../src/controllers/common/quantity.js';

const Ki = 1024;
const Mi = Ki * 1024;
const Gi = Mi * 1024;

describe('controllers/common/quantity', () => {
  describe('parseQuantity', () => {
    const cases: [string | number, number][] = [
      ['0', 0],
      ['1', 1],
      ['1Ki', Ki],
      ['128Mi', 128 * Mi],
      ['1Gi', Gi],
      ['1.5Gi', 1.5 * Gi],
      ['256Gi', 256 * Gi],
      ['1Ti', Gi * 1024],
      ['64Ti', 64 * Gi * 1024],
      ['1Pi', 2 ** 50],
      ['1k', 1000],
      ['1M', 1e6],
      ['8G', 8e9],
      ['1T', 1e12],
      ['1P', 1e15],
      ['0.001E', 1e15],
      ['1e3', 1000],
      ['1E3', 1000],
      ['1e+3', 1000],
      ['2.5e2', 250],
      ['15e-1', 2], // 1.5 rounds up, like resource.Quantity.Value()
      ['500m', 1],
      ['1500m', 2],
      ['1n', 1],
      ['1u', 1],
      ['.5Ki', 512],
      ['5.', 5],
      ['+7', 7],
      ['-1Ki', -Ki],
      ['-1.5', -1], // ceiling, towards +infinity
      [0.5, 1],
      [4096, 4096],
    ];
    for (const [input, bytes] of cases) {
      it(`${JSON.stringify(input)} is ${bytes}`, () => {
        expect(parseQuantity(input)).to.equal(bytes);
      });
    }

    const bad: (string | number)[] = [
      '',
      ' 1Gi',
      '1Gi ',
      '1 Gi',
      'Gi',
      '.',
      '1GiB',
      '1gi',
      '1K',
      '1e',
      '1e1.5',
      '1.2.3',
      '0x10',
      'abc',
      '--1',
      '1e999',
      '1Ei', // 2^60 is beyond Number.MAX_SAFE_INTEGER
      '9E',
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 60,
    ];
    for (const input of bad) {
      it(`rejects ${typeof input === 'string' ? JSON.stringify(input) : String(input)}`, () => {
        expect(() => parseQuantity(input)).to.throw(RangeError);
      });
    }
  });

  describe('formatBinaryQuantity', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [1000, '1000'],
      [1536, '1536'], // 1.5Ki is not canonical
      [3072, '3Ki'],
      [Gi, '1Gi'],
      [8 * Gi, '8Gi'],
      [1024 * Gi, '1Ti'],
      [Gi + Ki, '1048577Ki'],
    ];
    for (const [bytes, text] of cases) {
      it(`${bytes} is ${text}, and parses back`, () => {
        expect(formatBinaryQuantity(bytes)).to.equal(text);
        expect(parseQuantity(text)).to.equal(bytes);
      });
    }
    it('rejects negative and fractional byte counts', () => {
      expect(() => formatBinaryQuantity(-1)).to.throw(RangeError);
      expect(() => formatBinaryQuantity(1.5)).to.throw(RangeError);
    });
  });
});
