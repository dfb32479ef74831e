// End to end: a UEFI node's NVRAM in lab snapshots (issue 15), with the operator as a child
// process against the shared kube-apiserver and a private libvirtd with QEMU and OVMF (Debian's
// ovmf package: libvirt's firmware autoselection finds it through /usr/share/qemu/firmware).
// A lab of one UEFI node (the recipe's template, 256 MiB, firmware: uefi):
//   1. the domain names its NVRAM in the pool directory (<domain>-VARS.fd); it starts with
//      OVMF, libvirt makes the file from the vars template, and OVMF writes its variables
//      into it (the file differs from the template: the firmware ran);
//   2. halted (runStrategy Halted, haltMode Destroy), captured: the NVRAM is a member volume
//      next to the disk, with a read-only qcow2 golden copy holding exactly its bytes;
//   3. a marker written into the NVRAM file after the capture is gone after a restore, the
//      NVRAM holds the captured bytes again, and the node starts on it;
//   4. deleting the snapshot frees both golden volumes; deleting the lab removes the node's
//      disk and its NVRAM.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MaasLab, MaasLabSnapshot } from '../../../src/api/v1alpha1/index.js';
import { ContentType, type RestClient } from '../../../src/runtime/client/rest.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type E2eEnvironment,
  type MaaslabReader,
  recipeLabDocs,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { type PrivateLibvirtd, run } from '../../support/libvirtd.js';
import type { TestNamespace } from '../../support/namespace.js';
import { kubectlApply } from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

const READY_TIMEOUT_MS = 480_000;
const STEP_TIMEOUT_MS = 240_000;
/** The template OVMF's descriptor names (60-edk2-x86_64.json): what a fresh NVRAM holds. */
const VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** The marker: 4 KiB of 0xab, 256 KiB into the NVRAM (inside its 528 KiB). */
const MARKER = { offset: '256k', length: '4k', pattern: '0xab' } as const;

const sha256 = async (path: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('e2e: a UEFI node in lab snapshots (its NVRAM captured and restored), operator as a child process', function () {
  this.timeout(900_000);

  let env: E2eEnvironment;
  let lv: PrivateLibvirtd;
  let admin: RestClient;
  let read: MaaslabReader;
  let labNs: TestNamespace;
  let pool: string;
  let logFile: string;
  /** The NVRAM's SHA-256 when it was captured. */
  let capturedSha: string;

  const domain = (): string => `${labNs.name}.uefi-node1`;
  const nvramName = (): string => `${domain()}-VARS.fd`;
  const nvramPath = (): string => join(lv.dir, 'pool', nvramName());
  const diskPath = (): string => join(lv.dir, 'pool', `${domain()}-root.qcow2`);
  const state = async (): Promise<string> => (await lv.virsh(['domstate', domain()])).trim();
  const poolVolumes = async (): Promise<string[]> => {
    await lv.virsh(['pool-refresh', pool]);
    return (await lv.virsh(['vol-list', '--pool', pool]))
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.includes(labNs.name));
  };
  const lab = (): Promise<MaasLab> => read.get<MaasLab>('MaasLab', 'uefi', labNs.name);
  const snapshot = (name: string): Promise<MaasLabSnapshot> =>
    read.get<MaasLabSnapshot>('MaasLabSnapshot', name, labNs.name);
  const patch = (kind: string, name: string, body: unknown): Promise<unknown> =>
    admin.request({
      method: 'PATCH',
      ref: { apiVersion: GROUP_VERSION, kind, name, namespace: labNs.name },
      body,
      contentType: ContentType.MergePatch,
    });
  const exists = (path: string): Promise<boolean> =>
    stat(path).then(
      () => true,
      () => false,
    );

  /** Whether the NVRAM file holds the marker. */
  async function hasMarker(): Promise<boolean> {
    try {
      await run('qemu-io', [
        ...['-f', 'raw', '-r', '-U'],
        ...['-c', `read -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
        nvramPath(),
      ]);
      return true;
    } catch (err) {
      if (String(err).includes('Pattern verification failed')) return false;
      throw err;
    }
  }

  before(async function () {
    this.timeout(300_000);
    env = await startE2eEnvironment('uefi');
    ({ lv, admin, read, labNs, pool, logFile } = env);
    const docs = await recipeLabDocs(env, (d) => {
      d.metadata.name = 'uefi';
      const nodes = d.spec.nodes as { count: number; template: Record<string, unknown> };
      nodes.count = 1;
      Object.assign(nodes.template, { memory: '256Mi', firmware: 'uefi', haltMode: 'Destroy' });
    });
    await kubectlApply(controlPlane().adminKubeconfig, docs, join(env.scratch, 'lab.yaml'));
    await waitFor(
      async () =>
        (await lab()).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500, description: `lab Ready (log: ${logFile})` },
    );
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
  });

  it('1: names its NVRAM in the pool; starts with OVMF, which writes its variables there', async function () {
    const t0 = Date.now();
    await waitFor(async () => (await state()) === 'running', {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 250,
      description: `${domain()} running (log: ${logFile})`,
    });
    const inactive = await lv.virsh(['dumpxml', '--inactive', domain()]);
    expect(inactive).to.include("<os firmware='efi'>");
    expect(inactive).to.include(`<nvram>${nvramPath()}</nvram>`);
    const live = await lv.virsh(['dumpxml', domain()]);
    expect(live).to.match(
      /<loader readonly='yes' type='pflash'>\/usr\/share\/OVMF\/OVMF_CODE[^<]*\.fd<\/loader>/,
    );
    expect(live).to.include(`<nvram template='${VARS_TEMPLATE}'>${nvramPath()}</nvram>`);
    const template = await sha256(VARS_TEMPLATE);
    expect((await stat(nvramPath())).size).to.equal((await stat(VARS_TEMPLATE)).size);
    // OVMF writes its boot options and counters into the variable store as it starts.
    await waitFor(async () => (await sha256(nvramPath())) !== template, {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 250,
      description: 'OVMF wrote its variables into the NVRAM',
    });
    console.log(
      `      UEFI node running and its NVRAM written by OVMF: ${((Date.now() - t0) / 1000).toFixed(1)} s after the lab was Ready`,
    );
  });

  it('2: halted and captured: the NVRAM is a member volume with a golden copy of its bytes', async function () {
    const tHalt = Date.now();
    await patch('MaasLab', 'uefi', { spec: { nodes: { template: { runStrategy: 'Halted' } } } });
    await waitFor(async () => (await state()) === 'shut off', {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 250,
      description: `${domain()} shut off`,
    });
    console.log(`      halted (Destroy): ${((Date.now() - tHalt) / 1000).toFixed(1)} s`);
    capturedSha = await sha256(nvramPath());
    const t0 = Date.now();
    await admin.request({
      method: 'POST',
      ref: { apiVersion: GROUP_VERSION, kind: 'MaasLabSnapshot', namespace: labNs.name },
      body: {
        apiVersion: GROUP_VERSION,
        kind: 'MaasLabSnapshot',
        metadata: { name: 'vars', namespace: labNs.name },
        spec: { lab: 'uefi', mode: 'Offline' },
      },
    });
    const snap = await waitFor(
      async () => {
        const s = await snapshot('vars');
        return s.status?.readyToUse === true ? s : undefined;
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `snapshot Ready (log: ${logFile})`,
      },
    );
    console.log(`      capture of 1 halted UEFI node: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const member = snap.status!.members![0]!;
    expect(member.consistency).to.equal('Clean');
    expect(member.volumes.map((v) => [v.disk, v.source, v.format])).to.deep.equal([
      ['root', `${domain()}-root.qcow2`, 'qcow2'],
      ['UEFI-VARS', nvramName(), 'raw'],
    ]);
    const vars = member.volumes[1]!;
    expect(vars.capacityBytes).to.equal((await stat(VARS_TEMPLATE)).size);
    expect(vars.sizeBytes).to.be.greaterThan(0);
    expect(member.sizeBytes).to.equal(member.volumes[0]!.sizeBytes + vars.sizeBytes);
    expect(snap.status!.sizeBytes).to.equal(member.sizeBytes);
    console.log(
      `      NVRAM golden copy: ${vars.golden}, ${vars.capacityBytes} bytes virtual, ${vars.sizeBytes} bytes on disk`,
    );
    const golden = join(lv.dir, 'pool', vars.golden);
    expect((await stat(golden)).mode & 0o777).to.equal(0o444);
    // The golden copy holds exactly the NVRAM's bytes.
    const raw = join(env.scratch, 'golden-vars.raw');
    await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', golden, raw]);
    expect(await sha256(raw)).to.equal(capturedSha);
    expect(await poolVolumes()).to.include(vars.golden);
  });

  it('3: a marker written into the NVRAM after the capture is gone after a restore; the node starts on it', async function () {
    await run('qemu-io', [
      ...['-f', 'raw'],
      ...['-c', `write -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
      nvramPath(),
    ]);
    expect(await hasMarker(), 'marker before the restore').to.equal(true);
    expect(await sha256(nvramPath())).to.not.equal(capturedSha);
    const t0 = Date.now();
    await patch('MaasLab', 'uefi', { spec: { restoreFrom: { snapshot: 'vars', token: 'one' } } });
    await waitFor(
      async () => {
        const r = (await lab()).status?.restore;
        return r?.token === 'one' && r.phase === 'Completed';
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `restore Completed (log: ${logFile})`,
      },
    );
    console.log(
      `      restore of 1 UEFI node (disk + NVRAM): ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect((await lab()).status?.restore).to.include({ membersRestored: 1, membersTotal: 1 });
    expect(await state()).to.equal('shut off');
    expect(await hasMarker(), 'marker after the restore').to.equal(false);
    expect(await sha256(nvramPath()), 'NVRAM as captured').to.equal(capturedSha);
    // The restored file is the one the domain boots with: it starts on it again.
    await patch('MaasLab', 'uefi', { spec: { nodes: { template: { runStrategy: 'Always' } } } });
    await waitFor(async () => (await state()) === 'running', {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 250,
      description: `${domain()} running on the restored NVRAM`,
    });
    expect(await lv.virsh(['dumpxml', domain()])).to.include(`>${nvramPath()}</nvram>`);
  });

  it('4: deleting the snapshot frees its golden volumes; deleting the lab removes disk and NVRAM', async function () {
    const goldens = (await snapshot('vars')).status!.members![0]!.volumes.map((v) => v.golden);
    await admin.request({
      method: 'DELETE',
      ref: {
        apiVersion: GROUP_VERSION,
        kind: 'MaasLabSnapshot',
        name: 'vars',
        namespace: labNs.name,
      },
    });
    await waitFor(
      async () => {
        const vols = await poolVolumes();
        return goldens.every((g) => !vols.includes(g));
      },
      { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 250, description: 'golden volumes freed' },
    );
    expect(await exists(nvramPath())).to.equal(true);
    await admin.request({
      method: 'DELETE',
      ref: { apiVersion: GROUP_VERSION, kind: 'MaasLab', name: 'uefi', namespace: labNs.name },
    });
    await waitFor(async () => !(await exists(nvramPath())) && !(await exists(diskPath())), {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 250,
      description: `disk and NVRAM removed (log: ${logFile})`,
    });
    expect(await poolVolumes()).to.deep.equal([]);
  });
});
