// An in-memory BmcBackend for the protocol servers' own tests: systems with power and a boot
// override, and a log of every action with its source. The operator's real backend acts on
// libvirt (src/bmc/libvirt-backend.ts) and is tested against the private libvirtd.
import {
  BmcActionConflictError,
  type BmcActionSource,
  type BmcBackend,
  type BmcPowerState,
  BmcSystemNotFoundError,
  type BmcSystemView,
  type BootOverride,
  type PowerAction,
} from '../../src/bmc/backend.js';

export interface FakeBmcAction {
  readonly id: string;
  readonly action: PowerAction | 'boot';
  readonly boot?: BootOverride;
  readonly source: BmcActionSource;
}

/** The boot override of a system nobody has overridden. */
export const NoBootOverride: BootOverride = { target: 'None', enabled: 'Disabled', mode: 'Legacy' };

export class FakeBmcBackend implements BmcBackend {
  readonly actions: FakeBmcAction[] = [];
  private readonly systems = new Map<
    string,
    { -readonly [K in keyof BmcSystemView]: BmcSystemView[K] }
  >();

  add(id: string, name: string, powerState: BmcPowerState = 'Off'): void {
    this.systems.set(id, { id, name, powerState, boot: NoBootOverride, vcpus: 2, memoryMiB: 2048 });
  }

  remove(id: string): void {
    this.systems.delete(id);
  }

  async describe(id: string): Promise<BmcSystemView | undefined> {
    const s = this.systems.get(id);
    return s && { ...s };
  }

  async power(id: string, action: PowerAction, source: BmcActionSource): Promise<void> {
    const s = this.systems.get(id);
    if (!s) throw new BmcSystemNotFoundError(id);
    switch (action) {
      case 'On':
        s.powerState = 'On';
        break;
      case 'ForceOff':
      case 'GracefulShutdown':
        s.powerState = 'Off';
        break;
      case 'PushPowerButton':
        s.powerState = s.powerState === 'On' ? 'Off' : 'On';
        break;
      case 'GracefulRestart':
      case 'ForceRestart':
        if (s.powerState === 'Off') throw new BmcActionConflictError('the system is off');
        break;
      case 'PowerCycle':
        s.powerState = 'On';
        break;
    }
    this.actions.push({ id, action, source });
  }

  async setBootOverride(id: string, boot: BootOverride, source: BmcActionSource): Promise<void> {
    const s = this.systems.get(id);
    if (!s) throw new BmcSystemNotFoundError(id);
    s.boot = boot;
    this.actions.push({ id, action: 'boot', boot, source });
  }
}
