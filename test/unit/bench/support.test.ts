// The bench's pure helpers: order statistics.
import { expect } from 'chai';
import { median, percentile } from '../../../bench/support.js';

describe('bench/support', () => {
  it('percentile is nearest-rank: an observed value, order-independent', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(xs, 0.5)).to.equal(5);
    expect(percentile(xs, 0.9)).to.equal(9);
    expect(percentile(xs, 0.99)).to.equal(10);
    expect(percentile(xs, 1)).to.equal(10);
    expect(percentile(xs, 0)).to.equal(1);
    expect(percentile([42], 0.99)).to.equal(42);
    expect(percentile([], 0.5)).to.be.NaN;
  });

  it('p99 of 1000 samples is the 990th smallest', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(percentile(xs, 0.99)).to.equal(990);
    expect(percentile(xs, 0.5)).to.equal(500);
  });

  it('median averages the middle two of an even sample', () => {
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([3, 1, 2])).to.equal(2);
  });
});
