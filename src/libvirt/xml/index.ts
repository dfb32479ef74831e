// Public API of the pure XML layer: builders and parsers for libvirt domain, network, storage
// pool and volume XML, and our ownership metadata. No binding, no I/O, no clock — everything here
// runs in unit tests without a hypervisor. The fast-xml-parser plumbing in codec.ts stays private.
export {
  buildDomainXml,
  diskTargetName,
  type Arch,
  type BootDevice,
  type DiskBus,
  type DiskFormat,
  type DomainCdrom,
  type DomainDescription,
  type DomainDisk,
  type DomainHostFacts,
  type DomainInterface,
  type DomainNvram,
  type DomainType,
  type Firmware,
  type NicModel,
  type ParsedBootDevice,
  type ParsedDisk,
  type ParsedDomain,
  type ParsedInterface,
  type ParsedVnc,
  type VncGraphics,
} from './domain.js';
export { parseDomainXml } from './domain-parse.js';
export {
  MAASLAB_XMLNS,
  MAASLAB_XMLNS_PREFIX,
  OWNER_ELEMENT,
  buildOwnerMetadata,
  isOwnedBy,
  parseOwnerMetadata,
  type OwnerMetadata,
  type OwnerRef,
} from './metadata.js';
export {
  buildDhcpHostXml,
  buildNetworkXml,
  parseNetworkXml,
  type Dhcp,
  type DhcpHost,
  type DhcpRange,
  type NetworkBridge,
  type NetworkDescription,
  type NetworkIpv4,
  type NetworkMode,
  type ParsedDhcpHost,
  type ParsedNetwork,
  type ParsedNetworkMode,
} from './network.js';
export {
  buildPoolXml,
  buildVolumeXml,
  parsePoolXml,
  parseVolumeXml,
  type ParsedPool,
  type ParsedVolume,
  type PoolDescription,
  type PoolType,
  type VolumeDescription,
  type VolumeFormat,
} from './storage.js';
export {
  buildInterfaceUpdateXml,
  capabilityDomainTypes,
  type InterfaceSource,
  type InterfaceUpdate,
} from './device.js';
export { toBytes } from './units.js';
