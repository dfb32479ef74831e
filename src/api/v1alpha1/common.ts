/**
 * Schema pieces shared by every maaslab kind: names, MACs, IPv4 addresses, Kubernetes
 * quantities, the standard `metav1.Condition`, and the condition types and reasons.
 *
 * The CRDs must stay structural and inside the CEL cost budget, so every string here has a
 * `maxLength` (or an enum/format/pattern that bounds it) and every list a `maxItems`.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import {
  Type,
  type Static,
  type StringOptions,
  type TLiteral,
  type TSchema,
  type TUnion,
  type SchemaOptions,
} from '@sinclair/typebox';

/** One `x-kubernetes-validations` entry: a CEL rule the API server evaluates. */
export interface ValidationRule {
  /** The CEL expression; `self` is the value of the schema node the rule is attached to. */
  readonly rule: string;
  /** Shown when the rule fails; names the field. */
  readonly message?: string;
  /** A CEL expression producing the message, for messages that quote the bad value. */
  readonly messageExpression?: string;
  /** The error type the API server reports. */
  readonly reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  /** A JSONPath, relative to the node, that the API server blames instead of the node. */
  readonly fieldPath?: string;
}

/** Schema options that attach CEL rules to a node (TypeBox passes unknown keywords through). */
export const celRules = (
  ...rules: ValidationRule[]
): { 'x-kubernetes-validations': ValidationRule[] } => ({ 'x-kubernetes-validations': rules });

/** The rule that makes a field immutable once set. */
export const immutable = (field: string): ValidationRule => ({
  rule: 'self == oldSelf',
  message: `${field} is immutable`,
});

/**
 * A string enum, written as a union of literals so TypeScript gets the union type;
 * `hack/gen-crds.ts` turns it into `{type: string, enum: [...]}`.
 */
export const StringEnum = <const T extends readonly string[]>(
  values: T,
  options: SchemaOptions & { description: string },
): TUnion<TLiteral<T[number]>[]> =>
  Type.Union(
    values.map((v: T[number]) => Type.Literal(v)),
    options,
  );

/** RFC 1123 DNS label: the short names of lab networks, disks and interfaces. */
export const DnsLabelPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

/** RFC 1123 DNS subdomain: the names of Kubernetes objects. */
export const DnsSubdomainPattern =
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** A DNS label (at most 63 characters). */
export const DnsLabel = (description: string, options: StringOptions = {}) =>
  Type.String({ description, minLength: 1, maxLength: 63, pattern: DnsLabelPattern, ...options });

/** The name of another Kubernetes object (a DNS subdomain, at most 253 characters). */
export const ObjectName = (description: string, options: StringOptions = {}) =>
  Type.String({
    description,
    minLength: 1,
    maxLength: 253,
    pattern: DnsSubdomainPattern,
    ...options,
  });

/**
 * A unicast MAC address, six colon-separated octets. The low bit of the first octet is the
 * multicast bit, so the first octet's second hex digit must be even.
 */
export const UnicastMacPattern = '^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$';

/** The first five octets of a unicast MAC; node *i* of a lab appends `:<i as two hex digits>`. */
export const MacPrefixPattern = '^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){4}$';

/** A unicast MAC address. */
export const MacAddress = (description: string) =>
  Type.String({ description, minLength: 17, maxLength: 17, pattern: UnicastMacPattern });

/** A dotted-quad IPv4 address without leading zeros. */
export const IPv4Pattern =
  '^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$';

/** An IPv4 address, checked by pattern and by the CEL `ip` library. */
export const IPv4Address = (description: string) =>
  Type.String({
    description,
    minLength: 7,
    maxLength: 15,
    pattern: IPv4Pattern,
    ...celRules({
      rule: 'isIP(self) && ip(self).family() == 4',
      message: 'must be an IPv4 address such as 10.77.0.1',
    }),
  });

/**
 * CEL that turns a dotted-quad IPv4 string into an int, so that addresses can be ordered
 * (the CEL `ip` library has equality but no ordering).
 */
export const ipv4ToInt = (expr: string): string =>
  [0, 1, 2, 3].map((i) => `int(${expr}.split('.')[${i}]) * ${2 ** (8 * (3 - i))}`).join(' + ');

/**
 * A Kubernetes quantity such as `1Gi` or `8Gi`: the pattern `resource.Quantity` uses.
 * Integers are bytes.
 */
export const QuantityPattern =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** The TypeScript shape of a quantity: a string like `1Gi`, or a number of bytes. */
export type Quantity = string | number;

/** Bytes of a binary-suffixed quantity such as `128Mi` (the bounds in this API). */
export const quantityBytes = (q: string): number => {
  const m = /^([0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q);
  if (!m) throw new Error(`not a binary quantity: ${q}`);
  const power = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'].indexOf(m[2] ?? '');
  return Number(m[1]) * 1024 ** power;
};

/**
 * The CEL rule that keeps a quantity inside `[min, max]`. Strings go through the CEL
 * `quantity` library; integers are bytes. The value is int-or-string (CEL `dyn`), so the rule
 * branches on its type instead of calling `string(self)`, whose size the cost estimator
 * cannot bound.
 */
export const quantityBetween = (field: string, min: string, max: string): ValidationRule => ({
  rule:
    `type(self) == string ? (isQuantity(self) && quantity(self).compareTo(quantity('${min}')) >= 0 && ` +
    `quantity(self).compareTo(quantity('${max}')) <= 0) : ` +
    `(self >= ${quantityBytes(min)} && self <= ${quantityBytes(max)})`,
  message: `${field} must be a quantity between ${min} and ${max}`,
});

/**
 * A Kubernetes quantity (`x-kubernetes-int-or-string` with the quantity pattern). Bounds come
 * from {@link quantityBetween}.
 */
export const QuantitySchema = (options: SchemaOptions & { description: string }) =>
  Type.Union([Type.Integer(), Type.String()], {
    'x-kubernetes-int-or-string': true,
    pattern: QuantityPattern,
    maxLength: 32,
    ...options,
  });

/**
 * `metadata` as the API server sees it; its shape is Kubernetes' own, not ours. A CRD may say
 * nothing about it beyond `type: object` (not even a description).
 */
export const ObjectMetaSchema = Type.Unsafe<V1ObjectMeta>({ type: 'object' });

/** The standard `metav1.Condition`, field for field. */
export const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description: 'Type of the condition, in CamelCase, e.g. Ready.',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: StringEnum(['True', 'False', 'Unknown'], {
      description: 'Status of the condition: True, False or Unknown.',
    }),
    observedGeneration: Type.Optional(
      Type.Integer({
        description: 'The metadata.generation the condition was computed from.',
        format: 'int64',
        minimum: 0,
      }),
    ),
    lastTransitionTime: Type.String({
      description: 'When the condition last changed status.',
      format: 'date-time',
    }),
    reason: Type.String({
      description: 'A CamelCase reason for the last transition (see the *Reason constants).',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({
      description: 'A human-readable message about the last transition.',
      maxLength: 32768,
    }),
  },
  { description: 'One aspect of the current state (metav1.Condition).' },
);

/** One condition. */
export type Condition = Static<typeof ConditionSchema>;

/** `status.conditions`: a list keyed by `type`, so each condition type appears once. */
export const ConditionsSchema = Type.Array(ConditionSchema, {
  description: 'The latest observations of the object, one per condition type.',
  maxItems: 16,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** `status.observedGeneration`: the generation the status reflects. */
export const ObservedGenerationSchema = Type.Integer({
  description: 'The metadata.generation the controller last acted on.',
  format: 'int64',
  minimum: 0,
});

// Condition types (every kind). The polarity follows kstatus: Ready is "normal-true",
// Reconciling and Stalled are "abnormal-true" and absent when all is well.

/** True when the object's external resources exist and match the spec. */
export const ReadyCondition = 'Ready';
/** True while the controller is still working towards the spec. */
export const ReconcilingCondition = 'Reconciling';
/** True when progress needs a human: retrying will not help. */
export const StalledCondition = 'Stalled';
/** MaasNode: true when a spec change only takes effect after the domain restarts. */
export const RestartRequiredCondition = 'RestartRequired';

/** The condition types, as a union. */
export type ConditionType =
  | typeof ReadyCondition
  | typeof ReconcilingCondition
  | typeof StalledCondition
  | typeof RestartRequiredCondition;

// Reasons shared by every kind.

/** Ready=True: everything matches the spec. */
export const ReconciledReason = 'Reconciled';
/** Reconciling=True: work is in progress. */
export const ProgressingReason = 'Progressing';
/** Ready=False/Unknown: libvirt on the hypervisor cannot be reached. */
export const HypervisorUnreachableReason = 'HypervisorUnreachable';
/**
 * Ready=False, Stalled=True on a Hypervisor: libvirt cannot be reached because ssh (a
 * qemu+ssh URI) refused the host's key, which is not the one known_hosts (Secret maaslab-ssh)
 * holds. Retrying cannot fix it; a human must check the host and the Secret.
 */
export const HostKeyVerificationFailedReason = 'HostKeyVerificationFailed';
/** Whether a Hypervisor's Ready reason says libvirt cannot be reached, whatever the cause. */
export const isUnreachableReason = (reason: string | undefined): boolean =>
  reason === HypervisorUnreachableReason || reason === HostKeyVerificationFailedReason;
/**
 * Ready=False: the Hypervisor is reachable but not Ready itself (its storage pool is missing,
 * or it has not been reconciled yet); dependants wait for it.
 */
export const HypervisorNotReadyReason = 'HypervisorNotReady';
/** Stalled=True: the named Hypervisor does not exist. */
export const HypervisorNotFoundReason = 'HypervisorNotFound';
/** Stalled=True: a libvirt object of the derived name exists and is not ours. */
export const NameConflictReason = 'NameConflict';
/** Ready=False: the object is being deleted. */
export const DeletingReason = 'Deleting';
/** Ready=False: libvirt refused a call; the message carries libvirt's error. */
export const LibvirtErrorReason = 'LibvirtError';

/** One `additionalPrinterColumns` entry. */
export interface PrinterColumn {
  /** The column header. */
  readonly name: string;
  /** The OpenAPI type of the value. */
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  /** A JSONPath into the object. */
  readonly jsonPath: string;
  /** What the column shows (kubectl explain / describe). */
  readonly description?: string;
  /** 0 shows the column by default; higher numbers only with `-o wide`. */
  readonly priority?: number;
}

/** Everything `hack/gen-crds.ts` needs to write one kind's CRD. */
export interface KindInfo {
  /** The kind, e.g. MaasNode. */
  readonly kind: string;
  /** The lower-case plural, e.g. maasnodes; the resource name. */
  readonly plural: string;
  /** The lower-case singular, e.g. maasnode. */
  readonly singular: string;
  /** Short names for kubectl, e.g. mn. */
  readonly shortNames: readonly string[];
  /** Namespaced or Cluster. */
  readonly scope: 'Namespaced' | 'Cluster';
  /** The schema of the whole object. */
  readonly schema: TSchema;
  /** Columns of `kubectl get` (Age is appended by the generator). */
  readonly printerColumns: readonly PrinterColumn[];
  /** JSONPaths usable in field selectors. */
  readonly selectableFields: readonly string[];
}

/** The Ready column, read from the conditions like KubeVirt's. */
export const ReadyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'The status of the Ready condition.',
};
