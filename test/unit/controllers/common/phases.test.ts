// The phase loop: in order, until a phase stops the pass or throws; results merged.
import { expect } from 'chai';
import {
  next,
  type PassFailure,
  type Phase,
  runPhases,
  runPhasesAndReport,
  stop,
} from '../../../../src/controllers/common/phases.js';

describe('controllers/common phases', () => {
  const ran =
    (log: string[], name: string, result = next): Phase<string[]> =>
    async (pass) => {
      pass.push(name);
      log.push(name);
      return result;
    };

  it('runs every phase in order over the same pass and merges to the soonest requeue', async () => {
    const log: string[] = [];
    const pass: string[] = [];
    const result = await runPhases(
      [
        ran(log, 'a', { requeueAfterMs: 600_000 }),
        ran(log, 'b'),
        ran(log, 'c', { requeueAfterMs: 30_000 }),
      ],
      pass,
    );
    expect(pass).to.deep.equal(['a', 'b', 'c']);
    expect(result).to.deep.equal({ requeueAfterMs: 30_000 });
  });

  it('stops after a phase that says stop, with its result; no stop flag leaks out', async () => {
    const log: string[] = [];
    const result = await runPhases(
      [ran(log, 'a'), ran(log, 'b', stop({ requeueAfterMs: 10_000 })), ran(log, 'c')],
      [],
    );
    expect(log).to.deep.equal(['a', 'b']);
    expect(result).to.deep.equal({ requeueAfterMs: 10_000 });
    expect(await runPhases([ran([], 'a', stop())], [])).to.deep.equal({});
  });

  it('ends the pass with the first error: later phases do not run', async () => {
    const log: string[] = [];
    const boom = new Error('boom');
    const failing: Phase<string[]> = async () => {
      throw boom;
    };
    const err = await runPhases([ran(log, 'a'), failing, ran(log, 'c')], []).catch(
      (e: unknown) => e,
    );
    expect(err).to.equal(boom);
    expect(log).to.deep.equal(['a']);
  });

  it('asks for nothing when no phase does', async () => {
    expect(await runPhases([ran([], 'a'), ran([], 'b', { requeueAfterMs: 0 })], [])).to.deep.equal(
      {},
    );
  });

  describe('runPhasesAndReport', () => {
    it("reports once after the phases, and merges the report's requeue with theirs", async () => {
      const log: string[] = [];
      const seen: PassFailure[] = [];
      const result = await runPhasesAndReport(
        [ran(log, 'a', { requeueAfterMs: 60_000 }), ran(log, 'b')],
        [],
        async (failed) => {
          log.push('report');
          seen.push(failed);
          return { requeueAfterMs: 1_000 };
        },
      );
      expect(log).to.deep.equal(['a', 'b', 'report']);
      expect(seen).to.deep.equal([undefined]);
      expect(result).to.deep.equal({ requeueAfterMs: 1_000 });
    });

    it("reports a phase's error, then rethrows it", async () => {
      const boom = new Error('boom');
      const seen: PassFailure[] = [];
      const failing: Phase<string[]> = async () => {
        throw boom;
      };
      const err = await runPhasesAndReport([failing], [], async (failed) => {
        seen.push(failed);
      }).catch((e: unknown) => e);
      expect(err).to.equal(boom);
      expect(seen).to.deep.equal([{ error: boom }]);
    });
  });
});
