// The operator's virtual BMC service: the Redfish and IPMI servers of src/bmc, with each
// Hypervisor's Redfish certificate kept in a Secret `<hypervisor>-bmc-tls` in the operator's
// namespace, made once, so a BMC keeps its certificate across restarts and shard moves.
// The protocol servers are imported when a node first asks for a BMC, not with the operator:
// a fleet without spec.bmc never loads their modules.
import type { BmcHooks, BmcService } from '../bmc/service.js';
import { createBmcService } from '../bmc/service.js';
import {
  ContentType,
  hasStatus,
  type Logger,
  type Manager,
  type MetaObject,
} from '../runtime/index.js';

/** The Secret holding a Hypervisor's Redfish certificate. */
export const bmcTlsSecretName = (hypervisor: string): string => `${hypervisor}-bmc-tls`;

/** How long a generated BMC certificate is valid. */
const CERTIFICATE_DAYS = 3650;

type TlsSecret = MetaObject & { data?: Record<string, string> };

/**
 * Reads the Hypervisor's certificate Secret, or makes one (a self-signed certificate for the
 * listen address) and creates it; a peer that created it first wins, and its Secret is used.
 */
export function secretBackedTls(
  manager: Manager,
  namespace: string,
  listenAddressOf: (hypervisor: string) => string | undefined,
): (hypervisor: string) => Promise<{ certPem: string; keyPem: string }> {
  const read = async (name: string): Promise<{ certPem: string; keyPem: string } | undefined> => {
    const secret = await manager.client.get<TlsSecret>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace,
      name,
    });
    const crt = secret?.data?.['tls.crt'];
    const key = secret?.data?.['tls.key'];
    if (!crt || !key) return undefined;
    return {
      certPem: Buffer.from(crt, 'base64').toString('utf8'),
      keyPem: Buffer.from(key, 'base64').toString('utf8'),
    };
  };
  return async (hypervisor) => {
    const name = bmcTlsSecretName(hypervisor);
    const existing = await read(name);
    if (existing) return existing;
    const address = listenAddressOf(hypervisor);
    const { generateBmcCertificate } = await import('../bmc/redfish/certificate.js');
    const made = await generateBmcCertificate({
      commonName: `${hypervisor} virtual BMCs`,
      ipAddresses: address ? [address] : [],
      dnsNames: [],
      validDays: CERTIFICATE_DAYS,
    });
    try {
      await manager.rest.request({
        method: 'POST',
        ref: { apiVersion: 'v1', kind: 'Secret', namespace },
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'kubernetes.io/tls',
          metadata: {
            name,
            namespace,
            labels: {
              'app.kubernetes.io/managed-by': 'maaslab',
              'maaslab.dev/hypervisor': hypervisor,
            },
          },
          data: {
            'tls.crt': Buffer.from(made.certPem).toString('base64'),
            'tls.key': Buffer.from(made.keyPem).toString('base64'),
          },
        },
        contentType: ContentType.Json,
      });
      return made;
    } catch (err) {
      if (!hasStatus(err, 409)) throw err;
      const theirs = await read(name);
      if (!theirs) throw err;
      return theirs;
    }
  };
}

/** The BMC service with the real protocol servers. */
export function operatorBmcService(
  manager: Manager,
  namespace: string,
  listenAddressOf: (hypervisor: string) => string | undefined,
  logger: Logger,
): (hooks: BmcHooks) => BmcService {
  const log = logger.child({ component: 'bmc' });
  return (hooks) =>
    createBmcService({
      startRedfish: async (o) => {
        const { startRedfishBmc } = await import('../bmc/redfish/server.js');
        return startRedfishBmc({ ...o, log });
      },
      startIpmi: async (o) => {
        const { startIpmiBmc } = await import('../bmc/ipmi/server.js');
        return startIpmiBmc({ ...o, log });
      },
      tlsFor: secretBackedTls(manager, namespace, listenAddressOf),
      hooks,
      log,
    });
}
