// Pure renderers of the Redfish resources this BMC serves, from DMTF's schemas: ServiceRoot,
// ComputerSystemCollection, ComputerSystem, SessionService, SessionCollection and Session.
// Input is plain data (the backend's BmcSystemView, a session); output is the JSON body.
import {
  BootFirmwareModes,
  BootOverrideModes,
  BootTargets,
  type BmcSystemView,
  PowerActions,
} from '../backend.js';
import { systemEtag } from './etag.js';

/** The Redfish protocol version the service claims (DSP0266). */
export const RedfishVersion = '1.11.0';

/** Every URI this BMC serves, built in one place. */
export const Paths = {
  versions: '/redfish',
  root: '/redfish/v1/',
  systems: '/redfish/v1/Systems',
  system: (id: string) => `/redfish/v1/Systems/${id}`,
  reset: (id: string) => `/redfish/v1/Systems/${id}/Actions/ComputerSystem.Reset`,
  sessionService: '/redfish/v1/SessionService',
  sessions: '/redfish/v1/SessionService/Sessions',
  session: (id: string) => `/redfish/v1/SessionService/Sessions/${id}`,
} as const;

/** ResetType values accepted by ComputerSystem.Reset: every PowerAction the backend knows. */
export const ResetTypes = PowerActions;

/** GET /redfish: the protocol versions served. */
export function renderVersions(): object {
  return { v1: Paths.root };
}

/** GET /redfish/v1/: the service root, readable without authentication (DSP0266). */
export function renderServiceRoot(serviceUuid: string): object {
  return {
    '@odata.type': '#ServiceRoot.v1_11_0.ServiceRoot',
    '@odata.id': Paths.root,
    Id: 'RootService',
    Name: 'maaslab virtual BMC',
    RedfishVersion,
    UUID: serviceUuid,
    Vendor: 'maaslab',
    Product: 'maaslab virtual BMC',
    Systems: { '@odata.id': Paths.systems },
    SessionService: { '@odata.id': Paths.sessionService },
    Links: { Sessions: { '@odata.id': Paths.sessions } },
  };
}

/** GET /redfish/v1/Systems: the systems the caller's credentials unlock, and only those. */
export function renderSystemCollection(ids: readonly string[]): object {
  return {
    '@odata.type': '#ComputerSystemCollection.ComputerSystemCollection',
    '@odata.id': Paths.systems,
    Name: 'Computer System Collection',
    'Members@odata.count': ids.length,
    Members: ids.map((id) => ({ '@odata.id': Paths.system(id) })),
  };
}

const enabledOk = { State: 'Enabled', Health: 'OK' } as const;

/** GET /redfish/v1/Systems/{id}: one ComputerSystem, with its etag in @odata.etag. */
export function renderSystem(view: BmcSystemView): object {
  return {
    '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
    '@odata.id': Paths.system(view.id),
    '@odata.etag': systemEtag(view),
    Id: view.id,
    Name: view.name,
    UUID: view.id,
    SystemType: 'Virtual',
    Manufacturer: 'maaslab',
    Model: 'libvirt domain',
    PowerState: view.powerState,
    Status: enabledOk,
    Boot: {
      BootSourceOverrideTarget: view.boot.target,
      BootSourceOverrideEnabled: view.boot.enabled,
      BootSourceOverrideMode: view.boot.mode,
      'BootSourceOverrideTarget@Redfish.AllowableValues': [...BootTargets],
      'BootSourceOverrideEnabled@Redfish.AllowableValues': [...BootOverrideModes],
      'BootSourceOverrideMode@Redfish.AllowableValues': [...BootFirmwareModes],
    },
    ProcessorSummary: { Count: view.vcpus, Status: enabledOk },
    MemorySummary: { TotalSystemMemoryGiB: view.memoryMiB / 1024, Status: enabledOk },
    Actions: {
      '#ComputerSystem.Reset': {
        target: Paths.reset(view.id),
        'ResetType@Redfish.AllowableValues': [...ResetTypes],
      },
    },
  };
}

/** GET /redfish/v1/SessionService. */
export function renderSessionService(idleTimeoutMs: number): object {
  return {
    '@odata.type': '#SessionService.v1_1_8.SessionService',
    '@odata.id': Paths.sessionService,
    Id: 'SessionService',
    Name: 'Session Service',
    ServiceEnabled: true,
    SessionTimeout: Math.round(idleTimeoutMs / 1000),
    Status: enabledOk,
    Sessions: { '@odata.id': Paths.sessions },
  };
}

/** GET /redfish/v1/SessionService/Sessions: the caller's own sessions. */
export function renderSessionCollection(ids: readonly string[]): object {
  return {
    '@odata.type': '#SessionCollection.SessionCollection',
    '@odata.id': Paths.sessions,
    Name: 'Session Collection',
    'Members@odata.count': ids.length,
    Members: ids.map((id) => ({ '@odata.id': Paths.session(id) })),
  };
}

/** A session resource; the password is never shown (the schema says null on read). */
export function renderSession(session: {
  id: string;
  username: string;
  createdAt: number;
}): object {
  return {
    '@odata.type': '#Session.v1_3_0.Session',
    '@odata.id': Paths.session(session.id),
    Id: session.id,
    Name: 'User Session',
    UserName: session.username,
    Password: null,
    CreatedTime: new Date(session.createdAt).toISOString(),
  };
}
