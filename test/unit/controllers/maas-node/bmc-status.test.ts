// The BMC part of a MaasNode's status (pure): BmcReady, status.bmc carried over and
// refreshed, and status.power as MAAS's parameters for the chosen BMC, never a password.
import { expect } from 'chai';
import type { MaasNode } from '../../../../src/api/v1alpha1/index.js';
import type { Findings } from '../../../../src/controllers/maas-node/pass.js';
import {
  bmcCondition,
  bmcFields,
  bmcPower,
  powerFor,
} from '../../../../src/controllers/maas-node/status.js';
import { node } from '../fixtures.js';

const found = (bmc?: Findings['bmc']): Findings => ({
  volumesReady: true,
  volumes: [],
  pendingRestart: [],
  next: 'none',
  ...(bmc && { bmc }),
});
const withBmc = (type: 'ipmi' | 'redfish', status?: MaasNode['status']): MaasNode => ({
  ...node('n1', { bmc: { type, credentialsSecretRef: { name: 'creds' } } }),
  ...(status && { status }),
});
const virsh = powerFor('qemu:///system', 'maas.n1');

describe('controllers/maas-node BMC status', () => {
  it('bmcPower: Redfish gives power_address without path, user and node_id', () => {
    expect(
      bmcPower({ redfish: { url: 'https://10.0.0.1:8443/redfish/v1/', systemId: 'u-1' } }, 'maas'),
    ).to.deep.equal({
      type: 'redfish',
      address: 'https://10.0.0.1:8443',
      user: 'maas',
      nodeId: 'u-1',
    });
  });

  it('bmcPower: IPMI gives host:port (bare host on 623, brackets for IPv6), LAN_2_0, suite 3, OPERATOR', () => {
    const ipmi = (address: string, port: number) => bmcPower({ ipmi: { address, port } }, 'maas');
    expect(ipmi('10.0.0.1', 6230)).to.deep.equal({
      type: 'ipmi',
      address: '10.0.0.1:6230',
      user: 'maas',
      driver: 'LAN_2_0',
      cipherSuiteId: '3',
      privilegeLevel: 'OPERATOR',
    });
    expect(ipmi('10.0.0.1', 623).address).to.equal('10.0.0.1');
    expect(ipmi('fd00::1', 6230).address).to.equal('[fd00::1]:6230');
  });

  it('bmcFields: without spec.bmc, the virsh parameters and no status.bmc', () => {
    expect(bmcFields(node('n1'), found(), virsh)).to.deep.equal({ power: virsh });
  });

  it('bmcFields: serving, the BMC parameters, its endpoints, override and the recorded action', () => {
    const lastAction = {
      action: 'On',
      time: '2026-12-04T20:00:00Z',
      source: 'ipmi maas@10.0.0.9:1',
    };
    const n = withBmc('ipmi', { bmc: { lastAction } });
    const boot = { target: 'Pxe', enabled: 'Once', mode: 'Legacy' } as const;
    const fields = bmcFields(
      n,
      found({ serving: { ipmi: { address: '10.0.0.1', port: 6231 } }, user: 'maas', boot }),
      virsh,
    );
    expect(fields.bmc).to.deep.equal({
      ipmi: { address: '10.0.0.1', port: 6231 },
      bootOverride: boot,
      lastAction,
    });
    expect(fields.power?.type).to.equal('ipmi');
    expect(JSON.stringify(fields)).not.to.contain('password');
  });

  it('bmcFields: a pass that did not reach the BMC keeps what status had', () => {
    const known = {
      bmc: { redfish: { url: 'https://h:8443/redfish/v1/', systemId: 'u' } },
      power: { type: 'redfish' as const, address: 'https://h:8443', user: 'maas', nodeId: 'u' },
    };
    expect(bmcFields(withBmc('redfish', known), found(), virsh)).to.deep.equal(known);
  });

  it('bmcCondition: absent without spec.bmc; True when serving; the finding’s reason otherwise', () => {
    expect(bmcCondition(node('n1'), found())).to.equal(undefined);
    expect(
      bmcCondition(
        withBmc('ipmi'),
        found({ serving: { ipmi: { address: 'a', port: 1 } }, user: 'u' }),
      ),
    ).to.include({ status: 'True', reason: 'Serving' });
    expect(
      bmcCondition(
        withBmc('ipmi'),
        found({ reason: 'CredentialsInvalid', message: 'Secret creds not found' }),
      ),
    ).to.deep.equal({
      status: 'False',
      reason: 'CredentialsInvalid',
      message: 'Secret creds not found',
    });
    expect(bmcCondition(withBmc('redfish'), found())).to.include({
      status: 'False',
      reason: 'Progressing',
    });
  });
});
