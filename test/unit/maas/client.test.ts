import { expect } from 'chai';
import {
  createMaasClient,
  type MaasClient,
  type CreateMachineRequest,
} from '../../../src/maas/client.js';
import {
  MaasBadRequestError,
  MaasNotFoundError,
  MaasUnauthorizedError,
  MaasUnavailableError,
  isRetryableMaasError,
} from '../../../src/maas/errors.js';
import { startMaasApiServer, type MaasApiServer } from '../../support/maas-api-server/server.js';
import { buildOAuthHeader, randomNonce } from '../../../src/maas/oauth.js';
import { parseMaasApiKey } from '../../../src/maas/api-key.js';

const request = (mac: string, over: Partial<CreateMachineRequest> = {}): CreateMachineRequest => ({
  architecture: 'amd64/generic',
  macAddresses: [mac],
  hostname: `node-${mac.replace(/:/g, '')}`,
  description: 'maaslab: lab-a/node-1',
  powerType: 'virsh',
  powerParameters: { power_address: 'qemu+ssh://root@10.0.0.1/system', power_id: 'node-1' },
  commission: true,
  ...over,
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('MAAS client against the test server', () => {
  let server: MaasApiServer;
  let apiKey: string;
  let client: MaasClient;

  beforeEach(async () => {
    server = await startMaasApiServer();
    apiKey = server.createApiKey();
    client = createMaasClient({ url: server.url, apiKey, timeoutMs: 2000 });
  });
  afterEach(() => server.close());

  it('version() works', async () => {
    expect((await client.version()).version).to.match(/3\.8/);
  });

  it('createMachine → Commissioning, then readMachine, machinesByMac, deleteMachine', async () => {
    const created = await client.createMachine(request('52:54:00:00:00:01'));
    expect(created).to.deep.include({
      statusName: 'Commissioning',
      powerType: 'virsh',
      description: 'maaslab: lab-a/node-1',
    });
    expect(created.macAddresses).to.deep.equal(['52:54:00:00:00:01']);
    expect(server.machines()[0]!.powerParameters).to.deep.equal({
      power_address: 'qemu+ssh://root@10.0.0.1/system',
      power_id: 'node-1',
    });
    expect(await client.readMachine(created.systemId)).to.deep.equal(created);
    expect(await client.machinesByMac('52-54-00-00-00-01')).to.have.length(1);
    expect(await client.machinesByMac('52:54:00:00:00:99')).to.have.length(0);
    await client.deleteMachine(created.systemId);
    expect(server.machines()).to.have.length(0);
    expect(server.requests().at(-1)!.status).to.equal(204);
  });

  it('commission=false leaves the machine New; the test hook advances it', async () => {
    const created = await client.createMachine(request('52:54:00:00:00:02', { commission: false }));
    expect(created.statusName).to.equal('New');
    server.setMachineStatus(created.systemId, 'Ready');
    expect((await client.readMachine(created.systemId)).statusName).to.equal('Ready');
  });

  it('idempotent create: look up by MAC first; a second create is a 400 with MAAS fields', async () => {
    const mac = '52:54:00:00:00:03';
    const ensure = async () =>
      (await client.machinesByMac(mac))[0] ?? client.createMachine(request(mac));
    const first = await ensure();
    const second = await ensure();
    expect(second.systemId).to.equal(first.systemId);
    const error = await rejection(client.createMachine(request(mac, { hostname: 'other' })));
    expect(error).to.be.instanceOf(MaasBadRequestError);
    expect((error as MaasBadRequestError).fields.mac_addresses).to.deep.equal([
      `MAC address ${mac} already in use on ${first.hostname}.`,
    ]);
  });

  it('400 with field errors for an unknown architecture, a bad MAC and a bad hostname', async () => {
    const error = (await rejection(
      client.createMachine(
        request('nope', { architecture: 'arm64/generic', hostname: 'bad_host' }),
      ),
    )) as MaasBadRequestError;
    expect(error).to.be.instanceOf(MaasBadRequestError);
    expect(Object.keys(error.fields).sort()).to.deep.equal([
      'architecture',
      'hostname',
      'mac_addresses',
    ]);
    expect(error.fields.mac_addresses).to.deep.equal(["'nope' is not a valid MAC address."]);
    expect(error.message).to.match(/^MAAS POST machines\/: 400/);
  });

  it('404 for an unknown system_id', async () => {
    expect(await rejection(client.readMachine('xyz123'))).to.be.instanceOf(MaasNotFoundError);
    expect(await rejection(client.deleteMachine('xyz123'))).to.be.instanceOf(MaasNotFoundError);
  });

  it('sees a machine deleted or created by hand', async () => {
    const created = await client.createMachine(request('52:54:00:00:00:04'));
    server.deleteMachineByHand(created.systemId);
    expect(await client.machinesByMac('52:54:00:00:00:04')).to.deep.equal([]);
    server.createMachineByHand({ hostname: 'theirs', macAddresses: ['52:54:00:00:00:05'] });
    const [theirs] = await client.machinesByMac('52:54:00:00:00:05');
    expect(theirs).to.deep.include({ hostname: 'theirs', description: '' });
  });

  it('401 for a wrong secret, and the error never contains the key', async () => {
    const [c, t] = apiKey.split(':');
    const wrong = createMaasClient({
      url: server.url,
      apiKey: `${c}:${t}:WrongSecret`,
      timeoutMs: 2000,
    });
    const error = await rejection(wrong.listSubnets());
    expect(error).to.be.instanceOf(MaasUnauthorizedError);
    expect(error.message).to.include('Invalid signature').and.not.include('WrongSecret');
    expect(String(error.stack)).not.to.include(apiKey.split(':')[2]!);
  });

  it('503 is MaasUnavailableError and retryable; the next request succeeds', async () => {
    server.failNext(1);
    const error = await rejection(client.listRackControllers());
    expect(error).to.be.instanceOf(MaasUnavailableError);
    expect(isRetryableMaasError(error)).to.equal(true);
    expect(await client.listRackControllers()).to.deep.equal([
      { systemId: server.rackController.systemId, hostname: 'maas-rack' },
    ]);
  });

  it('a timeout is MaasUnavailableError', async () => {
    const slow = createMaasClient({ url: server.url, apiKey, timeoutMs: 100 });
    server.delayNext(1, 1000);
    const error = await rejection(slow.listSubnets());
    expect(error).to.be.instanceOf(MaasUnavailableError);
    expect(error.message).to.match(/no answer within 100 ms/);
  });

  it("the caller's abort is rethrown as is", async () => {
    server.delayNext(1, 1000);
    const controller = new AbortController();
    const pending = client.listSubnets({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    expect((await rejection(pending)).message).to.equal('shutting down');
  });

  it('a dropped connection and a refused one are MaasUnavailableError', async () => {
    server.dropNext(1);
    expect(await rejection(client.listSubnets())).to.be.instanceOf(MaasUnavailableError);
    const url = server.url;
    await server.close();
    const refused = createMaasClient({ url, apiKey, timeoutMs: 1000 });
    const error = await rejection(refused.listSubnets());
    expect(error).to.be.instanceOf(MaasUnavailableError);
    expect(error.message).to.match(/ECONNREFUSED/);
    server = await startMaasApiServer();
  });

  it('network setup: subnet gateway, dynamic range, VLAN DHCP with the rack', async () => {
    const [subnet] = await client.listSubnets();
    expect(subnet!.vlan).to.deep.include({ fabricId: 0, vid: 0, dhcpOn: false });
    expect((await client.updateSubnet(subnet!.id, { gatewayIp: '10.10.0.1' })).gatewayIp).to.equal(
      '10.10.0.1',
    );
    const range = await client.createIpRange({
      type: 'dynamic',
      startIp: '10.10.0.99',
      endIp: '10.10.0.254',
      subnet: subnet!.id,
    });
    expect(range).to.deep.include({ type: 'dynamic', subnetId: subnet!.id });
    expect(await client.listIpRanges()).to.have.length(1);
    const overlap = await rejection(
      client.createIpRange({
        type: 'dynamic',
        startIp: '10.10.0.200',
        endIp: '10.10.0.210',
        subnet: subnet!.cidr,
      }),
    );
    expect(overlap).to.be.instanceOf(MaasBadRequestError);
    const rack = server.rackController.systemId;
    expect(await client.updateVlan(0, 0, { dhcpOn: true, primaryRack: rack })).to.deep.include({
      dhcpOn: true,
      primaryRack: rack,
    });
    expect((await client.readVlan(0, 0)).dhcpOn).to.equal(true);
    expect(await rejection(client.readVlan(0, 42))).to.be.instanceOf(MaasNotFoundError);
    const badRack = (await rejection(
      client.updateVlan(0, 0, { dhcpOn: true, primaryRack: 'nosuch' }),
    )) as MaasBadRequestError;
    expect(badRack.fields).to.have.property('primary_rack');
  });

  it('bootResourcesIsImporting follows the server flag (op=is_importing)', async () => {
    expect(await client.bootResourcesIsImporting()).to.equal(false);
    server.setImporting(true);
    expect(await client.bootResourcesIsImporting()).to.equal(true);
    expect(server.requests().at(-1)).to.deep.include({
      path: 'boot-resources/',
      op: 'is_importing',
    });
  });

  it('the server takes multipart/form-data as well as urlencoded, with repeated mac_addresses', async () => {
    const form = new FormData();
    form.append('architecture', 'amd64');
    form.append('mac_addresses', '52:54:00:00:00:0a');
    form.append('mac_addresses', '52:54:00:00:00:0b');
    form.append('hostname', 'multi');
    form.append('commission', 'false');
    const headers = {
      Authorization: buildOAuthHeader(parseMaasApiKey(apiKey), {
        nonce: randomNonce(),
        timestampSeconds: Date.now() / 1000,
      }),
    };
    const response = await fetch(`${server.url}/api/2.0/machines/`, {
      method: 'POST',
      headers,
      body: form,
    });
    expect(response.status).to.equal(200);
    const created = (await response.json()) as {
      interface_set: { mac_address: string }[];
      architecture: string;
    };
    expect(created.interface_set.map((i) => i.mac_address)).to.deep.equal([
      '52:54:00:00:00:0a',
      '52:54:00:00:00:0b',
    ]);
    expect(created.architecture).to.equal('amd64/generic');
    expect(server.requests().at(-1)!.contentType).to.match(/^multipart\/form-data/);
    await client.createMachine(request('52:54:00:00:00:0c'));
    expect(server.requests().at(-1)!.contentType).to.match(/^application\/x-www-form-urlencoded/);
  });

  it('an unknown op is MAAS\'s 400 "Unrecognised signature"', async () => {
    const headers = {
      Authorization: buildOAuthHeader(parseMaasApiKey(apiKey), {
        nonce: randomNonce(),
        timestampSeconds: Date.now() / 1000,
      }),
    };
    const response = await fetch(`${server.url}/api/2.0/machines/?op=frobnicate`, { headers });
    expect(response.status).to.equal(400);
    expect(await response.text()).to.equal('Unrecognised signature: method=GET op=frobnicate');
  });
});
