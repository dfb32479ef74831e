import { expect } from 'chai';
import {
  MaasPowerParameterNames,
  powerParamsOf,
  renderPowerParamsTable,
} from '../../../src/plugin/power-params.js';
import { ipmiStatus, labNode, virshStatus } from './fixtures.js';

describe('plugin/power-params', () => {
  it("uses MAAS's own parameter names for every status.power field", () => {
    expect(Object.values(MaasPowerParameterNames)).to.deep.equal([
      'power_type',
      'power_address',
      'power_id',
      'node_id',
      'power_user',
      'power_driver',
      'cipher_suite_id',
      'privilege_level',
    ]);
  });

  it('maps virsh, IPMI and Redfish parameters to those keys, leaving out the absent', () => {
    expect(powerParamsOf(labNode(1, virshStatus(1)))).to.deep.equal({
      name: 'recipe-node1',
      namespace: 'lab-ns',
      power_type: 'virsh',
      power_address: 'qemu+ssh://maas@hv1/system',
      power_id: 'lab-ns.recipe-node1',
    });
    expect(powerParamsOf(labNode(2, ipmiStatus(2)))).to.deep.equal({
      name: 'recipe-node2',
      namespace: 'lab-ns',
      power_type: 'ipmi',
      power_address: '10.0.0.1:6230',
      power_user: 'admin',
      power_driver: 'LAN_2_0',
      cipher_suite_id: '3',
      privilege_level: 'ADMIN',
    });
    const redfish = labNode(3, {
      power: { type: 'redfish', address: 'https://10.0.0.1:8443', nodeId: 'abc', user: 'admin' },
    });
    expect(powerParamsOf(redfish)).to.deep.equal({
      name: 'recipe-node3',
      namespace: 'lab-ns',
      power_type: 'redfish',
      power_address: 'https://10.0.0.1:8443',
      node_id: 'abc',
      power_user: 'admin',
    });
    expect(powerParamsOf(labNode(4, {}))).to.deep.equal({
      name: 'recipe-node4',
      namespace: 'lab-ns',
    });
  });

  it('renders NAME POWER-TYPE ADDRESS ID/NODE-ID USER, "-" for what is not reported', () => {
    const redfish = labNode(3, {
      power: { type: 'redfish', address: 'https://10.0.0.1:8443', nodeId: 'abc', user: 'admin' },
    });
    const rows = [labNode(1, virshStatus(1)), labNode(2, ipmiStatus(2)), redfish, labNode(4, {})];
    expect(renderPowerParamsTable(rows.map(powerParamsOf))).to.equal(
      [
        'NAME           POWER-TYPE   ADDRESS                      ID/NODE-ID            USER',
        'recipe-node1   virsh        qemu+ssh://maas@hv1/system   lab-ns.recipe-node1   -',
        'recipe-node2   ipmi         10.0.0.1:6230                -                     admin',
        'recipe-node3   redfish      https://10.0.0.1:8443        abc                   admin',
        'recipe-node4   -            -                            -                     -',
        '',
      ].join('\n'),
    );
  });
});
