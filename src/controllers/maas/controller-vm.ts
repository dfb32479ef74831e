// The MaasLab's controller phase (spec.maas.controller): the admin Secret, the base image
// (downloaded once per hypervisor, in the background: image-download.ts), the qcow2 overlay,
// the seed ISO, the domain, defined and started; then the API key, exchanged for the admin's
// password at the controller's MAAS once it answers. Each step needs the one before and is
// idempotent: a pass finds what exists and makes only what is missing. What it found becomes
// ControllerReady and status.maas.controller (status.ts reads the findings).
//
// Ownership: the domain carries the lab's stamp (kind MaasLab, namespace, name, UID) and
// every domain verb checks it; volumes cannot carry one, so the operator deletes only the
// overlay and seed it names after the lab's domain, never the shared base volume nor a
// volume the user named in image.volume.
import { createHash, randomBytes } from 'node:crypto';
import {
  ControllerDefaults,
  DefaultApiKeySecretKey,
  GroupVersion,
  MaasLabKind,
  ControllerProvisioningReason,
  ControllerReadyCondition,
  ControllerRunningReason,
  HeldReason,
  heldMessage,
  ImageChecksumMismatchReason,
  ImageDownloadFailedReason,
  ImageDownloadingReason,
  ImageVerifyingReason,
  ImageVolumeNotFoundReason,
  MaasInstallingReason,
  MaasUnauthorizedReason,
  ReadyCondition,
  type ControllerStatus,
  type Hypervisor as HypervisorResource,
  type MaasLab,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import type { Hypervisor } from '../../libvirt/hypervisor/index.js';
import { authenticateMaas } from '../../maas/authenticate.js';
import { buildControllerSeed, seedFiles } from '../../maas/controller/seed.js';
import { buildSeedIso } from '../../maas/controller/iso.js';
import { MaasUnauthorizedError, isRetryableMaasError } from '../../maas/errors.js';
import type { Client, ConditionInput, MetaObject } from '../../runtime/index.js';
import type { Why } from '../common/conditions.js';
import { fnv1a32 } from '../common/hash.js';
import {
  AdminPasswordKey,
  AdminUsernameKey,
  consoleLogPath,
  controllerApiKeyRef,
  controllerDomain,
  controllerInstanceId,
  controllerOwner,
  controllerPlan,
  controllerProblem,
  controllerSeedInput,
  type ControllerPlan,
} from './controller-desired.js';
import type { ImageDownloads } from './image-download.js';
import { definedProps } from '../../util/defined-props.js';

/** While a download runs, the lab is looked at again this often (its progress is status). */
export const DOWNLOAD_POLL_MS = 2_000;
/** While the controller boots and installs MAAS, its API is asked again this often. */
export const INSTALL_POLL_MS = 15_000;
/** A missing image volume or network is looked for again after this long. */
export const WAIT_MS = 10_000;

/** A Secret, as the phase reads and writes it (data decoded). */
export interface SecretAccess {
  read(
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<Readonly<Record<string, string>> | undefined>;
  /** Creates or updates the Secret, controlled by `owner` (garbage collection deletes it). */
  write(
    owner: Readonly<MaasLab>,
    name: string,
    data: Readonly<Record<string, string>>,
    signal: AbortSignal,
  ): Promise<void>;
}

/** What the controller phase needs; one per process. */
export interface ControllerDeps {
  /** The libvirt verbs of a Hypervisor resource (the process's shared registry). */
  readonly hypervisorFor: (resource: Readonly<HypervisorResource>) => Hypervisor;
  readonly secrets: SecretAccess;
  readonly downloads: ImageDownloads;
  /** Finalizer writes on the lab: the domain and volumes are outside garbage collection. */
  readonly finalizers: Pick<Client, 'ensureFinalizer' | 'dropFinalizer'>;
  /** For the MAAS `accounts/authenticate/` exchange; default the global fetch. */
  readonly fetch?: typeof fetch;
  /** A new admin password; default 24 random bytes, base64url. */
  readonly newPassword?: () => string;
  /** Time, for the retry of a failed download; default Date.now. */
  readonly now?: () => number;
}

/** The finalizer of a lab with a controller VM. */
export const CONTROLLER_FINALIZER = 'maaslab.dev/maas-controller';

/** What the phase found. */
export interface ControllerFindings {
  /** ControllerReady. */
  readonly condition: ConditionInput;
  readonly status: ControllerStatus;
  /** Progress needs a human (ImageChecksumMismatch, a misdeclared controller). */
  readonly stalled?: Why;
  /** The controller runs and the API key Secret holds its key: MAAS may be asked. */
  readonly apiKeyReady: boolean;
  /** Why MAAS is not asked yet, for MaasReachable (MaasInstalling, MaasUnauthorized). */
  readonly maasWaiting?: Why;
  /** When to look again (0: no need). */
  readonly requeueAfterMs: number;
}

const notReady = (reason: string, message: string): ConditionInput => ({
  type: ControllerReadyCondition,
  status: 'False',
  reason,
  message,
});

const isReady = (o: Readonly<VirtNetwork> | undefined): boolean =>
  o?.status?.conditions?.some((c) => c.type === ReadyCondition && c.status === 'True') === true;

/**
 * One pass of the controller phase for `lab` on `hypervisor`. `networks` are the lab's
 * VirtNetworks by name (the domain starts once its networks are Ready). Never throws for a
 * fault it can name; libvirt and API errors propagate (the pass retries).
 */
export async function reconcileController(
  lab: Readonly<MaasLab>,
  hypervisor: Readonly<HypervisorResource>,
  networks: ReadonlyMap<string, Readonly<VirtNetwork>>,
  deps: ControllerDeps,
  signal: AbortSignal,
): Promise<ControllerFindings | undefined> {
  if (lab.spec.maas?.controller === undefined) return undefined;
  const problem = controllerProblem(lab);
  const plan = controllerPlan(lab, hypervisor.spec);
  if (problem !== undefined || plan === undefined) {
    const why = problem ?? { reason: ControllerProvisioningReason, message: 'no plan' };
    return {
      condition: notReady(why.reason, why.message),
      status: {},
      stalled: why,
      apiKeyReady: false,
      requeueAfterMs: 0,
    };
  }
  const namespace = lab.metadata?.namespace ?? '';
  const now = deps.now ?? Date.now;
  let status: ControllerStatus = {
    domain: plan.domainName,
    address: plan.address,
    baseVolume: `${plan.base.pool}/${plan.base.volume}`,
    adminSecretRef: { name: plan.adminSecretName },
    ...(lab.status?.maas?.controller?.image && { image: lab.status.maas.controller.image }),
  };
  const waitingFor = (reason: string, message: string, requeueAfterMs: number, stalled?: Why) => ({
    condition: notReady(reason, message),
    status,
    ...definedProps({ stalled }),
    apiKeyReady: false,
    requeueAfterMs,
  });

  // 0. The finalizer first: from here on libvirt objects exist that only we can remove.
  if (!lab.metadata?.finalizers?.includes(CONTROLLER_FINALIZER)) {
    await deps.finalizers.ensureFinalizer(lab, CONTROLLER_FINALIZER, signal);
  }

  // 1. The admin: the user's Secret, or ours (generated once, then read back every pass).
  const admin = await adminOf(lab, plan, deps, signal);
  if ('problem' in admin) {
    return waitingFor(ControllerProvisioningReason, admin.problem, WAIT_MS);
  }

  // 2. The base image.
  const hv = deps.hypervisorFor(hypervisor);
  const hvName = hypervisor.metadata?.name ?? '';
  const [found] = await hv.observeVolumes(plan.base.pool, [plan.base.volume]);
  // A volume still being uploaded is not an image yet.
  const uploading =
    plan.base.kind === 'download' && deps.downloads.peek(hvName, plan.base)?.state === 'running';
  const base = uploading ? undefined : found;
  if (base === undefined) {
    if (plan.base.kind === 'volume') {
      return waitingFor(
        ImageVolumeNotFoundReason,
        `image volume ${plan.base.volume} is not in pool ${plan.base.pool}`,
        WAIT_MS,
      );
    }
    const d = deps.downloads.ensure(hvName, hv, plan.base);
    switch (d.state) {
      case 'running':
        status = { ...status, image: { bytesDone: d.done, bytesTotal: d.total } };
        return waitingFor(
          ImageDownloadingReason,
          `downloading ${plan.base.url}: ${d.done} of ${d.total || '?'} bytes`,
          DOWNLOAD_POLL_MS,
        );
      case 'failed':
        if (d.kind === 'checksum') {
          const why = {
            reason: ImageChecksumMismatchReason,
            message: `${d.message}; check spec.maas.controller.image (url ${plan.base.url}, sha256 ${plan.base.sha256})`,
          };
          return waitingFor(why.reason, why.message, Math.max(d.retryAt - now(), 1000), why);
        }
        return waitingFor(ImageDownloadFailedReason, d.message, Math.max(d.retryAt - now(), 1000));
      case 'done':
        // Finished after the look above: the next pass finds the volume.
        return waitingFor(ControllerProvisioningReason, 'image downloaded', 1);
    }
  }
  // A base found on the host may be one an operator stopped writing part-way: hashed once per
  // process before a new overlay goes on it. An existing overlay was made by a process that
  // had checked its base, so a restarted operator does not read every base again.
  if (plan.base.kind === 'download' && deps.downloads.peek(hvName, plan.base)?.state !== 'done') {
    const [overlay] = await hv.observeVolumes(plan.pool, [plan.overlayVolume]);
    const v = overlay === undefined ? deps.downloads.verify(hvName, hv, plan.base) : undefined;
    if (v?.state === 'running') {
      return waitingFor(
        ImageVerifyingReason,
        `checking base volume ${plan.base.volume}: ${v.done} of ${v.total || '?'} bytes hashed`,
        DOWNLOAD_POLL_MS,
      );
    }
    if (v?.state === 'failed') {
      return waitingFor(ImageDownloadFailedReason, v.message, Math.max(v.retryAt - now(), 1000));
    }
  }
  if (plan.base.kind === 'download' && status.image?.bytesTotal !== undefined) {
    status = {
      ...status,
      image: { bytesDone: status.image.bytesTotal, bytesTotal: status.image.bytesTotal },
    };
  }

  // 3. The overlay on it, thin, as large as diskSize.
  await hv.ensureVolumes([
    {
      pool: plan.pool,
      name: plan.overlayVolume,
      capacityBytes: plan.diskBytes,
      format: 'qcow2',
      backingStore: { path: base.path ?? '', format: 'qcow2' },
    },
  ]);

  // 4. The seed ISO, made once per lab: cloud-init reads it at the first boot only.
  let [seed] = await hv.observeVolumes(plan.pool, [plan.seedVolume]);
  if (seed === undefined) {
    const iso = buildSeedIso(
      seedFiles(buildControllerSeed(controllerSeedInput(plan, admin, controllerInstanceId(lab)))),
    );
    seed = await hv.uploadVolume(
      {
        pool: plan.pool,
        name: plan.seedVolume,
        sizeBytes: iso.length,
        sha256: createHash('sha256').update(iso).digest('hex'),
      },
      (async function* () {
        yield iso;
      })(),
      { signal },
    );
  }

  // 5. The domain, once its networks are up (libvirt refuses to start on an inactive one).
  const owner = controllerOwner(lab);
  const desc = controllerDomain(plan, owner, {
    kvm: (await hv.hostInfo()).kvm,
    consoleLogPath: consoleLogPath(seed.path ?? '', plan),
  });
  await hv.defineDomain({
    ...desc,
    owner: { ...owner, specHash: fnv1a32(JSON.stringify(desc)).toString(16) },
  });
  const labName = lab.metadata?.name ?? '';
  const needed = [lab.spec.maas?.controller?.uplink, pxeShort(lab)].filter(
    (n): n is string => n !== undefined,
  );
  const down = needed.filter((short) => !isReady(networks.get(`${labName}-${short}`)));
  if (down.length > 0) {
    return waitingFor(
      ControllerProvisioningReason,
      `waiting for lab networks ${down.join(', ')} to be Ready`,
      WAIT_MS,
    );
  }
  const state = await hv.observeDomainState(plan.domainName);
  if (state?.state !== 'running') await hv.start(plan.domainName, owner);

  const running: ConditionInput = {
    type: ControllerReadyCondition,
    status: 'True',
    reason: ControllerRunningReason,
    message: `domain ${plan.domainName} runs; MAAS will be at ${plan.maasUrl}`,
  };

  // 6. The API key, once MAAS answers and the admin exists (the seed's script makes it).
  const keyRef = controllerApiKeyRef(plan);
  const stored = await deps.secrets.read(namespace, keyRef.name, signal);
  if (stored?.[keyRef.key] !== undefined && stored[keyRef.key] !== '') {
    return { condition: running, status, apiKeyReady: true, requeueAfterMs: 0 };
  }
  try {
    const key = await authenticateMaas(
      plan.maasUrl,
      admin,
      definedProps({ signal, fetch: deps.fetch }),
    );
    await deps.secrets.write(lab, keyRef.name, { [DefaultApiKeySecretKey]: key }, signal);
    return { condition: running, status, apiKeyReady: true, requeueAfterMs: 0 };
  } catch (err) {
    if (signal.aborted) throw err;
    // Before the bootstrap script has created the admin, MAAS refuses the password: that is
    // installing too, not a wrong password (which only a user-given Secret could have).
    const message =
      err instanceof MaasUnauthorizedError
        ? `MAAS at ${plan.maasUrl} refuses the admin's password (not created yet, or Secret ${plan.adminSecretName} differs from the one the seed used)`
        : `MAAS at ${plan.maasUrl} does not answer yet (${err instanceof Error ? err.message : String(err)}); the controller is installing it`;
    if (!(err instanceof MaasUnauthorizedError) && !isRetryableMaasError(err)) throw err;
    return {
      condition: running,
      status,
      apiKeyReady: false,
      maasWaiting: {
        reason:
          err instanceof MaasUnauthorizedError ? MaasUnauthorizedReason : MaasInstallingReason,
        message,
      },
      requeueAfterMs: INSTALL_POLL_MS,
    };
  }
}

/**
 * The findings for a controller VM a capture or restore holds (`holder`): ControllerReady
 * False, reason Held, with the hold's message, which is the holder's acknowledgement; the
 * last status stands, and MAAS is not asked (its VM is stopped on purpose).
 */
export function heldController(lab: Readonly<MaasLab>, holder: string): ControllerFindings {
  const why = { reason: HeldReason, message: heldMessage(holder) };
  return {
    condition: notReady(why.reason, why.message),
    status: lab.status?.maas?.controller ?? {},
    apiKeyReady: false,
    maasWaiting: why,
    requeueAfterMs: 0,
  };
}

/** The short name of the PXE network (the node template's first interface). */
const pxeShort = (lab: Readonly<MaasLab>): string | undefined =>
  lab.spec.nodes.template?.interfaces?.[0]?.network;

/** The admin's credentials, from the user's Secret or the one we generate. */
async function adminOf(
  lab: Readonly<MaasLab>,
  plan: ControllerPlan,
  deps: ControllerDeps,
  signal: AbortSignal,
): Promise<{ username: string; password: string } | { problem: string }> {
  const namespace = lab.metadata?.namespace ?? '';
  const existing = await deps.secrets.read(namespace, plan.adminSecretName, signal);
  const username = existing?.[AdminUsernameKey];
  const password = existing?.[AdminPasswordKey];
  if (username && password) return { username, password };
  if (!plan.generateAdminSecret) {
    return {
      problem: `Secret ${plan.adminSecretName} needs keys ${AdminUsernameKey} and ${AdminPasswordKey}`,
    };
  }
  const made = {
    username: ControllerDefaults.adminUsername,
    password: deps.newPassword?.() ?? randomBytes(24).toString('base64url'),
  };
  await deps.secrets.write(
    lab,
    plan.adminSecretName,
    { [AdminUsernameKey]: made.username, [AdminPasswordKey]: made.password },
    signal,
  );
  return made;
}

/**
 * The controller's libvirt objects gone: the domain (ours by its stamp), the overlay and the
 * seed (named after it), then the finalizer. The shared base volume stays: other labs may
 * use it, and a later lab need not download it again.
 */
export async function deleteController(
  lab: Readonly<MaasLab>,
  hypervisor: Readonly<HypervisorResource> | undefined,
  deps: ControllerDeps,
  signal: AbortSignal,
): Promise<void> {
  const has = lab.metadata?.finalizers?.includes(CONTROLLER_FINALIZER) === true;
  if (!has) return;
  // Without its Hypervisor object there is no way to reach libvirt: the finalizer goes, or
  // the lab could never be deleted (the README says what is left behind then).
  if (hypervisor !== undefined) {
    const plan = controllerPlan(lab, hypervisor.spec);
    const hv = deps.hypervisorFor(hypervisor);
    const owner = controllerOwner(lab);
    const domainName =
      plan?.domainName ?? `${lab.metadata?.namespace ?? ''}.${lab.metadata?.name ?? ''}-maas`;
    await hv.deleteDomain(domainName, owner);
    const pool = plan?.pool ?? hypervisor.spec.storagePool ?? 'default';
    await hv.deleteVolumes([
      { pool, name: `${domainName}-disk.qcow2` },
      { pool, name: `${domainName}-seed.iso` },
    ]);
  }
  await deps.finalizers.dropFinalizer(lab, CONTROLLER_FINALIZER, signal);
}

/** The operator's SecretAccess over the API server: Secrets controlled by the lab. */
export function secretAccess(client: Pick<Client, 'get' | 'apply'>): SecretAccess {
  return {
    async read(namespace, name, signal) {
      const secret = await client.get<MetaObject & { data?: Record<string, string> }>(
        { apiVersion: 'v1', kind: 'Secret', namespace, name },
        signal,
      );
      if (!secret) return undefined;
      return Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [
          k,
          Buffer.from(v, 'base64').toString('utf8'),
        ]),
      );
    },
    async write(owner, name, data, signal) {
      await client.apply(
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name,
            namespace: owner.metadata?.namespace ?? '',
            ownerReferences: [
              {
                apiVersion: GroupVersion,
                kind: MaasLabKind,
                name: owner.metadata?.name ?? '',
                uid: owner.metadata?.uid ?? '',
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          type: 'Opaque',
          data: Object.fromEntries(
            Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
          ),
        },
        { fieldManager: 'maaslab', signal },
      );
    },
  };
}
