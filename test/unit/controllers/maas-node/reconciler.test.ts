// The MaasNode reconciler's decision paths against the in-memory FakeHypervisor, with tiny
// in-memory caches and a client that writes back into them. The real kube-apiserver and
// libvirtd paths are in test/integration/controllers/maas-node.test.ts.
import { expect } from 'chai';
import {
  HeldReason,
  heldMessage,
  HoldAnnotation,
  type MaasNode,
  type VirtNetwork,
} from '../../../../src/api/v1alpha1/index.js';
import {
  createMaasNodeReconciler,
  nodesForDomain,
} from '../../../../src/controllers/maas-node/reconciler.js';
import { STARTED_ONCE_ANNOTATION } from '../../../../src/controllers/maas-node/scope.js';
import { virtNetworkOf } from '../../../../src/controllers/maas-node/watches.js';
import { createNodeMemory, type NodeMemory } from '../../../../src/controllers/maas-node/memory.js';
import { desiredNetwork, networkOwner } from '../../../../src/controllers/virt-network/desired.js';
import { NetworkEventLifecycleType } from '../../../../src/libvirt/constants.js';
import type { ObservedDomain } from '../../../../src/libvirt/index.js';
import { buildDomainXml } from '../../../../src/libvirt/xml/index.js';
import { CLEANUP_FINALIZER } from '../../../../src/runtime/controller/objects.js';
import { ConflictError, isTerminalError } from '../../../../src/runtime/controller/reconcile.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';
import { node } from '../fixtures.js';
import {
  cond,
  fakeClient,
  hypervisorResource,
  key,
  onCall,
  readyCondition,
  readyNetwork,
  signal,
  store,
  withFinalizer,
} from '../reconciler-support.js';

describe('controllers/maas-node reconciler (FakeHypervisor)', () => {
  let hv: FakeHypervisor;
  let nodes: ReturnType<typeof store<MaasNode>>;
  let networks: ReturnType<typeof store<VirtNetwork>>;
  const clock = createFakeClock();

  const reconciler = () =>
    createMaasNodeReconciler({
      caches: { nodes, networks, hypervisors: store(hypervisorResource) },
      hypervisorFor: () => hv,
      client: fakeClient(nodes),
      annotate: async (n, k, v) => {
        const cur = nodes.get(key(n.metadata?.name ?? '')) as MaasNode;
        nodes.put({
          ...cur,
          metadata: { ...cur.metadata, annotations: { ...cur.metadata?.annotations, [k]: v } },
        });
      },
      events: { record: () => undefined },
      clock,
      shutdownTimeoutMs: 30_000,
    });
  const spec = {
    disks: [{ name: 'root', size: '8Gi' }],
    interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:01' }],
  };

  /**
   * Node `n1` (finalizer on) whose VirtNetwork `maas` has no Ready status yet, and a reconciler
   * with a node memory, so that libvirt's network events can be played to it.
   */
  const waitingOnNetworkStatus = (
    host: (pending: VirtNetwork, memory: NodeMemory) => FakeHypervisor = () => hv,
  ) => {
    const pending = { ...readyNetwork('maas'), status: {} };
    networks = store(pending);
    const memory = createNodeMemory();
    const seen = host(pending, memory);
    const r = createMaasNodeReconciler({
      caches: { nodes, networks, hypervisors: store(hypervisorResource) },
      hypervisorFor: () => seen,
      client: fakeClient(nodes),
      annotate: async () => undefined,
      events: { record: () => undefined },
      clock,
      memory,
    });
    nodes.put(withFinalizer(node('n1', spec)));
    return { pending, memory, r };
  };
  /** Stamps node `name` in the cache with a deletionTimestamp, as a DELETE of it would. */
  const markDeleted = (name: string): void => {
    const cur = nodes.get(key(name)) as MaasNode;
    nodes.put({
      ...cur,
      metadata: { ...cur.metadata, deletionTimestamp: new Date('2026-01-01T00:00:00Z') },
    });
  };
  /** Defines and starts `v`'s network in the fake libvirt, as its controller would. */
  const startInLibvirt = (v: VirtNetwork) =>
    hv.ensureNetwork({ ...desiredNetwork(v), owner: networkOwner(v), autostart: true });

  beforeEach(() => {
    hv = createFakeHypervisor();
    networks = store(readyNetwork('maas'));
    nodes = store<MaasNode>();
  });

  it('adds the finalizer before touching libvirt, and goes on in the same pass', async () => {
    nodes.put(node('n1', spec));
    const touchedLibvirt: boolean[] = [];
    const client = fakeClient(nodes);
    const r = createMaasNodeReconciler({
      caches: { nodes, networks, hypervisors: store(hypervisorResource) },
      hypervisorFor: () => hv,
      client: {
        ...client,
        ensureFinalizer: async (...args) => {
          touchedLibvirt.push(hv.calls.length > 0);
          return client.ensureFinalizer(...args);
        },
      },
      annotate: async () => undefined,
      events: { record: () => undefined },
      clock,
    });
    await r.reconcile(key('n1'), signal);
    expect(touchedLibvirt).to.deep.equal([false]);
    const n = nodes.get(key('n1'));
    expect(n?.metadata?.finalizers).to.deep.equal([CLEANUP_FINALIZER]);
    expect(hv.mutations).to.include('virDomainCreateWithFlags');
    expect(n?.status?.printableStatus).to.equal('Running');
  });

  it('makes volumes and the definition while its networks come up, and starts only once they are Ready', async () => {
    networks = store({ ...readyNetwork('maas'), status: {} });
    nodes.put(withFinalizer(node('n1', spec)));
    await reconciler().reconcile(key('n1'), signal);
    const n = nodes.get(key('n1'));
    expect(cond(n, 'Ready')).to.include({ status: 'False', reason: 'NetworkNotReady' });
    expect(cond(n, 'Reconciling')).to.include({ status: 'True', reason: 'NetworkNotReady' });
    expect(hv.mutations).to.deep.equal(['virStorageVolCreateXML', 'virDomainDefineXMLFlags']);
    // What it just defined is off: no second look while waiting, and no UUID to show yet.
    expect(hv.calls.map((c) => c.verb)).to.deep.equal([
      'hostInfo',
      'observeDomain',
      'ensureVolumes',
      'defineDomain',
    ]);
    // No domain yet: its volumes are expected absent (created without a look first).
    const ensured = (): readonly unknown[] | undefined =>
      hv.calls.find((c) => c.verb === 'ensureVolumes')?.args;
    expect(ensured()?.[1]).to.deep.equal({ expectAbsent: true });
    expect(n?.status?.state).to.equal('shutoff');
    expect(n?.status?.uuid).to.equal(undefined);
    // The network is Ready: the next pass starts the domain, and nothing else.
    networks = store(readyNetwork('maas'));
    hv.resetRecording();
    await reconciler().reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal(['virDomainCreateWithFlags']);
    // The domain is there now: its volumes are looked up first.
    expect(ensured()).to.have.length(1);
    expect(nodes.get(key('n1'))?.status?.printableStatus).to.equal('Running');
  });

  it('starts before its network is Ready in the cache once libvirt said it started and runs it as specified', async () => {
    // The VirtNetwork's controller has started the network; its Ready status is on its way.
    const { pending, memory, r } = waitingOnNetworkStatus();
    await startInLibvirt(pending);
    // No Started event seen: libvirt is not asked, the node waits for the status as before.
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.calls.map((c) => c.verb)).to.not.include('observeNetwork');
    expect(cond(nodes.get(key('n1')), 'Ready')).to.include({ reason: 'NetworkNotReady' });
    // libvirt said Started: the pass looks at the network, finds it as specified, and starts.
    memory.networkEvent('local', 'maas.maas', NetworkEventLifecycleType.Started);
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.calls.map((c) => c.verb)).to.include('observeNetwork');
    expect(hv.mutations).to.deep.equal(['virDomainCreateWithFlags']);
    const n = nodes.get(key('n1'));
    expect(n?.status?.printableStatus).to.equal('Running');
    expect(cond(n, 'Ready')).to.include({ status: 'True', reason: 'Reconciled' });
  });

  it('lets the nodes one Started event woke share one look at the network, and starts them all', async () => {
    // Both passes reach the network while a look at it is under way.
    let lookBegun: () => void = () => undefined;
    const bothAsked = new Promise<void>((resolve) => (lookBegun = resolve));
    const { pending, memory, r } = waitingOnNetworkStatus(() =>
      onCall(hv, 'observeNetwork', () => bothAsked),
    );
    nodes.put(
      withFinalizer(
        node('n2', { ...spec, interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:02' }] }),
      ),
    );
    await startInLibvirt(pending);
    memory.networkEvent('local', 'maas.maas', NetworkEventLifecycleType.Started);
    hv.resetRecording();
    const passes = Promise.all([r.reconcile(key('n1'), signal), r.reconcile(key('n2'), signal)]);
    // Until both passes have asked, the one look waits.
    for (
      let i = 0;
      i < 50 && hv.mutations.filter((m) => m === 'virDomainDefineXMLFlags').length < 2;
      i++
    ) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    lookBegun();
    await passes;
    expect(hv.calls.filter((c) => c.verb === 'observeNetwork')).to.have.length(1);
    expect(hv.mutations.filter((m) => m === 'virDomainCreateWithFlags')).to.have.length(2);
    for (const name of ['n1', 'n2']) {
      expect(nodes.get(key(name))?.status?.printableStatus, name).to.equal('Running');
    }
  });

  it('starts in the pass that defined it when its network started while the definition was made', async () => {
    // libvirt starts the network (and says so) while this pass makes the definition.
    const { r } = waitingOnNetworkStatus((pending, memory) =>
      onCall(hv, 'defineDomain', async () => {
        await startInLibvirt(pending);
        memory.networkEvent('local', 'maas.maas', NetworkEventLifecycleType.Started);
      }),
    );
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    // One pass: define, then look at the network libvirt said started, then start.
    const verbs = hv.calls.map((c) => c.verb);
    expect(verbs.indexOf('defineDomain')).to.be.lessThan(verbs.indexOf('observeNetwork'));
    expect(hv.mutations.filter((m) => m.startsWith('virDomain'))).to.deep.equal([
      'virDomainDefineXMLFlags',
      'virDomainCreateWithFlags',
    ]);
    const n = nodes.get(key('n1'));
    expect(n?.status?.printableStatus).to.equal('Running');
    expect(cond(n, 'Ready')).to.include({ status: 'True', reason: 'Reconciled' });
  });

  describe('the report of a pass that read the cache before its last report came back', () => {
    /** Status writes locked to a resourceVersion, as the API server does; the versions written. */
    const lockingClient = () => {
      const written: Array<string | undefined> = [];
      const client: ReturnType<typeof fakeClient<MaasNode>> = {
        ...fakeClient(nodes),
        patchStatus: async (obj, status) => {
          const cur = nodes.get(key(obj.metadata?.name ?? ''))!;
          if (obj.metadata?.resourceVersion !== cur.metadata?.resourceVersion) {
            throw new ConflictError(`status of ${obj.metadata?.name} not written (409)`);
          }
          written.push(obj.metadata?.resourceVersion);
          const metadata = { ...cur.metadata, resourceVersion: '102' };
          nodes.put({ ...cur, metadata, status: status as MaasNode['status'] });
          return { changed: true, object: obj };
        },
      };
      return { client, written };
    };
    /**
     * n1 read at resourceVersion 1 with no status; while the pass looks at libvirt, the watch
     * event of its previous report (resourceVersion 101, `change` on top) reaches the cache.
     */
    const passBehindItsReport = (change: Partial<NonNullable<MaasNode['metadata']>>) => {
      const read = withFinalizer(node('n1', spec));
      nodes.put({ ...read, metadata: { ...read.metadata, resourceVersion: '1' } });
      const reported: MaasNode = {
        ...read,
        metadata: { ...read.metadata, resourceVersion: '101', ...change },
        status: { printableStatus: 'Running', conditions: readyCondition },
      };
      const eventArrives = onCall(hv, 'observeDomain', () => nodes.put(reported));
      const { client, written } = lockingClient();
      const r = createMaasNodeReconciler({
        caches: { nodes, networks, hypervisors: store(hypervisorResource) },
        hypervisorFor: () => eventArrives,
        client,
        annotate: async () => undefined,
        events: { record: () => undefined },
        clock,
      });
      return { run: () => r.reconcile(key('n1'), signal), written };
    };

    it('is computed against, and locked to, the newer copy when only its status changed', async () => {
      const { run, written } = passBehindItsReport({});
      await run();
      expect(written).to.deep.equal(['101']);
      const n = nodes.get(key('n1'));
      expect(n?.status?.printableStatus).to.equal('Running');
      // Ready stayed True: the condition keeps the newer copy's transition time.
      expect(cond(n, 'Ready')).to.include({
        status: 'True',
        lastTransitionTime: readyCondition[0]?.lastTransitionTime,
      });
    });

    it('keeps the lock of what the pass read when more than status changed: 409, observe again', async () => {
      const { run, written } = passBehindItsReport({ annotations: { 'example.com/note': 'new' } });
      let thrown: unknown;
      await run().catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(ConflictError);
      expect(written).to.deep.equal([]);
    });
  });

  it('keeps waiting when the started network of its name is not what the VirtNetwork asks for', async () => {
    const { pending, memory, r } = waitingOnNetworkStatus();
    // Ours by name, but an earlier VirtNetwork's (another UID): not this one's network.
    const earlier = { ...pending, metadata: { ...pending.metadata, uid: 'earlier-uid' } };
    await startInLibvirt(earlier);
    memory.networkEvent('local', 'maas.maas', NetworkEventLifecycleType.Started);
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.calls.map((c) => c.verb)).to.include('observeNetwork');
    expect(hv.mutations).to.not.include('virDomainCreateWithFlags');
    expect(cond(nodes.get(key('n1')), 'Ready')).to.include({
      status: 'False',
      reason: 'NetworkNotReady',
    });
  });

  it('a held node (maaslab.dev/hold) takes no action, keeps its last facts and says who holds it', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    await reconciler().reconcile(key('n1'), signal);
    expect(nodes.get(key('n1'))?.status?.printableStatus).to.equal('Running');
    // The holder stops the domain and removes its volume; a pass of ours must not undo either.
    const cur = nodes.get(key('n1'))!;
    nodes.put({
      ...cur,
      metadata: { ...cur.metadata, annotations: { [HoldAnnotation]: 'MaasLabSnapshot/golden' } },
    });
    hv.external.destroy('maas.n1');
    await hv.deleteVolumes([{ pool: 'default', name: 'maas.n1-root.qcow2' }]);
    hv.resetRecording();
    await reconciler().reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal([]);
    expect(hv.calls).to.deep.equal([]);
    const held = nodes.get(key('n1'));
    expect(cond(held, 'Reconciling')).to.include({
      status: 'True',
      reason: HeldReason,
      message: heldMessage('MaasLabSnapshot/golden'),
    });
    expect(cond(held, 'Ready')).to.include({ status: 'False', reason: HeldReason });
    expect(held?.status?.state).to.equal('running'); // the last look, not a guess
    // Released: the node makes what is missing again and starts (runStrategy Always).
    nodes.put({ ...held!, metadata: { ...held!.metadata, annotations: {} } });
    await reconciler().reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal(['virStorageVolCreateXML', 'virDomainCreateWithFlags']);
    expect(nodes.get(key('n1'))?.status?.printableStatus).to.equal('Running');
  });

  it('takes no power action while a network is not Ready (a running domain is left alone)', async () => {
    nodes.put(withFinalizer(node('n1', { ...spec, runStrategy: 'Halted' })));
    await reconciler().reconcile(key('n1'), signal);
    await hv.start('maas.n1', { kind: 'MaasNode', namespace: 'maas', name: 'n1', uid: 'n1-uid' });
    networks = store({ ...readyNetwork('maas'), status: {} });
    hv.resetRecording();
    await reconciler().reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal([]);
    expect(nodes.get(key('n1'))?.status?.state).to.equal('running');
  });

  it('creates volumes and domain, starts it, and reports status and power fields', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    const result = await reconciler().reconcile(key('n1'), signal);
    expect(result.requeueAfterMs).to.equal(600_000);
    expect(hv.mutations).to.include.members([
      'virStorageVolCreateXML',
      'virDomainDefineXMLFlags',
      'virDomainCreateWithFlags',
    ]);
    const n = nodes.get(key('n1'));
    expect(n?.status?.printableStatus).to.equal('Running');
    expect(cond(n, 'Ready')?.status).to.equal('True');
    expect(n?.status?.interfaces?.[0]).to.include({ network: 'maas', mac: '52:54:00:7f:04:01' });
    expect(n?.status?.power).to.deep.equal({
      type: 'virsh',
      address: 'qemu+ssh://maas@host/system',
      id: 'maas.n1',
    });
    // Path and capacity come from the pool (what ensureVolumes found), not from the spec.
    expect(n?.status?.disks).to.deep.equal([
      {
        name: 'root',
        volume: 'maas.n1-root.qcow2',
        path: '/var/lib/libvirt/images/maas.n1-root.qcow2',
        capacity: '8Gi',
      },
    ]);
    // A second pass is a no-op, and reads the domain once: nothing changed to read again.
    hv.resetRecording();
    await reconciler().reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal([]);
    expect(hv.calls.filter((c) => c.verb === 'observeDomain')).to.have.length(1);
    expect(nodes.get(key('n1'))?.status?.state).to.equal('running');
  });

  it('looks after the first start of a domain it defined from what it defined, reading no definition', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    await reconciler().reconcile(key('n1'), signal);
    const looks = hv.calls.filter((c) => c.verb === 'observeDomain');
    expect(looks.map((c) => c.args.length)).to.deep.equal([1, 2]);
    // What the definition left: the name and stamp, no UUID yet, off, persistent.
    const since = looks[1]?.args[1] as ObservedDomain;
    expect(since).to.deep.include({
      name: 'maas.n1',
      uuid: '',
      state: 'shutoff',
      persistent: true,
    });
    expect(since.owner).to.include({ kind: 'MaasNode', name: 'n1' });
    expect(nodes.get(key('n1'))?.status?.printableStatus).to.equal('Running');
  });

  it('tells one pass in one Event: volumes, definition and start together', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    const recorded: Array<{ type: string; reason: string; note?: string }> = [];
    const r = createMaasNodeReconciler({
      caches: { nodes, networks, hypervisors: store(hypervisorResource) },
      hypervisorFor: () => hv,
      client: fakeClient(nodes),
      annotate: async () => undefined,
      events: { record: (e) => void recorded.push(e) },
      clock,
    });
    await r.reconcile(key('n1'), signal);
    expect(recorded).to.have.length(1);
    expect(recorded[0]).to.include({ type: 'Normal', reason: 'Started' });
    expect(recorded[0]?.note).to.equal(
      'created volumes maas.n1-root.qcow2; defined domain maas.n1; started the domain (maas.n1)',
    );
    // A pass that changes nothing tells nothing.
    await r.reconcile(key('n1'), signal);
    expect(recorded).to.have.length(1);
  });

  it('reads a new domain once more, after define and start, and reports what it read', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    await reconciler().reconcile(key('n1'), signal);
    const verbs = hv.calls.map((c) => c.verb);
    // First look (absent), then after the definition and the start together.
    expect(verbs).to.deep.equal([
      'hostInfo',
      'observeDomain',
      'ensureVolumes',
      'defineDomain',
      'start',
      'observeDomain',
    ]);
    const n = nodes.get(key('n1'));
    expect(n?.status?.uuid).to.equal((await hv.observeDomain('maas.n1'))?.uuid);
    expect(n?.status?.state).to.equal('running');
  });

  it('reads a new domain right after its definition when it stays off (runStrategy Halted)', async () => {
    nodes.put(withFinalizer(node('n1', { ...spec, runStrategy: 'Halted' })));
    await reconciler().reconcile(key('n1'), signal);
    const verbs = hv.calls.map((c) => c.verb);
    expect(verbs.slice(-2)).to.deep.equal(['defineDomain', 'observeDomain']);
    const n = nodes.get(key('n1'));
    expect(n?.status?.uuid).to.equal((await hv.observeDomain('maas.n1'))?.uuid);
    expect(n?.status?.state).to.equal('shutoff');
  });

  it('Halted/Shutdown: ACPI first, requeue for the grace period, then destroy', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    const r = reconciler();
    await r.reconcile(key('n1'), signal);
    nodes.put({
      ...(nodes.get(key('n1')) as MaasNode),
      spec: { ...spec, hypervisor: 'local', runStrategy: 'Halted' },
    });
    hv.resetRecording();
    const first = await r.reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal(['virDomainShutdownFlags']);
    expect(first.requeueAfterMs).to.equal(30_000);
    clock.advance(30_001);
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal(['virDomainDestroyFlags']);
    const n = nodes.get(key('n1'));
    expect(n?.status?.printableStatus).to.equal('Stopped');
    expect(cond(n, 'Ready')).to.include({ status: 'True', reason: 'Halted' });
  });

  it('Once: starts after creation, remembers it in an annotation, never again', async () => {
    nodes.put(withFinalizer(node('n1', { ...spec, runStrategy: 'Once' })));
    const r = reconciler();
    await r.reconcile(key('n1'), signal);
    expect(hv.mutations).to.include('virDomainCreateWithFlags');
    expect(nodes.get(key('n1'))?.metadata?.annotations?.[STARTED_ONCE_ANNOTATION]).to.be.a(
      'string',
    );
    hv.external.guestPowerOff('maas.n1');
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal([]);
    expect(nodes.get(key('n1'))?.status?.printableStatus).to.equal('Stopped');
  });

  it('power-cycles once for a new restartToken, even when the next pass reads a stale cache', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    const r = reconciler();
    await r.reconcile(key('n1'), signal);
    const running = nodes.get(key('n1')) as MaasNode;
    const withToken: MaasNode = { ...running, spec: { ...running.spec, restartToken: 'one' } };
    nodes.put(withToken);
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal(['virDomainDestroyFlags', 'virDomainCreateWithFlags']);
    expect(nodes.get(key('n1'))?.status?.lastRestartToken).to.equal('one');

    // The power-cycle's domain events wake a pass before the informer has seen that status write.
    nodes.put(withToken);
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal([]);
    expect(nodes.get(key('n1'))?.status?.lastRestartToken).to.equal('one');
  });

  it('never touches a foreign domain of its name: Stalled NameConflict, TerminalError', async () => {
    hv.external.defineDomain(
      buildDomainXml({
        name: 'maas.n1',
        type: 'qemu',
        memoryBytes: 128 * 1024 * 1024,
        vcpus: 1,
        arch: 'x86_64',
        firmware: 'bios',
        bootOrder: [],
        disks: [],
        interfaces: [],
      }),
    );
    nodes.put(withFinalizer(node('n1', spec)));
    hv.resetRecording();
    const err = await reconciler()
      .reconcile(key('n1'), signal)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isTerminalError(err)).to.equal(true);
    expect(hv.mutations).to.deep.equal([]);
    const n = nodes.get(key('n1'));
    expect(cond(n, 'Stalled')).to.include({ status: 'True', reason: 'NameConflict' });
    expect(n?.status?.printableStatus).to.equal('Failed');
  });

  it('cloneFrom: waits for the source to halt, then copies its volumes with new MACs', async () => {
    nodes.put(withFinalizer(node('src', spec)));
    const r = reconciler();
    await r.reconcile(key('src'), signal);
    nodes.put(
      withFinalizer(
        node('copy', { cloneFrom: { name: 'src' }, interfaces: [{ network: 'maas' }] }),
      ),
    );
    hv.resetRecording();
    const wait = await r.reconcile(key('copy'), signal);
    expect(wait.requeueAfterMs).to.equal(10_000);
    expect(cond(nodes.get(key('copy')), 'Reconciling')?.reason).to.equal('CloneSourceNotHalted');
    expect(hv.mutations).to.deep.equal([]);

    hv.external.destroy('maas.src');
    hv.resetRecording();
    await r.reconcile(key('copy'), signal);
    const ensure = hv.calls.find((c) => c.verb === 'ensureVolumes');
    expect(JSON.stringify(ensure?.args[0])).to.contain('"cloneFrom"');
    expect(hv.volumes()).to.include('default/maas.copy-root.qcow2');
    const copy = nodes.get(key('copy'));
    expect(copy?.status?.interfaces?.[0]?.mac).to.match(/^52:54:00:/);
    expect(copy?.status?.interfaces?.[0]?.mac).to.not.equal('52:54:00:7f:04:01');
  });

  it('deletion: deleteDomain, then only Delete-policy volumes, then the finalizer', async () => {
    const twoDisks = {
      ...spec,
      disks: [
        { name: 'root', size: '8Gi' },
        { name: 'data', size: '1Gi', deletionPolicy: 'Retain' as const },
      ],
    };
    nodes.put(withFinalizer(node('n1', twoDisks)));
    const r = reconciler();
    await r.reconcile(key('n1'), signal);
    markDeleted('n1');
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.calls.map((c) => c.verb)).to.include.ordered.members([
      'deleteDomain',
      'deleteVolumes',
    ]);
    expect(hv.volumes()).to.deep.equal(['default/maas.n1-data.qcow2']);
    expect(nodes.get(key('n1'))?.metadata?.finalizers).to.deep.equal([]);
  });

  it('a UEFI node: its domain names the NVRAM in the pool; deletion removes the NVRAM, a BIOS node asks for none', async () => {
    nodes.put(withFinalizer(node('n1', { ...spec, firmware: 'uefi' })));
    const r = reconciler();
    await r.reconcile(key('n1'), signal);
    const defined = hv.calls.find((c) => c.verb === 'defineDomain')?.args[0] as {
      nvram?: unknown;
    };
    expect(defined.nvram).to.deep.equal({ pool: 'default', volume: 'maas.n1-VARS.fd' });
    // Never made through the storage API: libvirt copies the firmware's template at start.
    expect(hv.volumes()).to.deep.equal(['default/maas.n1-root.qcow2']);
    // A settled UEFI node sees no drift in its own definition read back.
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.mutations).to.deep.equal([]);
    // As libvirt would have made it at the first start.
    await hv.ensureVolumes([
      { pool: 'default', name: 'maas.n1-VARS.fd', format: 'raw', capacityBytes: 540672 },
    ]);
    markDeleted('n1');
    hv.resetRecording();
    await r.reconcile(key('n1'), signal);
    expect(hv.calls.find((c) => c.verb === 'deleteVolumes')?.args[0]).to.deep.equal([
      { pool: 'default', name: 'maas.n1-root.qcow2' },
      { pool: 'default', name: 'maas.n1-VARS.fd', madeOutside: true },
    ]);
    expect(hv.volumes()).to.deep.equal([]);
    // BIOS: nothing about NVRAM, in the definition or the deletion.
    nodes.put(withFinalizer(node('n2', spec)));
    await r.reconcile(key('n2'), signal);
    const bios = hv.calls.filter((c) => c.verb === 'defineDomain').at(-1)?.args[0] as {
      nvram?: unknown;
    };
    expect(bios.nvram).to.equal(undefined);
  });
});

describe('controllers/maas-node nodesForDomain (domain event → node, no scan)', () => {
  const nodes = store<MaasNode>(
    node('n1'),
    node('n2', { domainName: 'custom-vm' }),
    node('n3', { hypervisor: 'other' }),
  );
  const explicit = new Map([['custom-vm', new Set(['maas/n2'])]]);

  it('finds a node by its default domain name <namespace>.<name>', () => {
    expect(nodesForDomain(nodes, explicit, 'local', 'maas.n1')).to.deep.equal([
      { namespace: 'maas', name: 'n1' },
    ]);
  });

  it('finds a node by its spec.domainName through the index, and not by its default name', () => {
    expect(nodesForDomain(nodes, explicit, 'local', 'custom-vm')).to.deep.equal([
      { namespace: 'maas', name: 'n2' },
    ]);
    expect(nodesForDomain(nodes, explicit, 'local', 'maas.n2')).to.deep.equal([]);
  });

  it("ignores other hypervisors' nodes and unknown or foreign domains", () => {
    expect(nodesForDomain(nodes, explicit, 'local', 'maas.n3')).to.deep.equal([]);
    expect(nodesForDomain(nodes, explicit, 'other', 'maas.n3')).to.deep.equal([
      { namespace: 'maas', name: 'n3' },
    ]);
    expect(nodesForDomain(nodes, explicit, 'local', 'maas.nope')).to.deep.equal([]);
    expect(nodesForDomain(nodes, explicit, 'local', 'no-dot')).to.deep.equal([]);
  });
});

describe('controllers/maas-node virtNetworkOf (network event → VirtNetwork, no scan)', () => {
  const networks = store<VirtNetwork>(readyNetwork('maas'), readyNetwork('lan.extra'));

  it('finds the VirtNetwork of <namespace>.<name>; the first dot ends the namespace', () => {
    expect(virtNetworkOf(networks, 'maas.maas')?.metadata?.name).to.equal('maas');
    expect(virtNetworkOf(networks, 'maas.lan.extra')?.metadata?.name).to.equal('lan.extra');
  });

  it('finds none for an unknown name, another namespace, or a name without a namespace', () => {
    expect(virtNetworkOf(networks, 'maas.other')).to.equal(undefined);
    expect(virtNetworkOf(networks, 'elsewhere.maas')).to.equal(undefined);
    expect(virtNetworkOf(networks, 'default')).to.equal(undefined);
    expect(virtNetworkOf(networks, '.maas')).to.equal(undefined);
  });
});
