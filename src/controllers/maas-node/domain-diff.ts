// How a defined (and maybe running) domain differs from the desired one, in the fields the
// operator owns: what redefining fixes, and what only a restart applies.
import type { DomainCdrom, DomainDescription, ParsedDomain } from '../../libvirt/xml/index.js';

/** What it takes to bring a defined domain to the desired definition. */
export interface DomainDiff {
  /** The persistent definition differs: define the desired XML again. */
  readonly redefine: boolean;
  /**
   * The running domain differs from the desired definition and only a restart applies it
   * (report RestartRequired=True; never recreate). Always false for an inactive domain.
   */
  readonly restartRequired: boolean;
  /** One line per difference against the persistent definition, for events and logs. */
  readonly changes: readonly string[];
  /** One line per difference against the running domain; empty when not running. */
  readonly pendingRestart: readonly string[];
}

// libvirt expands machine-type aliases when it stores a definition; an alias matches any of
// its versioned expansions.
const MACHINE_ALIAS_PREFIX: Readonly<Record<string, string>> = {
  pc: 'pc-i440fx-',
  q35: 'pc-q35-',
  virt: 'virt-',
};

function machineMatches(desired: string | undefined, observed: string | undefined): boolean {
  if (desired === undefined || desired === observed) return true;
  const prefix = MACHINE_ALIAS_PREFIX[desired];
  return prefix !== undefined && observed !== undefined && observed.startsWith(prefix);
}

const show = (value: unknown): string => (value === undefined ? 'unset' : JSON.stringify(value));

/**
 * Differences between the desired domain and a parsed one, in the fields we own. Devices
 * libvirt adds (controllers, video, input, memballoon, PCI addresses, the live tap and
 * bridge, the VNC port chosen by autoport) are not compared. For live XML the current memory
 * is skipped: the balloon moves it at run time.
 */
function domainDifferences(
  desired: DomainDescription,
  observed: ParsedDomain,
  live: boolean,
  compareBootOrder = true,
): string[] {
  const changes: string[] = [];
  const compare = (field: string, want: unknown, have: unknown): void => {
    if (want !== have) changes.push(`${field}: ${show(have)} → ${show(want)}`);
  };
  compare('type', desired.type, observed.type);
  compare('memory', desired.memoryBytes, observed.memoryBytes);
  if (!live) {
    compare(
      'currentMemory',
      desired.currentMemoryBytes ?? desired.memoryBytes,
      observed.currentMemoryBytes ?? observed.memoryBytes,
    );
  }
  compare('vcpus', desired.vcpus, observed.vcpus);
  compare('arch', desired.arch, observed.arch);
  if (!machineMatches(desired.machine, observed.machine)) {
    compare('machine', desired.machine, observed.machine);
  }
  compare('firmware', desired.firmware, observed.firmware);
  // Only a desired NVRAM volume is compared (BIOS nodes have none, so nothing changes for
  // them), and by file name: the path is its pool's directory, which only the host knows.
  if (desired.nvram) {
    const file = observed.nvram?.slice(observed.nvram.lastIndexOf('/') + 1);
    compare('nvram', desired.nvram.volume, file);
  }
  // Redefining applies it; a running domain picks it up at its next boot, which is soon
  // enough for BIOS output: no restart is asked for (no RestartRequired for it alone).
  if (!live) compare('bios.useserial', desired.serialBios ?? false, observed.serialBios ?? false);
  if (compareBootOrder) {
    compare('bootOrder', desired.bootOrder.join(','), observed.bootOrder.join(','));
  }
  const disk = (d: {
    device?: string;
    pool?: string;
    volume?: string;
    path?: string;
    format?: string;
    bus?: string;
  }): string =>
    // An empty drive has no format: the live XML of a running domain leaves its driver out.
    d.device === 'cdrom' && d.volume === undefined && d.path === undefined
      ? `cdrom:empty(${d.bus})`
      : `${d.device ?? 'disk'}:${d.pool}/${d.volume}(${d.format},${d.bus})`;
  const cdrom = (c: DomainCdrom) =>
    disk({
      device: 'cdrom',
      pool: c.source?.pool,
      volume: c.source?.volume,
      format: 'raw',
      bus: c.bus,
    });
  compare(
    'disks',
    [...desired.disks.map(disk), ...(desired.cdroms ?? []).map(cdrom)].join(' '),
    observed.disks.map(disk).join(' '),
  );
  const nic = (n: { type?: string; mac?: string; network?: string; model?: string }): string =>
    `${n.type ?? 'network'}:${n.mac}@${n.network}(${n.model})`;
  compare(
    'interfaces',
    desired.interfaces.map((n) => nic({ ...n, mac: n.mac.toLowerCase() })).join(' '),
    observed.interfaces.map(nic).join(' '),
  );
  compare('vnc.listen', desired.vnc?.listen, observed.vnc?.listen);
  if (desired.vnc?.port !== undefined) compare('vnc.port', desired.vnc.port, observed.vnc?.port);
  return changes;
}

/**
 * Compares the desired domain with the persistent (inactive) definition and, for a running
 * domain, with the live one. Every field we own (memory, vCPUs, arch, machine, firmware, boot
 * order, disks, NICs and their MACs/models/networks, VNC) is applied by redefining; a running
 * domain keeps running with its old configuration until restarted, which `restartRequired`
 * reports — also on later passes, after the redefinition, until the restart happens.
 * `liveBootOrder: false` leaves the running domain's boot order out: with a BMC, it is the
 * boot the BMC chose (a Once override, spent since), not a change waiting for a restart.
 */
export function diffDomain(
  desired: DomainDescription,
  inactive: ParsedDomain,
  live?: ParsedDomain,
  opts: { readonly liveBootOrder?: boolean } = {},
): DomainDiff {
  const changes = domainDifferences(desired, inactive, false);
  const pendingRestart = pendingRestartOf(desired, live, opts);
  return {
    redefine: changes.length > 0,
    restartRequired: pendingRestart.length > 0,
    changes,
    pendingRestart,
  };
}

/**
 * The half of {@link diffDomain} that needs no inactive definition: what the running domain
 * (`live`, undefined while it is off) still lacks of `desired` until a restart.
 */
export function pendingRestartOf(
  desired: DomainDescription,
  live: ParsedDomain | undefined,
  opts: { readonly liveBootOrder?: boolean } = {},
): readonly string[] {
  return live === undefined
    ? []
    : domainDifferences(desired, live, true, opts.liveBootOrder ?? true);
}
