// The BMC service's backend against the fake Hypervisor: a power-status request reads the
// domain's state alone (observeDomainState), never its XML (observeDomain), and a power
// action decides from that state.
import { expect } from 'chai';
import type { BmcBackend } from '../../../src/bmc/backend.js';
import { NoBootOverride } from '../../../src/bmc/boot.js';
import { type BmcTarget, createBmcService } from '../../../src/bmc/service.js';
import { noopLogger } from '../../../src/runtime/index.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../fakes/hypervisor.js';
import { contractDomain } from '../../support/hypervisor-contract.js';

const owner = { kind: 'MaasNode', namespace: 'lab', name: 'node-0', uid: 'uid-0' };
const source = { protocol: 'redfish', remote: '127.0.0.1:1', user: 'maas' } as const;

async function setup(
  withCdrom = false,
  recorded: string[] = [],
): Promise<{
  hv: FakeHypervisor;
  backend: BmcBackend;
  systemId: string;
  close: () => Promise<void>;
}> {
  const hv = createFakeHypervisor();
  const base = contractDomain('lab-node-0', owner);
  const definition = withCdrom ? { ...base, cdroms: [{ bus: 'scsi' as const }] } : base;
  await hv.defineDomain(definition);
  const systemId = (await hv.observeDomain('lab-node-0'))!.uuid;
  let backend: BmcBackend | undefined;
  const service = createBmcService({
    startRedfish: (o) => {
      backend = o.backend;
      return Promise.resolve({ url: 'http://127.0.0.1:1', port: 1, close: async () => {} });
    },
    startIpmi: () => Promise.reject(new Error('no IPMI here')),
    tlsFor: () => Promise.reject(new Error('no TLS here')),
    hooks: {
      actionTaken: async (key, action) => void recorded.push(`${key} action ${action}`),
      bootChanged: async (key, boot) =>
        void recorded.push(`${key} boot ${boot.target}/${boot.enabled}`),
      bootSpent: async (key) => void recorded.push(`${key} spent`),
    },
    log: noopLogger,
  });
  const target: BmcTarget = {
    key: 'lab/node-0',
    name: 'node-0',
    type: 'redfish',
    systemId,
    hypervisor: 'hv0',
    listen: {
      address: '127.0.0.1',
      redfishPort: 1,
      redfishScheme: 'http',
      ipmiPortRange: '6230-6231',
    },
    credentials: { username: 'maas', password: 'pa55word' },
    boot: NoBootOverride,
    verbs: hv,
    definition,
    specBootOrder: ['disk', 'network'],
    domainName: 'lab-node-0',
    owner,
    vcpus: 1,
    memoryMiB: 128,
  };
  await service.ensure(target);
  hv.resetRecording();
  return { hv, backend: backend!, systemId, close: () => service.close() };
}

describe('bmc/service backend', () => {
  it('answers a power status from the domain state alone, without reading its XML', async () => {
    const { hv, backend, systemId, close } = await setup();
    expect((await backend.describe(systemId))?.powerState).to.equal('Off');
    hv.external.start('lab-node-0');
    const on = await backend.describe(systemId.toUpperCase());
    expect(on).to.include({ id: systemId, name: 'node-0', powerState: 'On', vcpus: 1 });
    expect(hv.calls.map((c) => c.verb)).to.deep.equal(['observeDomainState', 'observeDomainState']);
    await close();
  });

  it('describes nothing for an unknown id or a domain that is gone', async () => {
    const { hv, backend, systemId, close } = await setup();
    expect(await backend.describe('00000000-0000-0000-0000-000000000000')).to.equal(undefined);
    await hv.deleteDomain('lab-node-0', owner);
    expect(await backend.describe(systemId)).to.equal(undefined);
    await close();
  });

  it('decides a power action from the domain state alone', async () => {
    const { hv, backend, systemId, close } = await setup();
    await backend.power(systemId, 'On', source);
    await backend.power(systemId, 'On', source);
    expect(hv.calls.map((c) => c.verb)).to.deep.equal([
      'observeDomainState',
      'start',
      'observeDomainState',
    ]);
    expect((await hv.observeDomainState('lab-node-0'))?.state).to.equal('running');
    await close();
  });

  it('a Cd override puts the CD-ROM drive first in the definition; refused on a node without one', async () => {
    const { hv, backend, systemId, close } = await setup(true);
    await backend.setBootOverride(
      systemId,
      { target: 'Cd', enabled: 'Once', mode: 'Legacy' },
      source,
    );
    expect((await hv.observeDomain('lab-node-0'))?.inactive?.bootOrder[0]).to.equal('cdrom');
    await backend.setBootOverride(
      systemId,
      { target: 'None', enabled: 'Disabled', mode: 'Legacy' },
      source,
    );
    expect((await hv.observeDomain('lab-node-0'))?.inactive?.bootOrder[0]).not.to.equal('cdrom');
    await close();

    const plain = await setup(false);
    let refused: unknown;
    await plain.backend
      .setBootOverride(plain.systemId, { target: 'Cd', enabled: 'Once', mode: 'Legacy' }, source)
      .catch((err: unknown) => (refused = err));
    expect(String(refused)).to.contain('no CD-ROM drive');
    await plain.close();
  });

  it('a Once override is spent by the boot it applied to, and the power action stays the last action', async () => {
    const recorded: string[] = [];
    const { hv, backend, systemId, close } = await setup(true, recorded);
    await backend.setBootOverride(
      systemId,
      { target: 'Cd', enabled: 'Once', mode: 'Legacy' },
      source,
    );
    await backend.power(systemId, 'On', source);
    // close() waits for the status records still being written.
    await close();
    expect(recorded).to.deep.equal([
      'lab/node-0 boot Cd/Once',
      'lab/node-0 action On',
      'lab/node-0 spent',
    ]);
    // The definition is back to the spec's order: the contract domain has neither disk nor NIC,
    // so nothing is left of it once the CD-ROM drive is no longer first.
    expect((await hv.observeDomain('lab-node-0'))?.inactive?.bootOrder).to.deep.equal([]);
  });
});
