// End to end, issue 14's central mode over qemu+ssh, against a real sshd: the operator as a
// child process whose ~/.ssh is what deploy/overlays/central mounts in the pod (key and
// known_hosts of Secret maaslab-ssh, the overlay's ssh_config as is), Hypervisors whose URIs
// are qemu+ssh://root@ADDRESS/system, and Debian's sshd in the private libvirtd's network
// namespace (test/support/ssh-host.ts). Three things:
//  (a) a Hypervisor over ssh becomes Ready, and a two-node lab on it too, its domains running
//      on the private libvirtd;
//  (b) a host whose key is not the one known_hosts holds: Ready=False with reason
//      HostKeyVerificationFailed (Stalled), and its lab creates no domain;
//  (c) the ssh session serving the operator's connection is killed on the sshd side: the
//      connection pool reconnects (a new session) and the lab is Ready again, with the same
//      domains (UUIDs and ids, so none was redefined or restarted) and no duplicate. The
//      reconnect time, and how long the lab's Ready was not True (Unknown while libvirt could
//      not be seen, then its children catching up), are printed.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Hypervisor, MaasLab } from '../../../src/api/v1alpha1/index.js';
import { HostKeyVerificationFailedReason } from '../../../src/api/v1alpha1/index.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  conditionOf,
  isReadyNow,
  linesOf,
  type E2eEnvironment,
  smallLab,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { kubectlApply, kubectlRun } from '../../support/operator.js';
import {
  type SshHost,
  operatorSshWrap,
  sshKeygen,
  startSshHost,
  writeSshHome,
} from '../../support/ssh-host.js';
import { waitFor } from '../../support/wait.js';

const LONG = { timeoutMs: 240_000, intervalMs: 200 } as const;

describe('e2e: central mode over qemu+ssh with a real sshd', function () {
  this.timeout(900_000);
  let env: E2eEnvironment | undefined;
  let ssh: SshHost | undefined;
  let home = '';
  let refusedHv = '';

  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const e = (): E2eEnvironment => env as E2eEnvironment;
  const host = (): SshHost => ssh as SshHost;
  const ns = (): string => e().labNs.name;
  const lab = (name: string, hypervisor: string, third: number): Record<string, unknown> =>
    smallLab({
      name,
      namespace: ns(),
      hypervisor,
      subnet: `10.84.${third}`,
      macPrefix: `52:54:00:7e:${(0x20 + third).toString(16)}`,
    });
  const hypervisor = (name: string, address: string): Record<string, unknown> => ({
    apiVersion: GROUP_VERSION,
    kind: 'Hypervisor',
    metadata: { name },
    spec: {
      uri: `qemu+ssh://root@${address}/system`,
      storagePool: e().pool,
      storagePoolPath: join(e().lv.dir, 'pool'),
    },
  });
  /** `virsh list --all` lines of a lab's domains: "Id Name State", sorted. */
  const domainsOf = async (labName: string): Promise<string[]> =>
    linesOf(await e().lv.virsh(['list', '--all']), `${ns()}.${labName}-node`).sort();
  /** name → UUID of a lab's domains, as the private libvirtd has them. */
  const uuidsOf = async (labName: string): Promise<Record<string, string>> => {
    const names = linesOf(
      await e().lv.virsh(['list', '--all', '--name']),
      `${ns()}.${labName}-node`,
    ).sort();
    const out: Record<string, string> = {};
    for (const name of names) out[name] = (await e().lv.virsh(['domuuid', name])).trim();
    return out;
  };
  /** The sshd sessions serving libvirt (virt-ssh-helper), by PID. */
  const libvirtSessions = async (): Promise<number[]> =>
    (await host().sessions())
      .filter((s) => s.commands.some((c) => c.includes('virt-ssh-helper')))
      .map((s) => s.pid);
  const readyLab = (name: string): Promise<MaasLab> =>
    waitFor(
      async () => ((l) => isReadyNow(l) && l)(await e().read.get<MaasLab>('MaasLab', name, ns())),
      { ...LONG, description: `lab ${name} Ready (log: ${e().logFile})` },
    );

  before(async function () {
    this.timeout(300_000);
    home = await mkdtemp(join(tmpdir(), 'maaslab-e2e-ssh-home-'));
    env = await startE2eEnvironment('ssh', {
      wrap: await operatorSshWrap(join(home, 'home'), home),
      env: { HOME: join(home, 'home') },
    });
    ssh = await startSshHost(env.lv, join(env.scratch, 'sshd'));
    // known_hosts as an admin writes it into Secret maaslab-ssh: the host's real key for its
    // address, and, for the second address of the same sshd, a key that is not the host's.
    const stranger = await sshKeygen(join(home, 'stranger_host_key'), 'not-the-host');
    await writeSshHome(join(home, 'home'), {
      key: await readFile(ssh.clientKey.path, 'utf8'),
      knownHosts:
        `${ssh.address} ${ssh.hostKey.publicKey}\n` + `${ssh.otherAddress} ${stranger.publicKey}\n`,
    });
  });

  after(async function () {
    this.timeout(180_000);
    if (env && refusedHv) {
      await kubectlRun(kubeconfig(), [
        'delete',
        'hypervisors.maaslab.dev',
        refusedHv,
        '--wait=false',
      ]).catch(() => undefined);
    }
    await env?.stop();
    await ssh?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('(a) a Hypervisor over qemu+ssh is Ready, and a lab on it runs on the remote libvirtd', async function () {
    const t0 = performance.now();
    await kubectlApply(
      kubeconfig(),
      [hypervisor(e().hv, host().address), lab('over', e().hv, 1)],
      join(e().scratch, 'over.yaml'),
    );
    const hv = await waitFor(
      async () => ((h) => isReadyNow(h) && h)(await e().read.get<Hypervisor>('Hypervisor', e().hv)),
      { ...LONG, description: `${e().hv} Ready over ssh (log: ${e().logFile})` },
    );
    const hvReadyMs = performance.now() - t0;
    await readyLab('over');
    const labReadyMs = performance.now() - t0;
    expect(hv.status?.libvirtVersion).to.match(/^\d+\.\d+\.\d+$/);
    const domains = await domainsOf('over');
    expect(domains, 'both nodes defined and running on the private libvirtd').to.have.length(2);
    for (const d of domains) expect(d).to.match(/\srunning$/);
    // Through sshd: one session serving the operator's connection, running virt-ssh-helper.
    expect(await libvirtSessions()).to.have.length(1);
    const log = await readFile(host().logFile, 'utf8');
    expect(log).to.match(/Accepted publickey for root from 10\.251\.\d+\.\d+/);
    console.log(
      `      [ssh] Hypervisor Ready over qemu+ssh in ${(hvReadyMs / 1000).toFixed(1)} s, ` +
        `2-node lab Ready in ${(labReadyMs / 1000).toFixed(1)} s`,
    );
  });

  it('(b) a host key known_hosts does not hold: Ready=False HostKeyVerificationFailed, no domain', async function () {
    refusedHv = `${e().hv}-refused`;
    await kubectlApply(
      kubeconfig(),
      [hypervisor(refusedHv, host().otherAddress), lab('refused', refusedHv, 2)],
      join(e().scratch, 'refused.yaml'),
    );
    const t0 = performance.now();
    const refused = await waitFor(
      async () =>
        ((h) => conditionOf(h, 'Ready')?.status === 'False' && h)(
          await e().read.get<Hypervisor>('Hypervisor', refusedHv),
        ),
      { ...LONG, description: `${refusedHv} Ready=False (log: ${e().logFile})` },
    );
    const reportedMs = performance.now() - t0;
    const ready = conditionOf(refused, 'Ready');
    expect(ready?.reason, ready?.message).to.equal(HostKeyVerificationFailedReason);
    expect(ready?.message).to.match(/host key verification failed/i);
    expect(ready?.message).to.include(`Host key for ${host().otherAddress} has changed`);
    expect(conditionOf(refused, 'Stalled')?.status).to.equal('True');
    // The operator did reach sshd and was refused on the key, before any login.
    expect(await readFile(host().logFile, 'utf8')).to.include(`on ${host().otherAddress} port 22`);
    // Its lab waits; give it a few passes, then nothing of it may exist on the host.
    await new Promise((r) => setTimeout(r, 5000));
    const refusedLab = await e().read.get<MaasLab>('MaasLab', 'refused', ns());
    expect(isReadyNow(refusedLab)).to.equal(false);
    expect(await domainsOf('refused')).to.deep.equal([]);
    expect(linesOf(await e().lv.virsh(['net-list', '--all']), 'refused')).to.deep.equal([]);
    // The healthy Hypervisor is not affected.
    expect(isReadyNow(await e().read.get<Hypervisor>('Hypervisor', e().hv))).to.equal(true);
    console.log(
      `      [ssh] refused host key reported in ${(reportedMs / 1000).toFixed(1)} s: ` +
        `${ready?.reason}: ${ready?.message}`,
    );
  });

  it('(c) a dropped ssh session is reconnected; the lab is Ready again, same domains, no duplicate', async function () {
    const before = await domainsOf('over');
    const uuids = await uuidsOf('over');
    const [session, ...others] = await libvirtSessions();
    expect(session, 'one ssh session serves the operator').to.not.equal(undefined);
    expect(others).to.deep.equal([]);

    // Sample the lab's Ready from the drop until the end: which states, and for how long not
    // True (while libvirt cannot be seen the lab says Unknown rather than guess).
    const seen = new Set<string>();
    let notReadyFrom: number | undefined;
    let notReadyUntil: number | undefined;
    let sampling = true;
    const t0 = performance.now();
    const sampler = (async () => {
      while (sampling) {
        const ready = conditionOf(await e().read.get<MaasLab>('MaasLab', 'over', ns()), 'Ready');
        const now = performance.now() - t0;
        seen.add(`${ready?.status}/${ready?.reason}`);
        if (ready?.status !== 'True') {
          notReadyFrom ??= now;
          notReadyUntil = now;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    process.kill(session as number, 'SIGTERM');
    const fresh = await waitFor(
      async () => ((s) => s.length === 1 && s[0] !== session && s[0])(await libvirtSessions()),
      { ...LONG, intervalMs: 50, description: `a new ssh session (log: ${e().logFile})` },
    );
    const reconnectMs = performance.now() - t0;
    // Ready again through the new connection (a pass after the reconnect).
    await waitFor(
      async () => {
        const h = await e().read.get<Hypervisor>('Hypervisor', e().hv);
        return isReadyNow(h) && (await libvirtSessions()).includes(fresh);
      },
      { ...LONG, description: `${e().hv} Ready after the reconnect (log: ${e().logFile})` },
    );
    const hvReadyMs = performance.now() - t0;
    await readyLab('over');
    // A few more passes over the new connection before counting.
    await new Promise((r) => setTimeout(r, 5000));
    sampling = false;
    await sampler;

    expect(await domainsOf('over'), 'same domains, same ids: none restarted').to.deep.equal(before);
    expect(await uuidsOf('over'), 'same UUIDs: none redefined, no duplicate').to.deep.equal(uuids);
    expect(await libvirtSessions()).to.deep.equal([fresh]);
    const s = (ms: number | undefined): string => ((ms ?? 0) / 1000).toFixed(2);
    console.log(
      `      [ssh] session ${session} killed: new session ${fresh} after ${s(reconnectMs)} s, ` +
        `Hypervisor Ready over it after ${s(hvReadyMs)} s; lab Ready states seen: ` +
        `${[...seen].join(', ')}` +
        (notReadyFrom === undefined
          ? '; the lab never left Ready'
          : `; lab not Ready from ${s(notReadyFrom)} s to ${s(notReadyUntil)} s`),
    );
  });
});
