// The IPMI 2.0 LAN (RMCP+) BMC: one UDP socket per node, cipher suite 3 only, chassis power
// and boot device commands carried out through a BmcBackend. See docs/bmc-ipmi.md.
export { startIpmiBmc, type IpmiBmc, type IpmiBmcOptions } from './server.js';
export { IpmiResponder, type IpmiLog, type IpmiResponderOptions } from './responder.js';
export { DefaultSessionLimits, MAX_PASSWORD_BYTES, type SessionLimits } from './session.js';
