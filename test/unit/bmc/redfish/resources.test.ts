// Pure renderers and the ETag.
import { expect } from 'chai';
import type { BmcSystemView } from '../../../../src/bmc/backend.js';
import { ifMatchAllows, systemEtag } from '../../../../src/bmc/redfish/etag.js';
import { errorBody } from '../../../../src/bmc/redfish/messages.js';
import {
  renderServiceRoot,
  renderSystem,
  renderSystemCollection,
} from '../../../../src/bmc/redfish/resources.js';

const view: BmcSystemView = {
  id: '6f1c2a0e-0000-4000-8000-00000000000a',
  name: 'node-a',
  powerState: 'On',
  boot: { target: 'None', enabled: 'Disabled', mode: 'UEFI' },
  vcpus: 4,
  memoryMiB: 6144,
};

describe('bmc/redfish/resources', () => {
  it('renders a ComputerSystem as sushy and MAAS read it', () => {
    const json = renderSystem(view) as Record<string, unknown>;
    expect(json).to.include({
      '@odata.id': `/redfish/v1/Systems/${view.id}`,
      Id: view.id,
      UUID: view.id,
      Name: 'node-a',
      PowerState: 'On',
    });
    expect(json['@odata.type']).to.match(/^#ComputerSystem\.v1_\d+_\d+\.ComputerSystem$/);
    expect(json['@odata.etag']).to.equal(systemEtag(view));
    expect(json['Boot']).to.deep.include({
      BootSourceOverrideTarget: 'None',
      BootSourceOverrideEnabled: 'Disabled',
      BootSourceOverrideMode: 'UEFI',
      'BootSourceOverrideTarget@Redfish.AllowableValues': ['None', 'Pxe', 'Hdd', 'Cd'],
    });
    expect(json['ProcessorSummary']).to.deep.include({ Count: 4 });
    expect(json['MemorySummary']).to.deep.include({ TotalSystemMemoryGiB: 6 });
    expect(json['Actions']).to.deep.equal({
      '#ComputerSystem.Reset': {
        target: `/redfish/v1/Systems/${view.id}/Actions/ComputerSystem.Reset`,
        'ResetType@Redfish.AllowableValues': [
          'On',
          'ForceOff',
          'GracefulShutdown',
          'GracefulRestart',
          'ForceRestart',
          'PushPowerButton',
          'PowerCycle',
        ],
      },
    });
  });

  it('links Systems, SessionService and Links.Sessions from the root, and lists members', () => {
    expect(renderServiceRoot('u')).to.deep.include({
      Systems: { '@odata.id': '/redfish/v1/Systems' },
      Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } },
    });
    expect(renderSystemCollection(['x'])).to.deep.include({
      'Members@odata.count': 1,
      Members: [{ '@odata.id': '/redfish/v1/Systems/x' }],
    });
  });

  it('changes the ETag with power and boot, and not with time or a copy', () => {
    const tag = systemEtag(view);
    expect(tag).to.match(/^"[0-9a-f]{32}"$/);
    expect(systemEtag({ ...view })).to.equal(tag);
    expect(systemEtag({ ...view, powerState: 'Off' })).to.not.equal(tag);
    expect(systemEtag({ ...view, boot: { ...view.boot, target: 'Pxe' } })).to.not.equal(tag);
    expect(systemEtag({ ...view, boot: { ...view.boot, enabled: 'Once' } })).to.not.equal(tag);
    expect(systemEtag({ ...view, boot: { ...view.boot, mode: 'Legacy' } })).to.not.equal(tag);
  });

  it('If-Match: absent and * pass, a list passes when it holds the tag, weak forms compare by value', () => {
    const tag = '"abc"';
    expect(ifMatchAllows(undefined, tag)).to.equal(true);
    expect(ifMatchAllows('*', tag)).to.equal(true);
    expect(ifMatchAllows('"abc"', tag)).to.equal(true);
    expect(ifMatchAllows('"x", "abc"', tag)).to.equal(true);
    expect(ifMatchAllows('W/"abc"', tag)).to.equal(true);
    expect(ifMatchAllows('"abd"', tag)).to.equal(false);
    expect(ifMatchAllows('', tag)).to.equal(false);
    expect(ifMatchAllows('abc', tag)).to.equal(false);
  });

  it('builds Redfish error bodies with the MessageId as error.code', () => {
    const body = errorBody([{ id: 'MalformedJSON', message: 'm' }]) as {
      error: Record<string, unknown>;
    };
    expect(body.error['code']).to.match(/^Base\.1\.\d+\.\d+\.MalformedJSON$/);
    expect(body.error['@Message.ExtendedInfo']).to.have.length(1);
  });
});
