// The controller phase against the fake hypervisor, in-memory Secrets and a fetch that plays
// the image server and MAAS: the image downloaded once (and shared), checksum-checked
// (a mismatch stalls and leaves no volume), the overlay on it, the seed, the domain stamped
// by the lab and started once its networks are Ready, the API key exchanged for the admin's
// password, and the cleanup on delete that keeps the shared base.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import {
  ControllerReadyCondition,
  ImageChecksumMismatchReason,
  ImageDownloadFailedReason,
  ImageDownloadingReason,
  ImageVerifyingReason,
  ImageVolumeNotFoundReason,
  MaasInstallingReason,
  MaasUnauthorizedReason,
  type Hypervisor as HypervisorResource,
  type MaasController,
  type MaasLab,
  type VirtNetwork,
} from '../../../../src/api/v1alpha1/index.js';
import {
  CONTROLLER_FINALIZER,
  deleteController,
  reconcileController,
  type ControllerDeps,
  type ControllerFindings,
} from '../../../../src/controllers/maas/controller-vm.js';
import { baseVolumeName } from '../../../../src/controllers/maas/controller-desired.js';
import { createImageDownloads } from '../../../../src/controllers/maas/image-download.js';
import { authenticateMaas } from '../../../../src/maas/authenticate.js';
import { MaasUnauthorizedError, MaasUnavailableError } from '../../../../src/maas/errors.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';
import { recipeLab } from '../fixtures.js';

const IMAGE = Buffer.from('QFI\xfb a pretend qcow2 cloud image '.repeat(1000), 'latin1');
const SHA = createHash('sha256').update(IMAGE).digest('hex');
const IMAGE_URL = 'http://images.test/cloud.qcow2';
const MAAS_URL = 'http://10.77.0.2:5240/MAAS';
const TOKEN = {
  consumer_key: 'cK1',
  token_key: 'tK2',
  token_secret: 'sS3',
  name: 'maaslab-operator',
};

const HV: HypervisorResource = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'Hypervisor',
  metadata: { name: 'hv' },
  spec: { uri: 'fake:///system', storagePool: 'labpool' },
};

function lab(name = 'recipe', controller: Partial<MaasController> = {}): MaasLab {
  const l = recipeLab();
  return {
    ...l,
    metadata: { ...l.metadata, name, uid: `${name}-uid`, finalizers: [] },
    spec: {
      ...l.spec,
      maas: { controller: { image: { url: IMAGE_URL, sha256: SHA }, ...controller } },
    },
  };
}

const readyNet = (name: string): VirtNetwork => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'VirtNetwork',
  metadata: { name, namespace: 'maas' },
  spec: { hypervisor: 'hv' },
  status: {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Ready',
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  },
});

interface World {
  hv: FakeHypervisor;
  deps: ControllerDeps;
  secrets: Map<string, Record<string, string>>;
  finalizers: string[];
  requests: { url: string; method: string; body: string }[];
  /** What the image server serves. */
  image: Buffer;
  /** How MAAS answers accounts/authenticate/: a status, or 'down'. */
  maas: number | 'down';
}

function world(): World {
  const w: World = {
    hv: createFakeHypervisor({ pools: { labpool: '/var/lib/labpool' } }),
    secrets: new Map(),
    finalizers: [],
    requests: [],
    image: IMAGE,
    maas: 200,
  } as unknown as World;
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    w.requests.push({ url, method: init?.method ?? 'GET', body: String(init?.body ?? '') });
    if (url === IMAGE_URL) {
      // 4 KiB at a time, each after a turn of the event loop, as a network would.
      let at = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setImmediate(r));
          if (at >= w.image.length) return controller.close();
          controller.enqueue(new Uint8Array(w.image.subarray(at, at + 4096)));
          at += 4096;
        },
      });
      return new Response(body, {
        status: 200,
        headers: { 'content-length': String(w.image.length) },
      });
    }
    if (url === `${MAAS_URL}/accounts/authenticate/`) {
      if (w.maas === 'down') throw new TypeError('fetch failed');
      return w.maas === 200 ? Response.json(TOKEN) : new Response('', { status: w.maas });
    }
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
  w.deps = {
    hypervisorFor: () => w.hv,
    secrets: {
      read: async (ns, name) => w.secrets.get(`${ns}/${name}`),
      write: async (owner, name, data) => {
        w.secrets.set(`${owner.metadata?.namespace}/${name}`, { ...data });
      },
    },
    downloads: createImageDownloads({ fetch: fakeFetch }),
    finalizers: {
      ensureFinalizer: async (obj, f) => {
        w.finalizers.push(`+${f}`);
        return { changed: true, object: obj };
      },
      dropFinalizer: async (obj, f) => {
        w.finalizers.push(`-${f}`);
        return { changed: true, object: obj };
      },
    } as ControllerDeps['finalizers'],
    fetch: fakeFetch,
    newPassword: () => 'generated-password',
  };
  return w;
}

const nets = new Map([
  ['recipe-maas', readyNet('recipe-maas')],
  ['other-maas', readyNet('other-maas')],
]);
const signal = new AbortController().signal;

/** Passes until the download settles (it runs in the background). */
async function untilSettled(w: World, l: MaasLab, networks = nets): Promise<ControllerFindings> {
  for (let i = 0; i < 200; i++) {
    const f = (await reconcileController(l, HV, networks, w.deps, signal))!;
    if (f.condition.reason !== ImageDownloadingReason) return f;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('download never settled');
}

describe('controllers/maas controller phase', () => {
  it('downloads, overlays, seeds, defines and starts the controller, then stores the API key', async () => {
    const w = world();
    const l = lab();
    const first = (await reconcileController(l, HV, nets, w.deps, signal))!;
    expect(first.condition).to.deep.include({
      type: ControllerReadyCondition,
      status: 'False',
      reason: ImageDownloadingReason,
    });
    expect(first.requeueAfterMs).to.be.greaterThan(0);
    expect(w.finalizers).to.deep.equal([`+${CONTROLLER_FINALIZER}`]);
    // The admin Secret, generated once.
    expect(w.secrets.get('maas/recipe-maas-admin')).to.deep.equal({
      username: 'admin',
      password: 'generated-password',
    });
    const done = await untilSettled(w, l);
    expect(done.condition).to.deep.include({ status: 'True', reason: 'Running' });
    expect(done.apiKeyReady).to.equal(true);
    expect(done.status).to.deep.include({
      domain: 'maas.recipe-maas',
      address: '10.77.0.2',
      baseVolume: `labpool/${baseVolumeName(SHA)}`,
      adminSecretRef: { name: 'recipe-maas-admin' },
    });
    expect(w.hv.volumes()).to.have.members([
      `labpool/${baseVolumeName(SHA)}`,
      'labpool/maas.recipe-maas-disk.qcow2',
      'labpool/maas.recipe-maas-seed.iso',
    ]);
    // The overlay has the base as its backing file and diskSize as its capacity.
    const overlay = w.hv.calls
      .filter((c) => c.verb === 'ensureVolumes')
      .flatMap(
        (c) => c.args[0] as { name: string; capacityBytes: number; backingStore?: unknown }[],
      )
      .find((v) => v.name === 'maas.recipe-maas-disk.qcow2');
    expect(overlay?.capacityBytes).to.equal(40 * 1024 ** 3);
    expect(overlay?.backingStore).to.deep.equal({
      path: `/var/lib/labpool/${baseVolumeName(SHA)}`,
      format: 'qcow2',
    });
    // The domain: ours by the lab's stamp, running, logging its console beside the seed.
    const domain = await w.hv.observeDomain('maas.recipe-maas');
    expect(domain?.state).to.equal('running');
    expect(domain?.inactive.owner).to.deep.include({
      kind: 'MaasLab',
      name: 'recipe',
      uid: 'recipe-uid',
    });
    const define = w.hv.calls.find((c) => c.verb === 'defineDomain')?.args[0] as {
      serialLogFile: string;
    };
    expect(define.serialLogFile).to.equal('/var/lib/labpool/maas.recipe-maas.console.log');
    // The image came once; the key came from accounts/authenticate/ with the admin's password.
    expect(w.requests.filter((r) => r.url === IMAGE_URL)).to.have.length(1);
    const auth = w.requests.find((r) => r.url.endsWith('/accounts/authenticate/'));
    expect(auth?.method).to.equal('POST');
    expect(Object.fromEntries(new URLSearchParams(auth?.body))).to.deep.equal({
      username: 'admin',
      password: 'generated-password',
      consumer: 'maaslab-operator',
    });
    expect(w.secrets.get('maas/recipe-maas-api-key')).to.deep.equal({ 'api-key': 'cK1:tK2:sS3' });

    // A settled pass changes nothing: no upload, no define, no start, no request.
    w.hv.resetRecording();
    const finalizerWrites = w.finalizers.length;
    const again = (await reconcileController(
      { ...l, metadata: { ...l.metadata, finalizers: [CONTROLLER_FINALIZER] } },
      HV,
      nets,
      w.deps,
      signal,
    ))!;
    expect(again.apiKeyReady).to.equal(true);
    expect(w.hv.mutations).to.deep.equal([]);
    expect(w.requests.filter((r) => r.url.endsWith('/accounts/authenticate/'))).to.have.length(1);
    expect(w.finalizers).to.have.length(finalizerWrites);
    expect(new Set(w.finalizers)).to.deep.equal(new Set([`+${CONTROLLER_FINALIZER}`]));
  });

  it('reports progress as bytes done of total while downloading', async () => {
    const w = world();
    const seen: { done: number; total: number }[] = [];
    for (let i = 0; i < 500; i++) {
      const f = (await reconcileController(lab(), HV, nets, w.deps, signal))!;
      if (f.condition.reason !== ImageDownloadingReason) break;
      // The base volume exists from the first byte on; nothing is built on it meanwhile.
      expect(w.hv.volumes()).to.not.include('labpool/maas.recipe-maas-disk.qcow2');
      const image = f.status.image;
      if (image?.bytesTotal) seen.push({ done: image.bytesDone ?? 0, total: image.bytesTotal });
      await new Promise((r) => setImmediate(r));
    }
    expect(seen.length).to.be.greaterThan(2);
    expect(seen.every((p) => p.total === IMAGE.length && p.done <= p.total)).to.equal(true);
    expect(seen.map((p) => p.done)).to.deep.equal(
      [...seen.map((p) => p.done)].sort((a, b) => a - b),
    );
    expect(seen.some((p) => p.done > 0 && p.done < p.total)).to.equal(true);
  });

  it('a checksum mismatch stalls the lab (ImageChecksumMismatch) and leaves no volume', async () => {
    const w = world();
    w.image = Buffer.concat([IMAGE, Buffer.from('tampered')]);
    const f = await untilSettled(w, lab());
    expect(f.condition).to.deep.include({ status: 'False', reason: ImageChecksumMismatchReason });
    expect(f.stalled?.reason).to.equal(ImageChecksumMismatchReason);
    expect(f.stalled?.message).to.include(SHA);
    expect(w.hv.volumes()).to.deep.equal([]);
    expect(w.hv.mutations).to.include('virStorageVolDelete');
    // Not fetched again at once: a pass within the retry time does not download.
    await reconcileController(lab(), HV, nets, w.deps, signal);
    expect(w.requests.filter((r) => r.url === IMAGE_URL)).to.have.length(1);
  });

  it('an HTTP error is ImageDownloadFailed, retried later, not stalled', async () => {
    const w = world();
    const f = await untilSettled(
      w,
      lab('recipe', { image: { url: 'http://images.test/missing', sha256: SHA } }),
    );
    expect(f.condition).to.deep.include({ reason: ImageDownloadFailedReason });
    expect(f.condition.message).to.include('HTTP 404');
    expect(f.stalled).to.equal(undefined);
    expect(f.requeueAfterMs).to.be.greaterThan(0);
  });

  it('two labs with the same image share one base volume, downloaded once', async () => {
    const w = world();
    await untilSettled(w, lab('recipe'));
    const other = await untilSettled(w, lab('other'));
    expect(other.condition.status).to.equal('True');
    expect(w.requests.filter((r) => r.url === IMAGE_URL)).to.have.length(1);
    expect(w.hv.volumes().filter((v) => v.includes('maaslab-base-'))).to.have.length(1);
    expect(w.hv.volumes()).to.include('labpool/maas.other-maas-disk.qcow2');
  });

  describe('a base volume found on the host, which this process did not write', () => {
    const BASE = `labpool/${baseVolumeName(SHA)}`;
    /** Passes until the image is neither being checked nor downloaded; the reasons seen. */
    async function untilBaseSettled(w: World, l: MaasLab): Promise<string[]> {
      const reasons: string[] = [];
      for (let i = 0; i < 400; i++) {
        const f = (await reconcileController(l, HV, nets, w.deps, signal))!;
        reasons.push(f.condition.reason);
        const waiting = [ImageDownloadingReason, ImageVerifyingReason, ImageDownloadFailedReason];
        if (!waiting.includes(f.condition.reason)) return reasons;
        await new Promise((r) => setImmediate(r));
      }
      throw new Error(`never settled: ${reasons.slice(-5).join(', ')}`);
    }
    const hashes = (w: World) => w.hv.calls.filter((c) => c.verb === 'hashVolume').length;

    it('half-written (an operator stopped mid-download): hashed, removed, downloaded again', async () => {
      const w = world();
      w.hv.external.writeVolume(
        'labpool',
        baseVolumeName(SHA),
        IMAGE.subarray(0, 5000),
        IMAGE.length,
      );
      const reasons = await untilBaseSettled(w, lab());
      expect(reasons[0]).to.equal(ImageVerifyingReason);
      expect(reasons).to.include(ImageDownloadingReason);
      expect(w.requests.filter((r) => r.url === IMAGE_URL)).to.have.length(1);
      expect(w.hv.mutations).to.include('virStorageVolDelete');
      // What is there now is the whole image, and the overlay is on it.
      expect(await w.hv.hashVolume('labpool', baseVolumeName(SHA))).to.equal(SHA);
      expect(w.hv.volumes()).to.include.members([BASE, 'labpool/maas.recipe-maas-disk.qcow2']);
      // Written by this process: not hashed again for the next lab.
      const before = hashes(w);
      await untilBaseSettled(w, lab('other'));
      expect(hashes(w)).to.equal(before);
    });

    it('whole: hashed once, used as it is, never downloaded', async () => {
      const w = world();
      w.hv.external.writeVolume('labpool', baseVolumeName(SHA), IMAGE);
      const reasons = await untilBaseSettled(w, lab());
      expect(reasons.filter((r) => r === ImageDownloadingReason)).to.deep.equal([]);
      expect(w.requests.filter((r) => r.url === IMAGE_URL)).to.deep.equal([]);
      expect(w.hv.volumes()).to.include('labpool/maas.recipe-maas-disk.qcow2');
      await untilBaseSettled(w, lab('other'));
      expect(hashes(w)).to.equal(1);
    });

    it("with the lab's overlay already on it (an operator restarted): not read again", async () => {
      const w = world();
      // A truncated base would be refused if it were checked: it is not, as its overlay shows
      // that the process that made the overlay had checked it.
      w.hv.external.writeVolume('labpool', baseVolumeName(SHA), IMAGE.subarray(0, 10));
      w.hv.external.writeVolume('labpool', 'maas.recipe-maas-disk.qcow2', Buffer.alloc(0));
      await untilBaseSettled(w, lab());
      expect(hashes(w)).to.equal(0);
      expect(w.requests.filter((r) => r.url === IMAGE_URL)).to.deep.equal([]);
    });
  });

  it('an image volume that is not there is ImageVolumeNotFound', async () => {
    const w = world();
    const f = (await reconcileController(
      lab('recipe', { image: { volume: 'noble.qcow2' } }),
      HV,
      nets,
      w.deps,
      signal,
    ))!;
    expect(f.condition).to.deep.include({ reason: ImageVolumeNotFoundReason });
    expect(f.condition.message).to.include('noble.qcow2');
  });

  it('waits for the lab networks to be Ready before starting the domain', async () => {
    const w = world();
    const f = await untilSettled(w, lab(), new Map());
    expect(f.condition).to.deep.include({ status: 'False' });
    expect(f.condition.message).to.include('waiting for lab networks maas');
    expect((await w.hv.observeDomain('maas.recipe-maas'))?.state).to.equal('shutoff');
  });

  it('while MAAS is installing (no answer, or 403 before the admin exists) it waits and polls', async () => {
    const w = world();
    w.maas = 'down';
    const down = await untilSettled(w, lab());
    expect(down.condition.status).to.equal('True');
    expect(down.apiKeyReady).to.equal(false);
    expect(down.maasWaiting?.reason).to.equal(MaasInstallingReason);
    expect(down.stalled).to.equal(undefined);
    expect(down.requeueAfterMs).to.be.greaterThan(0);
    w.maas = 403;
    const refused = (await reconcileController(lab(), HV, nets, w.deps, signal))!;
    expect(refused.maasWaiting?.reason).to.equal(MaasUnauthorizedReason);
    expect(w.secrets.has('maas/recipe-maas-api-key')).to.equal(false);
    w.maas = 200;
    const up = (await reconcileController(lab(), HV, nets, w.deps, signal))!;
    expect(up.apiKeyReady).to.equal(true);
  });

  it("a user's adminSecretRef is read, never generated; missing keys wait", async () => {
    const w = world();
    const l = lab('recipe', { adminSecretRef: { name: 'mine' } });
    const f = (await reconcileController(l, HV, nets, w.deps, signal))!;
    expect(f.condition.message).to.include('Secret mine needs keys username and password');
    expect(w.secrets.has('maas/mine')).to.equal(false);
    w.secrets.set('maas/mine', { username: 'root', password: 'pw' });
    const done = await untilSettled(w, l);
    expect(done.apiKeyReady).to.equal(true);
    const auth = w.requests.find((r) => r.url.endsWith('/accounts/authenticate/'));
    expect(new URLSearchParams(auth?.body).get('username')).to.equal('root');
  });

  it('a misdeclared controller stalls before anything is made', async () => {
    const w = world();
    const f = (await reconcileController(
      lab('recipe', { address: '10.9.9.9' }),
      HV,
      nets,
      w.deps,
      signal,
    ))!;
    expect(f.stalled?.reason).to.equal('ControllerMisdeclared');
    expect(w.hv.mutations).to.deep.equal([]);
    expect(w.finalizers).to.deep.equal([]);
  });

  it('delete removes the domain, overlay and seed, keeps the shared base, then drops the finalizer', async () => {
    const w = world();
    await untilSettled(w, lab());
    const deleting = {
      ...lab(),
      metadata: { ...lab().metadata, finalizers: [CONTROLLER_FINALIZER] },
    };
    await deleteController(deleting, HV, w.deps, signal);
    expect(await w.hv.observeDomain('maas.recipe-maas')).to.equal(undefined);
    expect(w.hv.volumes()).to.deep.equal([`labpool/${baseVolumeName(SHA)}`]);
    expect(w.finalizers.at(-1)).to.equal(`-${CONTROLLER_FINALIZER}`);
    // Without the finalizer there is nothing to do.
    w.hv.resetRecording();
    await deleteController(lab(), HV, w.deps, signal);
    expect(w.hv.calls).to.deep.equal([]);
  });
});

describe('maas/authenticate', () => {
  it('POSTs username, password and consumer and joins the token into consumer:token:secret', async () => {
    let seen: { url: string; init?: RequestInit } | undefined;
    const key = await authenticateMaas(
      'http://maas.test:5240/MAAS/',
      { username: 'admin', password: 'p&w=d' },
      {
        fetch: (async (url: string | URL | Request, init?: RequestInit) => {
          seen = { url: String(url), init };
          return Response.json(TOKEN);
        }) as typeof fetch,
      },
    );
    expect(key).to.equal('cK1:tK2:sS3');
    expect(seen?.url).to.equal('http://maas.test:5240/MAAS/accounts/authenticate/');
    expect(String(seen?.init?.body)).to.equal(
      'username=admin&password=p%26w%3Dd&consumer=maaslab-operator',
    );
  });

  it('403 is MaasUnauthorizedError, a refused connection MaasUnavailableError', async () => {
    const answer = (r: () => Response) =>
      authenticateMaas(
        'http://m/MAAS',
        { username: 'a', password: 'b' },
        {
          fetch: (async () => r()) as unknown as typeof fetch,
        },
      );
    await answer(() => new Response('', { status: 403 })).then(
      () => expect.fail('accepted'),
      (e: unknown) => expect(e).to.be.instanceOf(MaasUnauthorizedError),
    );
    await answer(() => {
      throw new TypeError('fetch failed');
    }).then(
      () => expect.fail('accepted'),
      (e: unknown) => expect(e).to.be.instanceOf(MaasUnavailableError),
    );
    await answer(() => Response.json({ consumer_key: 'x' })).then(
      () => expect.fail('accepted'),
      (e: unknown) => expect((e as Error).message).to.include('token_secret'),
    );
  });
});
