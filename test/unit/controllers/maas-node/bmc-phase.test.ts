// The MaasNode reconciler's BMC phase against the FakeHypervisor and a real BmcService whose
// protocol servers are stand-ins: what it serves, what it refuses and why (BmcReady), the
// MAAS parameters in status.power, the Once override spent by a boot, and the release when
// the node drops its BMC. The real servers and clients are in test/integration/e2e/bmc.test.ts.
import { expect } from 'chai';
import type {
  Hypervisor as HypervisorResource,
  MaasNode,
} from '../../../../src/api/v1alpha1/index.js';
import type { BmcBackend } from '../../../../src/bmc/backend.js';
import { type BmcService, createBmcService } from '../../../../src/bmc/service.js';
import { createMaasNodeReconciler } from '../../../../src/controllers/maas-node/reconciler.js';
import { noopLogger } from '../../../../src/runtime/index.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';
import { node } from '../fixtures.js';
import {
  cond,
  fakeClient,
  hypervisorResource,
  key,
  readyNetwork,
  signal,
  store,
  withFinalizer,
} from '../reconciler-support.js';

describe('controllers/maas-node BMC phase (FakeHypervisor, BmcService with stand-in servers)', () => {
  let hv: FakeHypervisor;
  let nodes: ReturnType<typeof store<MaasNode>>;
  let service: BmcService;
  let backend: BmcBackend | undefined;
  let ipmiPorts: number[];
  let secrets: Record<string, Record<string, string>>;
  const clock = createFakeClock();
  const withBmc: HypervisorResource = {
    ...hypervisorResource,
    spec: {
      ...hypervisorResource.spec,
      bmc: { listenAddress: '10.0.0.1', ipmiPortRange: '6230-6231' },
    },
  };

  const reconciler = (hypervisor: HypervisorResource = withBmc) =>
    createMaasNodeReconciler({
      caches: { nodes, networks: store(readyNetwork('maas')), hypervisors: store(hypervisor) },
      hypervisorFor: () => hv,
      client: fakeClient(nodes),
      annotate: async () => undefined,
      events: { record: () => undefined },
      clock,
      bmc: service,
      readSecret: async (_ns, name) => secrets[name],
    });
  const spec = (type: 'ipmi' | 'redfish', secret = 'creds') => ({
    disks: [{ name: 'root', size: '8Gi' }],
    interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:01' }],
    bmc: { type, credentialsSecretRef: { name: secret } },
  });
  /** Passes until the domain has its UUID and the BMC phase has run with it. */
  const settle = async (name: string, hypervisor?: HypervisorResource): Promise<MaasNode> => {
    const r = reconciler(hypervisor);
    for (let i = 0; i < 3; i++) await r.reconcile(key(name), signal);
    return nodes.get(key(name)) as MaasNode;
  };

  beforeEach(() => {
    hv = createFakeHypervisor();
    nodes = store<MaasNode>();
    ipmiPorts = [];
    backend = undefined;
    secrets = { creds: { username: 'maas', password: 'pw' } };
    service = createBmcService({
      startRedfish: async (o) => {
        backend = o.backend;
        return { url: `https://${o.host}:${o.port}`, port: o.port, close: async () => {} };
      },
      startIpmi: async (o) => {
        backend = o.backend;
        ipmiPorts.push(o.port);
        return {
          address: o.host,
          port: o.port,
          close: async () => void ipmiPorts.splice(ipmiPorts.indexOf(o.port), 1),
        };
      },
      tlsFor: async () => ({ certPem: 'c', keyPem: 'k' }),
      hooks: {
        actionTaken: async () => {},
        bootChanged: async () => {},
        bootSpent: async () => {},
      },
      log: noopLogger,
    });
  });
  afterEach(() => service.close());

  it('serves an IPMI BMC: BmcReady, the port from the range, MAAS parameters, runStrategy Manual leaves it off', async () => {
    nodes.put(withFinalizer(node('n1', spec('ipmi'))));
    const n = await settle('n1');
    expect(cond(n, 'BmcReady')).to.include({ status: 'True', reason: 'Serving' });
    expect(n.status?.bmc?.ipmi).to.deep.equal({ address: '10.0.0.1', port: 6230 });
    expect(n.status?.power).to.deep.equal({
      type: 'ipmi',
      address: '10.0.0.1:6230',
      user: 'maas',
      driver: 'LAN_2_0',
      cipherSuiteId: '3',
      privilegeLevel: 'OPERATOR',
    });
    expect(n.status?.printableStatus).to.equal('Stopped');
    expect(cond(n, 'Ready')).to.include({ status: 'True', reason: 'Halted' });
    expect(ipmiPorts).to.deep.equal([6230]);
  });

  it('a Once PXE override is applied to the definition, spent by the boot, and the spec order returns', async () => {
    nodes.put(withFinalizer(node('n1', { ...spec('redfish'), bootOrder: ['disk', 'network'] })));
    const n = await settle('n1');
    const id = n.status?.bmc?.redfish?.systemId ?? '';
    expect(id).to.equal(n.status?.uuid);
    const source = { protocol: 'redfish', remote: '10.0.0.9:1', user: 'maas' } as const;
    await backend?.setBootOverride(id, { target: 'Pxe', enabled: 'Once', mode: 'Legacy' }, source);
    expect((await hv.observeDomain(n.status?.domainName ?? ''))?.inactive.bootOrder).to.deep.equal([
      'network',
      'disk',
    ]);
    // A pass in between keeps the override (desired state, not a fight).
    await reconciler().reconcile(key('n1'), signal);
    expect((await hv.observeDomain(n.status?.domainName ?? ''))?.inactive.bootOrder).to.deep.equal([
      'network',
      'disk',
    ]);
    await backend?.power(id, 'On', source);
    expect((await backend?.describe(id))?.powerState).to.equal('On');
    expect((await backend?.describe(id))?.boot.enabled).to.equal('Disabled');
    expect((await hv.observeDomain(n.status?.domainName ?? ''))?.inactive.bootOrder).to.deep.equal([
      'disk',
      'network',
    ]);
  });

  it('says why it does not serve: no Secret, a Secret without a password, an IPMI password over 20 bytes, no Hypervisor spec.bmc', async () => {
    nodes.put(withFinalizer(node('a', spec('ipmi', 'missing'))));
    expect(cond(await settle('a'), 'BmcReady')).to.deep.include({
      status: 'False',
      reason: 'CredentialsInvalid',
      message: 'Secret missing not found',
    });
    secrets['nopass'] = { username: 'maas' };
    nodes.put(withFinalizer(node('b', spec('ipmi', 'nopass'))));
    expect(cond(await settle('b'), 'BmcReady')?.reason).to.equal('CredentialsInvalid');
    secrets['long'] = { username: 'maas', password: 'x'.repeat(21) };
    nodes.put(withFinalizer(node('c', spec('ipmi', 'long'))));
    expect(cond(await settle('c'), 'BmcReady')?.message).to.contain('at most 20 bytes');
    // Redfish has no such limit.
    nodes.put(withFinalizer(node('d', spec('redfish', 'long'))));
    expect(cond(await settle('d'), 'BmcReady')?.status).to.equal('True');
    nodes.put(withFinalizer(node('e', spec('redfish'))));
    expect(cond(await settle('e', hypervisorResource), 'BmcReady')?.reason).to.equal(
      'BmcNotConfigured',
    );
    expect(ipmiPorts).to.deep.equal([]);
  });

  it('PortsExhausted when the range is full; dropping a BMC frees its port', async () => {
    for (const name of ['p1', 'p2', 'p3']) nodes.put(withFinalizer(node(name, spec('ipmi'))));
    await settle('p1');
    await settle('p2');
    expect(cond(await settle('p3'), 'BmcReady')?.reason).to.equal('PortsExhausted');
    expect(ipmiPorts.sort()).to.deep.equal([6230, 6231]);
    const p1 = nodes.get(key('p1')) as MaasNode;
    nodes.put({ ...p1, spec: { ...p1.spec, bmc: { type: 'none' } } });
    const dropped = await settle('p1');
    expect(cond(dropped, 'BmcReady')).to.equal(undefined);
    expect(dropped.status?.bmc).to.equal(undefined);
    expect(dropped.status?.power?.type).to.equal('virsh');
    expect(cond(await settle('p3'), 'BmcReady')?.status).to.equal('True');
    expect(ipmiPorts.sort()).to.deep.equal([6230, 6231]);
  });
});
