import { expect } from 'chai';
import {
  describePlan,
  hasArrived,
  owningLab,
  planPowerVerb,
} from '../../../src/plugin/run-strategy.js';
import { PluginError } from '../../../src/plugin/errors.js';
import { labNode, standalone, virshStatus } from './fixtures.js';

const now = new Date('2026-12-04T10:11:12.345Z');

describe('plugin/run-strategy', () => {
  describe('patch bodies, as virtctl sets them', () => {
    it('start: runStrategy Always', () => {
      const plan = planPowerVerb(standalone({ runStrategy: 'Halted' }), { verb: 'start', now });
      expect(plan.patch).to.deep.equal({ spec: { runStrategy: 'Always' } });
    });
    it('stop: runStrategy Halted with haltMode Shutdown (a graceful ACPI shutdown)', () => {
      const plan = planPowerVerb(standalone({ runStrategy: 'Always' }), { verb: 'stop', now });
      expect(plan.patch).to.deep.equal({ spec: { runStrategy: 'Halted', haltMode: 'Shutdown' } });
    });
    it('stop after halt --save sets haltMode back to Shutdown', () => {
      const node = standalone({ runStrategy: 'Halted', haltMode: 'Save' });
      expect(planPowerVerb(node, { verb: 'stop', now }).patch).to.deep.equal({
        spec: { haltMode: 'Shutdown' },
      });
    });
    it('halt --save: Halted with haltMode Save; halt alone: haltMode Destroy', () => {
      const node = standalone({ runStrategy: 'Always' });
      expect(planPowerVerb(node, { verb: 'halt', save: true, now }).patch).to.deep.equal({
        spec: { runStrategy: 'Halted', haltMode: 'Save' },
      });
      expect(planPowerVerb(node, { verb: 'halt', now }).patch).to.deep.equal({
        spec: { runStrategy: 'Halted', haltMode: 'Destroy' },
      });
    });
    it('restart: a new restartToken, the request time in RFC 3339', () => {
      const plan = planPowerVerb(standalone({ restartToken: 'old' }), { verb: 'restart', now });
      expect(plan.patch).to.deep.equal({ spec: { restartToken: '2026-12-04T10:11:12.345Z' } });
    });
    it('sends nothing when the spec already says it, and says so', () => {
      const plan = planPowerVerb(standalone({ runStrategy: 'Always' }), { verb: 'start', now });
      expect(plan.patch).to.equal(undefined);
      expect(describePlan('n1', 'start', plan)).to.equal(
        'maasnode.maaslab.dev/n1 unchanged (already runStrategy Always)',
      );
    });
    it('describes each changed field, from (or <unset>) -> to', () => {
      const plan = planPowerVerb(standalone(), { verb: 'stop', now });
      expect(describePlan('n1', 'stop', plan)).to.equal(
        'maasnode.maaslab.dev/n1 stopped (runStrategy: <unset> -> Halted, haltMode: <unset> -> Shutdown)',
      );
    });
  });

  describe('refusals', () => {
    it('refuses a node owned by a MaasLab, naming the lab and the template, unless --force', () => {
      const node = labNode(1);
      expect(owningLab(node)).to.equal('recipe');
      for (const verb of ['start', 'stop', 'restart', 'halt'] as const) {
        expect(() => planPowerVerb(node, { verb, now }))
          .to.throw(PluginError)
          .with.property('message')
          .that.matches(/belongs to maaslab "recipe".*spec\.nodes\.template.*--force/);
      }
      expect(planPowerVerb(node, { verb: 'stop', force: true, now }).patch).to.deep.equal({
        spec: { runStrategy: 'Halted', haltMode: 'Shutdown' },
      });
    });
    it('knows a lab child by its label alone too', () => {
      const node = standalone();
      node.metadata = { ...node.metadata, labels: { 'maaslab.dev/lab': 'other' } };
      expect(owningLab(node)).to.equal('other');
      expect(owningLab(standalone())).to.equal(undefined);
    });
    it('refuses to restart a halted node: start it instead', () => {
      expect(() => planPowerVerb(standalone({ runStrategy: 'Halted' }), { verb: 'restart', now }))
        .to.throw(PluginError)
        .with.property(
          'message',
          `maasnode "n1" is halted (runStrategy Halted): use 'start' to power it on`,
        );
    });
  });

  describe('--wait: hasArrived', () => {
    const running = { ...standalone(), status: virshStatus(1) };
    it('start arrives at Running and Ready at the new generation, not before', () => {
      const plan = planPowerVerb(standalone({ runStrategy: 'Halted' }), { verb: 'start', now });
      expect(hasArrived(running, 'start', plan, 1)).to.equal(true);
      expect(hasArrived(running, 'start', plan, 2)).to.equal(false);
      const stopped = {
        ...running,
        status: { ...running.status, printableStatus: 'Stopped' as const },
      };
      expect(hasArrived(stopped, 'start', plan, 1)).to.equal(false);
    });
    it('halt --save arrives at Saved; restart needs its token recorded', () => {
      const save = planPowerVerb(standalone(), { verb: 'halt', save: true, now });
      const saved = {
        ...running,
        status: { ...running.status, printableStatus: 'Saved' as const },
      };
      expect(hasArrived(saved, 'halt', save, 1)).to.equal(true);
      const restart = planPowerVerb(standalone(), { verb: 'restart', now });
      expect(hasArrived(running, 'restart', restart, 1)).to.equal(false);
      const rebooted = {
        ...running,
        status: { ...running.status, lastRestartToken: '2026-12-04T10:11:12.345Z' },
      };
      expect(hasArrived(rebooted, 'restart', restart, 1)).to.equal(true);
    });
  });
});
