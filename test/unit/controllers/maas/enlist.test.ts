// enlist() and release() against the MAAS API test server (loopback): the MAC lookup first,
// exactly one machine per node however often it runs, someone else's machine never touched,
// each refusal's reason, and faults turned into outcomes.
import { expect } from 'chai';
import {
  EnlistingReason,
  MaasApiKeyInvalidReason,
  MacInUseReason,
  NoPowerAddressReason,
  type Hypervisor,
  type MaasLab,
  type MaasNode,
} from '../../../../src/api/v1alpha1/index.js';
import { createMaasClient, type MaasClient } from '../../../../src/maas/client.js';
import type { MaasAccess } from '../../../../src/controllers/maas/access.js';
import { connect, enlist, release } from '../../../../src/controllers/maas/enlist.js';
import { ownerMark } from '../../../../src/controllers/maas/desired.js';
import { startMaasApiServer, type MaasApiServer } from '../../../support/maas-api-server/server.js';
import { recipeHypervisor, recipeLab } from '../fixtures.js';

const MAC = '52:54:00:7f:04:01';

const lab: MaasLab = {
  ...recipeLab(),
  spec: {
    ...recipeLab().spec,
    maas: { external: { url: 'http://unused/MAAS', apiKeySecretRef: { name: 'k' } } },
  },
};

const hypervisor: Hypervisor = {
  ...recipeHypervisor,
  spec: { ...recipeHypervisor.spec, maasPowerAddress: 'qemu+ssh://maas@10.77.0.1/system' },
};

function labNode(uid = 'node1-uid'): MaasNode {
  return {
    apiVersion: 'maaslab.dev/v1alpha1',
    kind: 'MaasNode',
    metadata: { name: 'recipe-node1', namespace: 'maas', uid },
    spec: { hypervisor: 'local', interfaces: [{ network: 'recipe-maas', mac: MAC.toUpperCase() }] },
    status: {
      uuid: '0e8a2f3c-1111-4222-8333-444455556666',
      power: { type: 'virsh', id: 'maas_recipe-node1' },
    },
  };
}

describe('controllers/maas enlist and release (MAAS API test server)', () => {
  let server: MaasApiServer;
  let client: MaasClient;
  const signal = new AbortController().signal;

  beforeEach(async () => {
    server = await startMaasApiServer();
    client = createMaasClient({ url: server.url, apiKey: server.createApiKey(), timeoutMs: 2000 });
  });
  afterEach(() => server.close());

  it('creates one machine with the MAC, power parameters and our mark, and finds it again after', async () => {
    const input = { lab, node: labNode(), hypervisor, bmcPassword: undefined };
    const first = await enlist(client, input, signal);
    expect(first.kind).to.equal('enlisted');
    expect(first.kind === 'enlisted' && first.created).to.equal(true);
    const again = await enlist(client, input, signal);
    expect(again.kind === 'enlisted' && again.created).to.equal(false);

    const machines = server.machines();
    expect(machines).to.have.length(1);
    expect(machines[0]).to.deep.include({
      hostname: 'recipe-node1',
      description: ownerMark(labNode()),
      powerType: 'virsh',
      architecture: 'amd64/generic',
      statusName: 'Commissioning',
    });
    expect(machines[0]?.macAddresses).to.deep.equal([MAC]);
    expect(machines[0]?.powerParameters).to.deep.include({
      power_address: 'qemu+ssh://maas@10.77.0.1/system',
      power_id: 'maas_recipe-node1',
    });
    const posts = server
      .requests()
      .filter((r) => r.method === 'POST' && r.path.endsWith('machines/'));
    expect(posts).to.have.length(1);
  });

  it('finds the machine made before a lost response instead of making a second', async () => {
    const input = { lab, node: labNode(), hypervisor, bmcPassword: undefined };
    // The create reaches MAAS, the answer never comes back: the next pass must find it.
    server.loseAnswerNext(1, 'POST');
    const lost = await enlist(client, input, signal);
    expect(lost.kind).to.equal('unreachable');
    expect(server.machines()).to.have.length(1);
    const next = await enlist(client, input, signal);
    expect(next.kind).to.equal('enlisted');
    expect(server.machines()).to.have.length(1);
  });

  it("leaves a machine someone else made under the node's MAC alone: MacInUse", async () => {
    const byHand = server.createMachineByHand({ hostname: 'admins', macAddresses: [MAC] });
    const out = await enlist(
      client,
      { lab, node: labNode(), hypervisor, bmcPassword: undefined },
      signal,
    );
    expect(out.kind === 'notEnlisted' && out.why.reason).to.equal(MacInUseReason);
    expect(out.kind === 'notEnlisted' && out.why.message).to.contain(byHand);
    const released = await release(client, labNode(), signal);
    expect(released).to.deep.equal({ kind: 'released', deleted: [] });
    expect(server.machines().map((m) => m.systemId)).to.deep.equal([byHand]);
  });

  it('treats a machine of an earlier node of the same name as someone else’s', async () => {
    await enlist(
      client,
      { lab, node: labNode('old-uid'), hypervisor, bmcPassword: undefined },
      signal,
    );
    const out = await enlist(
      client,
      { lab, node: labNode('new-uid'), hypervisor, bmcPassword: undefined },
      signal,
    );
    expect(out.kind === 'notEnlisted' && out.why.reason).to.equal(MacInUseReason);
  });

  it('waits for the domain and its power parameters, and says when virsh has no usable address', async () => {
    const bare = { ...labNode(), status: {} };
    const waiting = await enlist(
      client,
      { lab, node: bare, hypervisor, bmcPassword: undefined },
      signal,
    );
    expect(waiting.kind === 'notEnlisted' && waiting.why.reason).to.equal(EnlistingReason);

    const local = { ...recipeHypervisor }; // qemu:///system: MAAS's own host, not ours
    const noAddress = await enlist(
      client,
      { lab, node: labNode(), hypervisor: local, bmcPassword: undefined },
      signal,
    );
    expect(noAddress.kind === 'notEnlisted' && noAddress.why.reason).to.equal(NoPowerAddressReason);
    expect(server.machines()).to.have.length(0);
  });

  it('enlists a Redfish node with the password from its Secret, never without it', async () => {
    const redfish: MaasNode = {
      ...labNode(),
      status: {
        ...labNode().status,
        power: {
          type: 'redfish',
          address: 'https://10.77.0.1:8443',
          user: 'admin',
          nodeId: 'sys-1',
        },
      },
    };
    const noPassword = await enlist(
      client,
      { lab, node: redfish, hypervisor, bmcPassword: undefined },
      signal,
    );
    expect(noPassword.kind === 'notEnlisted' && noPassword.why.message).to.contain('password');
    const out = await enlist(client, { lab, node: redfish, hypervisor, bmcPassword: 'pw' }, signal);
    expect(out.kind).to.equal('enlisted');
    expect(server.machines()[0]?.powerParameters).to.deep.equal({
      power_address: 'https://10.77.0.1:8443',
      power_user: 'admin',
      power_pass: 'pw',
      node_id: 'sys-1',
    });
  });

  it('turns a 503 into unreachable and a 401 into unauthorized, making nothing', async () => {
    server.failNext(1, 503);
    const down = await enlist(
      client,
      { lab, node: labNode(), hypervisor, bmcPassword: undefined },
      signal,
    );
    expect(down.kind).to.equal('unreachable');
    const wrongKey = createMaasClient({ url: server.url, apiKey: 'a:b:c', timeoutMs: 2000 });
    const refused = await enlist(
      wrongKey,
      { lab, node: labNode(), hypervisor, bmcPassword: undefined },
      signal,
    );
    expect(refused.kind).to.equal('unauthorized');
    expect(server.machines()).to.have.length(0);
  });

  it('deletes only our machines, including one recorded in status under another MAC', async () => {
    const input = { lab, node: labNode(), hypervisor, bmcPassword: undefined };
    const made = await enlist(client, input, signal);
    const systemId = made.kind === 'enlisted' ? made.machine.systemId : '';
    const recorded: MaasNode = {
      ...labNode(),
      spec: {
        ...labNode().spec,
        interfaces: [{ network: 'recipe-maas', mac: '52:54:00:00:00:99' }],
      },
      status: {
        ...labNode().status,
        maas: { systemId, url: server.url, apiKeySecretRef: { name: 'k' } },
      },
    };
    const out = await release(client, recorded, signal);
    expect(out).to.deep.equal({ kind: 'released', deleted: [systemId] });
    expect(server.machines()).to.have.length(0);
    // Gone already (deleted by hand): still released.
    expect(await release(client, recorded, signal)).to.deep.equal({
      kind: 'released',
      deleted: [],
    });
  });

  it('says why there is no client: a missing Secret, a missing key, a malformed key', async () => {
    const secrets: Record<string, Record<string, string>> = {
      good: { 'api-key': 'a:b:c' },
      empty: { other: 'x' },
      bad: { 'api-key': 'not-a-key' },
    };
    const access: MaasAccess = {
      readSecret: (_ns, name) => Promise.resolve(secrets[name]),
      client: (url, apiKey) => createMaasClient({ url, apiKey }),
    };
    const reasonOf = async (name: string) => {
      const made = await connect(
        access,
        'maas',
        { url: server.url, apiKeySecretRef: { name } },
        signal,
      );
      if ('client' in made) return 'client';
      return made.outcome.kind === 'notEnlisted'
        ? `${made.outcome.why.reason}: ${made.outcome.why.message}`
        : '';
    };
    expect(await reasonOf('good')).to.equal('client');
    expect(await reasonOf('missing')).to.equal(
      `${MaasApiKeyInvalidReason}: Secret missing not found`,
    );
    expect(await reasonOf('empty')).to.equal(
      `${MaasApiKeyInvalidReason}: Secret empty has no key api-key`,
    );
    const bad = await reasonOf('bad');
    expect(bad).to.match(new RegExp(`^${MaasApiKeyInvalidReason}: `));
    expect(bad).not.to.contain('not-a-key');
  });
});
