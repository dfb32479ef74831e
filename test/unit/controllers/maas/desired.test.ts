// The MAAS desired state: which lab network MAAS serves, the refusals of a lab MAAS cannot
// serve, subnet arithmetic, the virsh power address, power parameters per BMC type, and the
// mark that tells our machines from everyone else's.
import { expect } from 'chai';
import {
  LibvirtDhcpConflictReason,
  NoPxeSubnetReason,
  type MaasLab,
  type MaasNode,
} from '../../../../src/api/v1alpha1/index.js';
import {
  defaultDynamicRange,
  inSubnet,
  isOurs,
  labMaasProblem,
  maasEndpoint,
  maasPowerAddress,
  machineRequest,
  ownerMark,
  powerParameters,
  pxeNetworkOf,
  subnetCidr,
} from '../../../../src/controllers/maas/desired.js';
import type { Machine } from '../../../../src/maas/resources.js';
import { node, recipeLab } from '../fixtures.js';

const external = {
  url: 'http://10.77.0.2:5240/MAAS',
  apiKeySecretRef: { name: 'maas-key' },
};

function maasLab(over: Partial<NonNullable<MaasLab['spec']['maas']>> = {}): MaasLab {
  const lab = recipeLab();
  return { ...lab, spec: { ...lab.spec, maas: { external, ...over } } };
}

const machine = (description: string): Machine =>
  ({ systemId: 'abc123', hostname: 'x', description }) as Machine;

describe('controllers/maas desired', () => {
  describe('pxeNetworkOf and labMaasProblem', () => {
    it("finds the lab network of the template's first interface", () => {
      expect(pxeNetworkOf(maasLab())?.name).to.equal('maas');
    });

    it('has no problem with a lab without MAAS, or with the recipe lab (no libvirt DHCP)', () => {
      expect(labMaasProblem(recipeLab())).to.equal(undefined);
      expect(labMaasProblem(maasLab())).to.equal(undefined);
    });

    it('refuses libvirt DHCP on the PXE network, naming the network', () => {
      const lab = maasLab();
      const [net] = lab.spec.networks ?? [];
      lab.spec.networks = [
        {
          ...net!,
          ipv4: {
            address: '10.77.0.1',
            prefixLength: 24,
            dhcp: { ranges: [{ start: '10.77.0.100', end: '10.77.0.200' }] },
          },
        },
      ];
      const why = labMaasProblem(lab);
      expect(why?.reason).to.equal(LibvirtDhcpConflictReason);
      expect(why?.message).to.contain('maas').and.contain('ipv4.dhcp');
    });

    it('refuses a PXE network without an IPv4 subnet, and a template without interfaces', () => {
      const noIp = maasLab();
      const [net] = noIp.spec.networks ?? [];
      const { ipv4: _drop, ...withoutIp } = net!;
      noIp.spec.networks = [withoutIp];
      expect(labMaasProblem(noIp)?.reason).to.equal(NoPxeSubnetReason);

      const noNic = maasLab();
      noNic.spec.nodes = {
        ...noNic.spec.nodes,
        template: { ...noNic.spec.nodes.template, interfaces: [] },
      };
      expect(pxeNetworkOf(noNic)).to.equal(undefined);
      expect(labMaasProblem(noNic)?.reason).to.equal(NoPxeSubnetReason);
    });
  });

  describe('subnet arithmetic', () => {
    it('writes CIDRs as MAAS does', () => {
      expect(subnetCidr('10.77.0.1', 24)).to.equal('10.77.0.0/24');
      expect(subnetCidr('192.168.5.130', 25)).to.equal('192.168.5.128/25');
      expect(subnetCidr('172.16.3.4', 16)).to.equal('172.16.0.0/16');
      expect(subnetCidr('255.255.255.255', 32)).to.equal('255.255.255.255/32');
    });

    it('gives the upper half of the subnet without the broadcast as the dynamic range', () => {
      expect(defaultDynamicRange('10.77.0.1', 24)).to.deep.equal({
        start: '10.77.0.128',
        end: '10.77.0.254',
      });
      expect(defaultDynamicRange('192.168.5.129', 25)).to.deep.equal({
        start: '192.168.5.192',
        end: '192.168.5.254',
      });
    });

    it("moves the range's ends off the host's own address", () => {
      expect(defaultDynamicRange('10.77.0.128', 24).start).to.equal('10.77.0.129');
      expect(defaultDynamicRange('10.77.0.254', 24).end).to.equal('10.77.0.253');
    });

    it('tells addresses in a subnet from those outside it', () => {
      expect(inSubnet('10.77.0.200', '10.77.0.0/24')).to.equal(true);
      expect(inSubnet('10.77.1.1', '10.77.0.0/24')).to.equal(false);
      expect(inSubnet('10.77.1.1', '10.77.0.0/16')).to.equal(true);
    });
  });

  describe('maasPowerAddress', () => {
    it('takes spec.maasPowerAddress first', () => {
      expect(
        maasPowerAddress({
          uri: 'qemu:///system',
          maasPowerAddress: 'qemu+ssh://maas@10.77.0.1/system',
        }),
      ).to.equal('qemu+ssh://maas@10.77.0.1/system');
    });

    it('uses a URI that names a host, and nothing MAAS cannot use', () => {
      expect(maasPowerAddress({ uri: 'qemu+ssh://root@hv1/system' })).to.equal(
        'qemu+ssh://root@hv1/system',
      );
      // MAAS's own host, a query MAAS's virsh driver refuses, a password MAAS would store in clear.
      expect(maasPowerAddress({ uri: 'qemu:///system' })).to.equal(undefined);
      expect(maasPowerAddress({ uri: 'qemu+ssh://root@hv1/system?keyfile=/k' })).to.equal(
        undefined,
      );
      expect(maasPowerAddress({ uri: 'qemu+tcp://u:secret@hv1/system' })).to.equal(undefined);
      expect(maasPowerAddress({ uri: 'not a uri' })).to.equal(undefined);
    });
  });

  describe('powerParameters', () => {
    it("gives virsh MAAS's power_address and power_id, or says what is missing", () => {
      expect(
        powerParameters({ type: 'virsh', id: 'lab-node1' }, 'qemu+ssh://h/system', undefined),
      ).to.deep.equal({
        ok: true,
        powerType: 'virsh',
        parameters: { power_address: 'qemu+ssh://h/system', power_id: 'lab-node1' },
      });
      expect(
        powerParameters({ type: 'virsh', id: 'lab-node1' }, undefined, undefined),
      ).to.deep.equal({
        ok: false,
        missing: 'address',
      });
      expect(powerParameters(undefined, 'qemu+ssh://h/system', undefined)).to.deep.equal({
        ok: false,
        missing: 'power',
      });
    });

    it('gives redfish its address, user, node_id and the password from the Secret', () => {
      const power = {
        type: 'redfish' as const,
        address: 'https://10.0.0.1:8443',
        user: 'admin',
        nodeId: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
      };
      expect(powerParameters(power, undefined, 's3cret')).to.deep.equal({
        ok: true,
        powerType: 'redfish',
        parameters: {
          power_address: 'https://10.0.0.1:8443',
          power_user: 'admin',
          power_pass: 's3cret',
          node_id: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
        },
      });
      expect(powerParameters(power, undefined, undefined)).to.deep.equal({
        ok: false,
        missing: 'password',
      });
    });

    it('gives ipmi LAN_2_0, cipher suite 3 and OPERATOR unless status says otherwise', () => {
      const ipmi = { type: 'ipmi' as const, address: '10.0.0.1:6230', user: 'admin' };
      const made = powerParameters(ipmi, undefined, 'pw');
      expect(made).to.deep.equal({
        ok: true,
        powerType: 'ipmi',
        parameters: {
          power_address: '10.0.0.1:6230',
          power_user: 'admin',
          power_pass: 'pw',
          power_driver: 'LAN_2_0',
          cipher_suite_id: '3',
          privilege_level: 'OPERATOR',
        },
      });
      expect(
        powerParameters({ type: 'ipmi', address: '10.0.0.1:6230' }, undefined, 'pw'),
      ).to.deep.equal({
        ok: false,
        missing: 'power',
      });
    });
  });

  describe('the owner mark and the create request', () => {
    const n: MaasNode = node('recipe-node1');

    it("marks a machine with the node's namespace, name and UID", () => {
      expect(ownerMark(n)).to.equal('maaslab: maas/recipe-node1 uid recipe-node1-uid');
      expect(isOurs(machine(ownerMark(n)), n)).to.equal(true);
    });

    it('does not take a machine of an earlier object of the same name, or by hand, as ours', () => {
      const earlier = { ...n, metadata: { ...n.metadata, uid: 'old-uid' } };
      expect(isOurs(machine(ownerMark(earlier)), n)).to.equal(false);
      expect(isOurs(machine(''), n)).to.equal(false);
    });

    it('asks MAAS for one machine with the MAC, hostname, architecture, power and commission', () => {
      const lab = maasLab({ architecture: 'arm64/generic', commission: false });
      const power = { powerType: 'virsh', parameters: { power_address: 'a', power_id: 'b' } };
      expect(machineRequest(lab, n, '52:54:00:7f:04:01', power)).to.deep.equal({
        architecture: 'arm64/generic',
        macAddresses: ['52:54:00:7f:04:01'],
        hostname: 'recipe-node1',
        description: 'maaslab: maas/recipe-node1 uid recipe-node1-uid',
        powerType: 'virsh',
        powerParameters: { power_address: 'a', power_id: 'b' },
        commission: false,
      });
      const defaults = machineRequest(maasLab(), n, '52:54:00:7f:04:01', power);
      expect(defaults.architecture).to.equal('amd64/generic');
      expect(defaults.commission).to.equal(true);
    });
  });

  describe('maasEndpoint', () => {
    it("is the external MAAS with the Secret's key defaulted, and nothing without MAAS", () => {
      expect(maasEndpoint(maasLab())).to.deep.equal({
        url: 'http://10.77.0.2:5240/MAAS',
        apiKeySecretRef: { name: 'maas-key', key: 'api-key' },
      });
      expect(maasEndpoint(recipeLab())).to.equal(undefined);
    });
  });
});
