// The smallest domain the binding and console tests start: diskless, NIC-less, TCG, 64 MiB.
import type { DomainDescription } from '../../src/libvirt/xml/index.js';

const MiB = 1024 * 1024;

/** A tiny diskless TCG domain; callers add what the test needs. */
export function tinyDomain(
  name: string,
  extra: Partial<DomainDescription> = {},
): DomainDescription {
  return {
    name,
    type: 'qemu',
    memoryBytes: 64 * MiB,
    vcpus: 1,
    arch: 'x86_64',
    machine: 'pc',
    firmware: 'bios',
    bootOrder: [],
    disks: [],
    interfaces: [],
    ...extra,
  };
}
