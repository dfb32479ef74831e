/**
 * Virtual BMCs: what a MaasNode asks for (`spec.bmc`), where a Hypervisor's BMCs listen
 * (`Hypervisor.spec.bmc`), and what the operator reports (`MaasNode.status.bmc`). The servers
 * themselves are in src/bmc/.
 */
import { Type, type Static } from '@sinclair/typebox';
import { celRules, ObjectName, StringEnum } from './common.js';

/** MaasNode condition: the node's BMC serves at the addresses in status.bmc. */
export const BmcReadyCondition = 'BmcReady';
/** BmcReady=True. */
export const BmcServingReason = 'Serving';
/** BmcReady=False: the credentials Secret is missing or lacks username/password. */
export const BmcCredentialsInvalidReason = 'CredentialsInvalid';
/** BmcReady=False: the Hypervisor has no spec.bmc, so there is nowhere to listen. */
export const BmcNotConfiguredReason = 'BmcNotConfigured';
/** BmcReady=False: every port of the Hypervisor's ipmiPortRange is taken. */
export const BmcPortsExhaustedReason = 'PortsExhausted';
/** BmcReady=False: the listener could not be opened (address not on this host, port in use). */
export const BmcListenFailedReason = 'ListenFailed';
/** BmcReady=Unknown: another operator process serves this Hypervisor's shard. */
export const BmcNotServedHereReason = 'NotServedHere';

/** The BMC protocols a node may ask for. */
export const BmcTypes = ['none', 'redfish', 'ipmi'] as const;
export type BmcType = (typeof BmcTypes)[number];

/** Defaults of Hypervisor.spec.bmc. */
export const BmcDefaults = { redfishPort: 8443, ipmiPortRange: '6230-6329' } as const;

/** MaasNode.spec.bmc (and a MaasLab node template's). */
export const NodeBmcSchema = Type.Object(
  {
    type: Type.Optional(
      StringEnum(BmcTypes, {
        description:
          "The node's virtual BMC: redfish (one HTTPS endpoint per hypervisor, a System per node), ipmi (IPMI 2.0 over RMCP+, one UDP port per node) or none.",
        default: 'none',
      }),
    ),
    credentialsSecretRef: Type.Optional(
      Type.Object(
        { name: ObjectName('A Secret in the same namespace with keys username and password.') },
        { description: 'The credentials the BMC accepts; required unless type is none.' },
      ),
    ),
  },
  {
    description:
      'A virtual BMC that owns power, as on real metal. With a BMC, runStrategy defaults to Manual.',
    ...celRules({
      rule: "!has(self.type) || self.type == 'none' || has(self.credentialsSecretRef)",
      message: 'credentialsSecretRef is required when type is redfish or ipmi',
      fieldPath: '.credentialsSecretRef',
    }),
  },
);

/** Hypervisor.spec.bmc. */
export const HypervisorBmcSchema = Type.Object(
  {
    listenAddress: Type.String({
      description:
        "The address this hypervisor's virtual BMCs listen on, on the host of the operator process that serves the Hypervisor's shard (an agent on the hypervisor, or a central replica).",
      minLength: 2,
      maxLength: 45,
      ...celRules({ rule: 'isIP(self)', message: 'listenAddress must be an IP address' }),
    }),
    redfishPort: Type.Optional(
      Type.Integer({
        description: 'The TCP port of the Redfish service.',
        format: 'int32',
        minimum: 1,
        maximum: 65535,
        default: BmcDefaults.redfishPort,
      }),
    ),
    redfishScheme: Type.Optional(
      StringEnum(['https', 'http'], {
        description:
          'https (default) with a certificate the operator keeps in the Secret <hypervisor>-bmc-tls in its namespace, or plain http.',
        default: 'https',
      }),
    ),
    ipmiPortRange: Type.Optional(
      Type.String({
        description: 'The UDP ports IPMI BMCs take, one per node: first-last.',
        default: BmcDefaults.ipmiPortRange,
        maxLength: 11,
        pattern: '^[0-9]{1,5}-[0-9]{1,5}$',
        ...celRules({
          rule: "int(self.split('-')[0]) >= 1 && int(self.split('-')[0]) <= int(self.split('-')[1]) && int(self.split('-')[1]) <= 65535",
          message: 'ipmiPortRange must be first-last with 1 <= first <= last <= 65535',
        }),
      }),
    ),
  },
  { description: "Where this hypervisor's virtual BMCs listen." },
);

const Port = (description: string) =>
  Type.Integer({ description, format: 'int32', minimum: 0, maximum: 65535 });

/** MaasNode.status.bmc. */
export const NodeBmcStatusSchema = Type.Object(
  {
    redfish: Type.Optional(
      Type.Object(
        {
          url: Type.String({ description: 'The Redfish service root.', maxLength: 1024 }),
          systemId: Type.String({ description: 'The System id: the domain UUID.', maxLength: 36 }),
        },
        { description: 'The Redfish endpoint.' },
      ),
    ),
    ipmi: Type.Optional(
      Type.Object(
        {
          address: Type.String({ description: 'The IPMI address.', maxLength: 45 }),
          port: Port('The IPMI UDP port.'),
        },
        { description: 'The IPMI endpoint.' },
      ),
    ),
    bootOverride: Type.Optional(
      Type.Object(
        {
          target: StringEnum(['None', 'Pxe', 'Hdd', 'Cd'], { description: 'Boot from.' }),
          enabled: StringEnum(['Disabled', 'Once', 'Continuous'], {
            description: 'Once: the next boot only, then cleared. Continuous: until changed.',
          }),
          mode: StringEnum(['Legacy', 'UEFI'], { description: 'The firmware interface.' }),
        },
        {
          description:
            "The boot source override set through the BMC: desired state the node's reconciler honours.",
        },
      ),
    ),
    lastAction: Type.Optional(
      Type.Object(
        {
          action: Type.String({
            description: 'What was asked, e.g. On, ForceOff, Boot=Pxe/Once.',
            maxLength: 64,
          }),
          time: Type.String({
            description: 'When (RFC 3339).',
            format: 'date-time',
            maxLength: 64,
          }),
          source: Type.String({
            description: 'Who asked: protocol, user and client address.',
            maxLength: 256,
          }),
        },
        { description: 'The last action a BMC client took.' },
      ),
    ),
  },
  { description: 'Where the BMC serves, and what it last did.' },
);

const powerString = (description: string, maxLength = 253) =>
  Type.Optional(Type.String({ description, maxLength }));

/** MaasNode.status.power: MAAS's power parameters for the node, virsh or its BMC's. */
export const NodePowerStatusSchema = Type.Object(
  {
    type: Type.Optional(
      StringEnum(['virsh', ...BmcTypes.filter((t) => t !== 'none')], {
        description: 'The MAAS power type.',
      }),
    ),
    address: powerString(
      'The MAAS power address: the libvirt URI (virsh), the Redfish URL or the IPMI address as MAAS reaches it.',
      1024,
    ),
    id: powerString('virsh: the power id, the libvirt domain name.'),
    nodeId: powerString('redfish: node_id, the Redfish System id.'),
    user: powerString('redfish and ipmi: power_user (the password is in the Secret).'),
    driver: powerString('ipmi: power_driver, LAN_2_0.', 16),
    cipherSuiteId: powerString('ipmi: cipher_suite_id.', 4),
    privilegeLevel: powerString('ipmi: privilege_level.', 16),
  },
  { description: 'Power parameters, ready to paste into MAAS (never a password).' },
);

export type NodeBmc = Static<typeof NodeBmcSchema>;
export type HypervisorBmc = Static<typeof HypervisorBmcSchema>;
export type NodeBmcStatus = Static<typeof NodeBmcStatusSchema>;

/** Whether a node's spec.bmc asks for a BMC (redfish or ipmi). */
export function hasBmc(bmc: NodeBmc | undefined): boolean {
  return bmc?.type === 'redfish' || bmc?.type === 'ipmi';
}

/**
 * The run strategy of a node whose spec leaves it unset: Manual when a BMC owns its power, so
 * that a power-off through the BMC is not undone, Always otherwise. The CRD has no default for
 * runStrategy because this one depends on another field.
 */
export function defaultRunStrategy(bmc: NodeBmc | undefined): 'Manual' | 'Always' {
  return hasBmc(bmc) ? 'Manual' : 'Always';
}
