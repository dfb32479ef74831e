// How the maaslab.dev CRDs behave in a real API server: the status subresource, defaulting,
// immutability, field selectors on spec.hypervisor, and server-side printer columns.
import { expect } from 'chai';
import { Watch } from '@kubernetes/client-node';
import { waitFor } from '../../support/wait.js';
import { adminKube, apiPath, ok, type Kube, type Response } from './kube.js';

type Obj = {
  metadata: { name: string; generation?: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
};

const AV = 'maaslab.dev/v1alpha1';
const mergePatch = 'application/merge-patch+json';

/** The Status message of a failed request. */
const message = (res: Response): string =>
  typeof res.body === 'object' && res.body !== null && 'message' in res.body
    ? String(res.body.message)
    : res.text;

const node = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: AV,
  kind: 'MaasNode',
  metadata: { name },
  spec,
});

describe('api: behaviour in the real API server', () => {
  let kube: Kube;
  let ns: string;

  before(async () => {
    kube = adminKube();
    ns = await kube.namespace('api');
  });

  /** Creates an object; `namespace` null means cluster-scoped. */
  const create = async (plural: string, body: unknown, namespace: string | null = ns) =>
    ok(
      await kube.request('POST', apiPath(plural, namespace ?? undefined), { body }),
      `create ${plural}`,
    ).body as Obj;
  const get = async (plural: string, name: string, namespace: string | undefined = ns) =>
    ok(await kube.request('GET', apiPath(plural, namespace, name)), `get ${plural}/${name}`)
      .body as Obj;

  describe('status subresource', () => {
    it('ignores status on create and on updates of the main resource', async () => {
      const created = await create('maasnodes', {
        ...node('status-main', { hypervisor: 'hv-a' }),
        status: { printableStatus: 'Running' },
      });
      expect(created.status).to.equal(undefined);
      const patched = ok(
        await kube.request('PATCH', apiPath('maasnodes', ns, 'status-main'), {
          body: { spec: { vcpus: 2 }, status: { printableStatus: 'Running' } },
          contentType: mergePatch,
        }),
        'patch main',
      ).body as Obj;
      expect(patched.spec['vcpus']).to.equal(2);
      expect(patched.status).to.equal(undefined);
      expect((await get('maasnodes', 'status-main')).status).to.equal(undefined);
    });

    it('ignores spec on updates of /status, and does not bump the generation', async () => {
      const created = await create('maasnodes', node('status-sub', { hypervisor: 'hv-a' }));
      const patched = ok(
        await kube.request('PATCH', `${apiPath('maasnodes', ns, 'status-sub')}/status`, {
          body: {
            spec: { vcpus: 8 },
            status: { printableStatus: 'Provisioning', observedGeneration: 1 },
          },
          contentType: mergePatch,
        }),
        'patch status',
      ).body as Obj;
      expect(patched.status).to.deep.equal({
        printableStatus: 'Provisioning',
        observedGeneration: 1,
      });
      expect(patched.spec['vcpus']).to.equal(1);
      expect(patched.metadata.generation).to.equal(created.metadata.generation);
    });

    it('validates status too (printableStatus is an enum)', async () => {
      await create('maasnodes', node('status-enum', { hypervisor: 'hv-a' }));
      const res = await kube.request('PATCH', `${apiPath('maasnodes', ns, 'status-enum')}/status`, {
        body: { status: { printableStatus: 'Sleeping' } },
        contentType: mergePatch,
      });
      expect(res.status).to.equal(422);
      expect(message(res)).to.include('status.printableStatus: Unsupported value: "Sleeping"');
    });
  });

  describe('defaults', () => {
    it('fills a minimal MaasNode', async () => {
      const n = await create(
        'maasnodes',
        node('defaults', {
          hypervisor: 'hv-a',
          disks: [{ name: 'root', size: '8Gi' }],
          interfaces: [{ network: 'maas' }],
        }),
      );
      expect(n.spec).to.deep.equal({
        hypervisor: 'hv-a',
        vcpus: 1,
        memory: '1Gi',
        arch: 'x86_64',
        firmware: 'bios',
        bootOrder: ['network', 'disk'],
        disks: [
          { name: 'root', size: '8Gi', bus: 'virtio', format: 'qcow2', deletionPolicy: 'Delete' },
        ],
        interfaces: [{ network: 'maas', model: 'virtio' }],
        vnc: { enabled: true, listen: '127.0.0.1' },
        haltMode: 'Shutdown',
      });
    });

    it('fills a minimal VirtNetwork, Hypervisor and MaasLab', async () => {
      const vn = await create('virtnetworks', {
        apiVersion: AV,
        kind: 'VirtNetwork',
        metadata: { name: 'defaults' },
        spec: { hypervisor: 'hv-a', bridge: { name: 'virbr9' } },
      });
      expect(vn.spec).to.deep.equal({
        hypervisor: 'hv-a',
        mode: 'nat',
        bridge: { name: 'virbr9', stp: true },
        autostart: true,
      });
      const hvName = `${ns}-defaults`;
      const hv = await create(
        'hypervisors',
        {
          apiVersion: AV,
          kind: 'Hypervisor',
          metadata: { name: hvName },
          spec: { uri: 'test:///default' },
        },
        null,
      );
      expect(hv.spec).to.deep.equal({
        uri: 'test:///default',
        storagePool: 'default',
        unschedulable: false,
      });
      await kube.request('DELETE', apiPath('hypervisors', undefined, hvName));
      const lab = await create('maaslabs', {
        apiVersion: AV,
        kind: 'MaasLab',
        metadata: { name: 'defaults' },
        spec: { hypervisor: 'hv-a', nodes: { count: 2 } },
      });
      expect(lab.spec['nodes']).to.deep.equal({
        count: 2,
        namePrefix: 'node',
        template: {
          vcpus: 1,
          memory: '1Gi',
          arch: 'x86_64',
          firmware: 'bios',
          bootOrder: ['network', 'disk'],
          vnc: { enabled: true, listen: '127.0.0.1' },
          haltMode: 'Shutdown',
        },
      });
    });
  });

  describe('immutable fields', () => {
    const refuses = async (
      name: string,
      spec: Record<string, unknown>,
      patch: unknown,
      text: string,
    ) => {
      await create('maasnodes', node(name, spec));
      const res = await kube.request('PATCH', apiPath('maasnodes', ns, name), {
        body: { spec: patch },
        contentType: mergePatch,
      });
      expect(res.status, res.text).to.equal(422);
      expect(message(res)).to.include(text);
    };

    it('spec.hypervisor', () =>
      refuses(
        'imm-hv',
        { hypervisor: 'hv-a' },
        { hypervisor: 'hv-b' },
        'spec.hypervisor: Invalid value: "string": hypervisor is immutable',
      ));
    it('spec.domainName (change)', () =>
      refuses(
        'imm-dn',
        { hypervisor: 'hv-a', domainName: 'a.b' },
        { domainName: 'a.c' },
        'domainName is immutable',
      ));
    it('spec.domainName (set later)', () =>
      refuses(
        'imm-dn-add',
        { hypervisor: 'hv-a' },
        { domainName: 'a.c' },
        'domainName is immutable: it cannot be added or removed',
      ));
    it('spec.domainName (removed)', () =>
      refuses(
        'imm-dn-del',
        { hypervisor: 'hv-a', domainName: 'a.b' },
        { domainName: null },
        'domainName is immutable: it cannot be added or removed',
      ));
    it('spec.cloneFrom', () =>
      refuses(
        'imm-cf',
        { hypervisor: 'hv-a', cloneFrom: { name: 'golden' } },
        { cloneFrom: { name: 'other' } },
        'cloneFrom is immutable',
      ));

    it('while mutable fields still change', async () => {
      await create('maasnodes', node('mutable', { hypervisor: 'hv-a', domainName: 'x.y' }));
      ok(
        await kube.request('PATCH', apiPath('maasnodes', ns, 'mutable'), {
          body: { spec: { vcpus: 4, memory: '2Gi', restartToken: '2' } },
          contentType: mergePatch,
        }),
        'patch mutable fields',
      );
    });
  });

  describe('field selector on spec.hypervisor', () => {
    it('lists only matching MaasNodes and VirtNetworks', async () => {
      const sel = await kube.namespace('select');
      for (const [name, hv] of [
        ['a1', 'sel-a'],
        ['b1', 'sel-b'],
        ['a2', 'sel-a'],
      ] as const) {
        await create('maasnodes', node(name, { hypervisor: hv }), sel);
        await create(
          'virtnetworks',
          { apiVersion: AV, kind: 'VirtNetwork', metadata: { name }, spec: { hypervisor: hv } },
          sel,
        );
      }
      for (const plural of ['maasnodes', 'virtnetworks']) {
        const list = ok(
          await kube.request(
            'GET',
            `${apiPath(plural, sel)}?fieldSelector=spec.hypervisor%3Dsel-a`,
          ),
          `list ${plural}`,
        ).body as { items: Obj[] };
        expect(list.items.map((i) => i.metadata.name).sort()).to.deep.equal(['a1', 'a2']);
      }
    });

    it('watches only matching MaasNodes', async () => {
      const sel = await kube.namespace('watch');
      const seen: string[] = [];
      const controller = await new Watch(kube.config).watch(
        apiPath('maasnodes', sel),
        { fieldSelector: 'spec.hypervisor=watch-a' },
        (phase: string, obj: unknown) => {
          const o = obj as Obj;
          seen.push(`${phase} ${o.metadata.name} ${String(o.spec['hypervisor'])}`);
        },
        () => undefined,
      );
      try {
        await create('maasnodes', node('first', { hypervisor: 'watch-a' }), sel);
        await create('maasnodes', node('other', { hypervisor: 'watch-b' }), sel);
        await create('maasnodes', node('last', { hypervisor: 'watch-a' }), sel);
        await waitFor(() => seen.some((s) => s.startsWith('ADDED last')), { timeoutMs: 20_000 });
        expect(seen).to.deep.equal(['ADDED first watch-a', 'ADDED last watch-a']);
      } finally {
        controller.abort();
      }
    });

    it('refuses to select on fields that are not selectable', async () => {
      const res = await kube.request(
        'GET',
        `${apiPath('maasnodes', ns)}?fieldSelector=spec.arch%3Dx86_64`,
      );
      expect(res.status).to.equal(400);
    });
  });

  describe('printer columns', () => {
    const table = async (plural: string, namespace?: string) =>
      ok(
        await kube.request('GET', apiPath(plural, namespace), {
          accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
        }),
        `table ${plural}`,
      ).body as {
        kind: string;
        columnDefinitions: { name: string }[];
        rows: { cells: unknown[] }[];
      };

    it('MaasNode: Name, Hypervisor, Status, MAC, VNC, MAAS, Ready, Age', async () => {
      const tns = await kube.namespace('table');
      await create(
        'maasnodes',
        node('n1', { hypervisor: 'hv-t', interfaces: [{ network: 'maas' }] }),
        tns,
      );
      ok(
        await kube.request('PATCH', `${apiPath('maasnodes', tns, 'n1')}/status`, {
          contentType: mergePatch,
          body: {
            status: {
              printableStatus: 'Running',
              interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:01' }],
              vnc: { host: '127.0.0.1', port: 5900, display: '127.0.0.1:5900' },
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'Reconciled',
                  message: '',
                  lastTransitionTime: '2026-01-01T00:00:00Z',
                },
              ],
            },
          },
        }),
        'status',
      );
      const t = await table('maasnodes', tns);
      expect(t.kind).to.equal('Table');
      expect(t.columnDefinitions.map((c) => c.name)).to.deep.equal([
        'Name',
        'Hypervisor',
        'Status',
        'MAC',
        'VNC',
        'MAAS',
        'Ready',
        'Age',
      ]);
      // A node outside a MAAS lab has no MAAS status: the API server sends null.
      expect(t.rows[0]?.cells.slice(0, 7)).to.deep.equal([
        'n1',
        'hv-t',
        'Running',
        '52:54:00:7f:04:01',
        '127.0.0.1:5900',
        null,
        'True',
      ]);
    });

    it('every kind has the columns the issue lists', async () => {
      const names = async (plural: string, namespace?: string) =>
        (await table(plural, namespace)).columnDefinitions.map((c) => c.name);
      expect(await names('hypervisors')).to.deep.equal([
        'Name',
        'URI',
        'Ready',
        'CPUs',
        'Memory',
        'Age',
      ]);
      expect(await names('virtnetworks', ns)).to.deep.equal([
        'Name',
        'Hypervisor',
        'Mode',
        'Address',
        'Bridge',
        'Ready',
        'Age',
      ]);
      expect(await names('maaslabs', ns)).to.deep.equal([
        'Name',
        'Hypervisor',
        'Nodes',
        'Status',
        'MAAS',
        'MAAS-Reachable',
        'Restore',
        'Ready',
        'Age',
      ]);
      expect(await names('maaslabsnapshots', ns)).to.deep.equal([
        'Name',
        'Lab',
        'Mode',
        'Phase',
        'ReadyToUse',
        'Size',
        'Ready',
        'Age',
      ]);
    });
  });

  it('kubectl knows the short names and the maaslab-all category', async () => {
    const cns = await kube.namespace('category');
    await create('maasnodes', node('category', { hypervisor: 'hv-a' }), cns);
    await create(
      'virtnetworks',
      {
        apiVersion: AV,
        kind: 'VirtNetwork',
        metadata: { name: 'category' },
        spec: { hypervisor: 'hv-a' },
      },
      cns,
    );
    for (const short of ['hv', 'vnet', 'mn', 'lab', 'labsnap']) {
      const r = await kube.kubectl(['get', short, '-n', ns]);
      expect(r.code, `${short}: ${r.stderr}`).to.equal(0);
    }
    const all = await kube.kubectl(['get', 'maaslab-all', '-n', cns, '-o', 'name']);
    expect(all.code, all.stderr).to.equal(0);
    expect(all.stdout).to.include('maasnode.maaslab.dev/category');
    expect(all.stdout).to.include('virtnetwork.maaslab.dev/category');
  });
});
