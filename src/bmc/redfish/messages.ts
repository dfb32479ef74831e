// Redfish's error body (DSP0266 "Error responses"): `error.code` is the MessageId, and
// `@Message.ExtendedInfo` carries one Message per problem, with ids from DMTF's Base registry.

/** The Base message registry version whose ids we use. */
export const BaseRegistry = 'Base.1.15.0';

/** The Base registry messages this BMC reports. */
export type BaseMessage =
  | 'GeneralError'
  | 'MalformedJSON'
  | 'PropertyUnknown'
  | 'PropertyNotWritable'
  | 'PropertyValueTypeError'
  | 'PropertyValueNotInList'
  | 'ActionParameterMissing'
  | 'ActionParameterUnknown'
  | 'ActionParameterNotSupported'
  | 'ResourceMissingAtURI'
  | 'NoValidSession'
  | 'SessionLimitExceeded'
  | 'PreconditionFailed'
  | 'OperationNotAllowed';

/** One problem: which message, the human text, and the registry's arguments. */
export interface RedfishProblem {
  readonly id: BaseMessage;
  readonly message: string;
  readonly args?: readonly string[];
  readonly resolution?: string;
}

/** The JSON body of an error response. */
export function errorBody(problems: readonly [RedfishProblem, ...RedfishProblem[]]): object {
  const [first] = problems;
  return {
    error: {
      code: `${BaseRegistry}.${problems.length === 1 ? first.id : 'GeneralError'}`,
      message:
        problems.length === 1
          ? first.message
          : 'Several errors occurred; see @Message.ExtendedInfo.',
      '@Message.ExtendedInfo': problems.map((p) => ({
        '@odata.type': '#Message.v1_1_1.Message',
        MessageId: `${BaseRegistry}.${p.id}`,
        Message: p.message,
        MessageArgs: p.args ?? [],
        MessageSeverity: 'Warning',
        Severity: 'Warning',
        Resolution: p.resolution ?? 'None.',
      })),
    },
  };
}
