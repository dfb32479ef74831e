// What the writable requests may carry, checked property by property into Redfish's Base
// messages: a Boot PATCH, a ComputerSystem.Reset, and a session login. Pure: the router
// turns a failure into a 400 with errorBody(problems).
import {
  BootFirmwareModes,
  BootOverrideModes,
  BootTargets,
  type BootOverride,
  type PowerAction,
} from '../backend.js';
import type { PresentedCredentials } from './auth.js';
import type { RedfishProblem } from './messages.js';
import { isJsonObject, type JsonObject } from './request-body.js';
import { ResetTypes } from './resources.js';

export type Validated<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: readonly [RedfishProblem, ...RedfishProblem[]] };

const own = (o: JsonObject, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/** Shows a client's value in a message without echoing megabytes or objects back. */
const shown = (value: unknown): string => {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
};

const fail = <T>(problems: RedfishProblem[]): Validated<T> => ({
  ok: false,
  problems: problems as [RedfishProblem, ...RedfishProblem[]],
});

/** Properties of a ComputerSystem a client may read but not write. */
const readOnlySystemProperties = new Set([
  '@odata.id',
  '@odata.type',
  '@odata.etag',
  'Id',
  'Name',
  'UUID',
  'SystemType',
  'Manufacturer',
  'Model',
  'PowerState',
  'Status',
  'ProcessorSummary',
  'MemorySummary',
  'Actions',
]);

const bootFields = {
  BootSourceOverrideTarget: { key: 'target', allowed: BootTargets },
  BootSourceOverrideEnabled: { key: 'enabled', allowed: BootOverrideModes },
  BootSourceOverrideMode: { key: 'mode', allowed: BootFirmwareModes },
} as const;

/**
 * The boot override a PATCH of a ComputerSystem asks for, merged over `current`: only Boot's
 * three override properties are writable, each with one of its allowable values.
 */
export function validateSystemPatch(
  body: JsonObject,
  current: BootOverride,
): Validated<BootOverride> {
  const problems: RedfishProblem[] = [];
  for (const key of Object.keys(body)) {
    if (key === 'Boot') continue;
    problems.push(
      readOnlySystemProperties.has(key)
        ? {
            id: 'PropertyNotWritable',
            message: `The property ${shown(key)} is a read only property and cannot be assigned a value.`,
            args: [shown(key)],
          }
        : {
            id: 'PropertyUnknown',
            message: `The property ${shown(key)} is not in the list of valid properties for the resource.`,
            args: [shown(key)],
          },
    );
  }
  const next: { -readonly [K in keyof BootOverride]: BootOverride[K] } = { ...current };
  if (own(body, 'Boot')) {
    const boot = body['Boot'];
    if (!isJsonObject(boot)) {
      problems.push({
        id: 'PropertyValueTypeError',
        message: `The value ${shown(boot)} for the property Boot is not a type that the property can accept.`,
        args: [shown(boot), 'Boot'],
      });
    } else {
      for (const [name, value] of Object.entries(boot)) {
        if (!own(bootFields, name)) {
          problems.push({
            id: 'PropertyUnknown',
            message: `The property Boot/${shown(name)} is not in the list of valid properties for the resource.`,
            args: [`Boot/${shown(name)}`],
          });
          continue;
        }
        const field = bootFields[name as keyof typeof bootFields];
        if (typeof value !== 'string') {
          problems.push({
            id: 'PropertyValueTypeError',
            message: `The value ${shown(value)} for the property ${name} is not a type that the property can accept.`,
            args: [shown(value), name],
          });
        } else if (!(field.allowed as readonly string[]).includes(value)) {
          problems.push({
            id: 'PropertyValueNotInList',
            message: `The value ${shown(value)} for the property ${name} is not in the list of acceptable values.`,
            args: [shown(value), name],
            resolution: `Choose one of ${field.allowed.join(', ')}.`,
          });
        } else {
          (next as Record<string, string>)[field.key] = value;
        }
      }
    }
  }
  return problems.length > 0 ? fail(problems) : { ok: true, value: next };
}

/** The ResetType of a ComputerSystem.Reset action. */
export function validateReset(body: JsonObject): Validated<PowerAction> {
  const problems: RedfishProblem[] = [];
  for (const key of Object.keys(body)) {
    if (key !== 'ResetType') {
      problems.push({
        id: 'ActionParameterUnknown',
        message: `The action ComputerSystem.Reset was submitted with the invalid parameter ${shown(key)}.`,
        args: ['ComputerSystem.Reset', shown(key)],
      });
    }
  }
  const resetType = body['ResetType'];
  if (!own(body, 'ResetType')) {
    problems.push({
      id: 'ActionParameterMissing',
      message:
        'The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.',
      args: ['ComputerSystem.Reset', 'ResetType'],
    });
  } else if (
    typeof resetType !== 'string' ||
    !(ResetTypes as readonly string[]).includes(resetType)
  ) {
    problems.push({
      id: 'ActionParameterNotSupported',
      message: `The parameter ResetType for the action ComputerSystem.Reset is not supported on the target resource: ${shown(resetType)}.`,
      args: ['ResetType', 'ComputerSystem.Reset'],
      resolution: `Choose one of ${ResetTypes.join(', ')}.`,
    });
  }
  return problems.length > 0 ? fail(problems) : { ok: true, value: resetType as PowerAction };
}

/** The UserName and Password of a session login (POST to the Sessions collection). */
export function validateLogin(body: JsonObject): Validated<PresentedCredentials> {
  const problems: RedfishProblem[] = [];
  for (const key of Object.keys(body)) {
    if (key !== 'UserName' && key !== 'Password') {
      problems.push({
        id: 'PropertyUnknown',
        message: `The property ${shown(key)} is not in the list of valid properties for the resource.`,
        args: [shown(key)],
      });
    }
  }
  for (const key of ['UserName', 'Password'] as const) {
    const value = body[key];
    if (!own(body, key)) {
      problems.push({
        id: 'PropertyValueTypeError',
        message: `The property ${key} is required to create a session.`,
        args: ['null', key],
      });
    } else if (typeof value !== 'string' || value.length > 256) {
      problems.push({
        id: 'PropertyValueTypeError',
        message: `The value for the property ${key} is not a type that the property can accept.`,
        args: ['(hidden)', key],
      });
    }
  }
  if (problems.length > 0) return fail(problems);
  return {
    ok: true,
    value: { username: body['UserName'] as string, password: body['Password'] as string },
  };
}
