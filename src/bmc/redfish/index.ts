// The Redfish half of maaslab's virtual BMC: one HTTP(S) server per hypervisor that serves the
// systems whose nodes asked for a Redfish BMC, against a BmcBackend. See docs/bmc-redfish.md.
export {
  startRedfishBmc,
  type RedfishBmc,
  type RedfishBmcOptions,
  type RedfishLog,
} from './server.js';
export {
  generateBmcCertificate,
  type BmcCertificate,
  type BmcCertificateRequest,
} from './certificate.js';
