// The progress of --wait: the bar, the terminal line (redrawn in place, never wider than the
// terminal) and the plain lines of a pipe (one per change, not per poll).
import { expect } from 'chai';
import {
  BarWidth,
  RedrawPrefix,
  progressBar,
  progressWriter,
  renderPlainProgress,
  renderTtyProgress,
  type ProgressView,
} from '../../../src/plugin/progress.js';

const view = (over: Partial<ProgressView> = {}): ProgressView => ({
  label: 'maaslabsnapshot/s1',
  phase: 'Capturing',
  done: 1,
  total: 3,
  elapsedMs: 12_400,
  ...over,
});

describe('plugin/progress', () => {
  it('draws done/total as a bar of fixed width; empty while the total is unknown', () => {
    expect(progressBar(0, 3)).to.equal(`[${'.'.repeat(BarWidth)}]`);
    expect(progressBar(1, 3)).to.equal(`[${'#'.repeat(8)}${'.'.repeat(16)}]`);
    expect(progressBar(3, 3)).to.equal(`[${'#'.repeat(BarWidth)}]`);
    expect(progressBar(undefined, undefined)).to.equal(`[${'.'.repeat(BarWidth)}]`);
    expect(progressBar(5, 3)).to.equal(progressBar(3, 3));
    expect(progressBar(1, 0)).to.equal(progressBar(0, 3));
  });

  it('a terminal line: label, bar, count, phase, seconds, message; cut to the width', () => {
    expect(renderTtyProgress(view({ detail: 'copying the disks' }), 120)).to.equal(
      `maaslabsnapshot/s1  [########................]  1/3 members  Capturing  12s  copying the disks`,
    );
    expect(
      renderTtyProgress(view({ phase: 'Holding', done: undefined, total: undefined })),
    ).to.equal(`maaslabsnapshot/s1  [${'.'.repeat(BarWidth)}]  Holding  12s`);
    const cut = renderTtyProgress(view({ detail: 'x'.repeat(200) }), 60);
    expect(cut).to.have.length(59);
    expect(cut.endsWith('…')).to.equal(true);
    // 80 columns when the terminal does not say.
    expect(renderTtyProgress(view({ detail: 'x'.repeat(200) }))).to.have.length(79);
  });

  it('a plain line says the same without the bar', () => {
    expect(renderPlainProgress(view({ detail: 'copying the disks' }))).to.equal(
      'maaslabsnapshot/s1: Capturing, 1/3 members (12s): copying the disks',
    );
    expect(
      renderPlainProgress(view({ phase: 'Pending', done: undefined, total: undefined })),
    ).to.equal('maaslabsnapshot/s1: Pending (12s)');
  });

  it('on a terminal: every update redraws the one line in place; end closes it', () => {
    let out = '';
    const w = progressWriter((s) => void (out += s), true, 100);
    w.update(view({ done: 0, elapsedMs: 0 }));
    w.update(view({ done: 0, elapsedMs: 1000 }));
    w.update(view({ done: 3, phase: 'Ready', elapsedMs: 2000 }));
    w.end();
    const frames = out.split(RedrawPrefix);
    expect(frames[0]).to.equal('');
    expect(frames.slice(1)).to.deep.equal([
      `maaslabsnapshot/s1  [${'.'.repeat(BarWidth)}]  0/3 members  Capturing  0s`,
      `maaslabsnapshot/s1  [${'.'.repeat(BarWidth)}]  0/3 members  Capturing  1s`,
      `maaslabsnapshot/s1  [${'#'.repeat(BarWidth)}]  3/3 members  Ready  2s\n`,
    ]);
    // No newline in the middle: the cursor stays on the line until the end.
    expect(out.indexOf('\n')).to.equal(out.length - 1);
    // An end with nothing drawn writes nothing.
    let none = '';
    progressWriter((s) => void (none += s), true).end();
    expect(none).to.equal('');
  });

  it('not a terminal: a line per change of phase, count or message, none per tick, no escapes', () => {
    let out = '';
    const w = progressWriter((s) => void (out += s), false);
    w.update(view({ phase: 'Holding', done: undefined, total: undefined, elapsedMs: 0 }));
    w.update(view({ phase: 'Holding', done: undefined, total: undefined, elapsedMs: 1000 }));
    w.update(view({ phase: 'Capturing', done: 0, elapsedMs: 2000 }));
    w.update(view({ phase: 'Capturing', done: 0, elapsedMs: 3000 }));
    w.update(view({ phase: 'Capturing', done: 1, elapsedMs: 4000 }));
    w.update(view({ phase: 'Capturing', done: 1, detail: 'retrying', elapsedMs: 5000 }));
    w.end();
    expect(out).to.equal(
      [
        'maaslabsnapshot/s1: Holding (0s)',
        'maaslabsnapshot/s1: Capturing, 0/3 members (2s)',
        'maaslabsnapshot/s1: Capturing, 1/3 members (4s)',
        'maaslabsnapshot/s1: Capturing, 1/3 members (5s): retrying',
        '',
      ].join('\n'),
    );
    expect(out).to.not.include('\r').and.not.include('\x1b');
  });
});
