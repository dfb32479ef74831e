// Bad input and good input, judged by the real kube-apiserver with the generated CRDs:
// every test/invalid manifest is rejected with a message naming the field, and every
// examples/ manifest is accepted by `kubectl apply`.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { adminKube, type Kube, type KubectlResult } from './kube.js';

const root = join(import.meta.dirname, '..', '..', '..');
const invalidDir = join(root, 'test', 'invalid');

/** One invalid manifest: the documents to apply in order, and what the last must fail with. */
interface InvalidCase {
  readonly file: string;
  readonly expectText: string;
  readonly docs: readonly string[];
}

const loadInvalid = (): InvalidCase[] =>
  readdirSync(invalidDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(invalidDir, file), 'utf8');
      const expectText = /^# expect: (.+)$/m.exec(text)?.[1]?.trim() ?? '';
      // Split the text itself: re-serializing would lose quoting that matters to kubectl's
      // YAML 1.1 parser (an unquoted `yes` is a boolean there).
      const docs = text.split(/^---$/m).filter((d) => parseAllDocuments(d).length > 0);
      return { file, expectText, docs };
    });

/** Runs `fn` over `items`, at most `limit` at a time. */
const pool = async <T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>) => {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
};

describe('api: manifests against the real API server', function () {
  this.timeout(300_000);
  const cases = loadInvalid();
  let kube: Kube;
  let namespace: string;
  /** file → the result of applying its last document. */
  const results = new Map<string, KubectlResult>();
  /** file → a setup document that failed. */
  const setupFailures = new Map<string, KubectlResult>();

  before(async () => {
    kube = adminKube();
    namespace = await kube.namespace('invalid');
    await pool(cases, 8, async (c) => {
      // One document: a plain create, with kubectl's strict field validation. Several: the
      // same field manager server-side applies them in order, so the last one is an update
      // that may also remove fields.
      const apply = (doc: string) =>
        kube.kubectl(
          c.docs.length === 1
            ? ['create', '-n', namespace, '-f', '-']
            : [
                'apply',
                '--server-side',
                '--field-manager=invalid-test',
                '-n',
                namespace,
                '-f',
                '-',
              ],
          doc,
        );
      for (const doc of c.docs.slice(0, -1)) {
        const r = await apply(doc);
        if (r.code !== 0) {
          setupFailures.set(c.file, r);
          return;
        }
      }
      results.set(c.file, await apply(c.docs[c.docs.length - 1] ?? ''));
    });
  });

  it(`has at least 60 invalid manifests (${cases.length})`, () => {
    expect(cases.length).to.be.at.least(60);
  });

  describe('rejects each invalid manifest with a message naming the field', () => {
    for (const c of cases)
      it(c.file, () => {
        const setup = setupFailures.get(c.file);
        expect(setup, `setup document failed: ${setup?.stderr ?? ''}`).to.equal(undefined);
        const r = results.get(c.file);
        expect(r, 'not run').not.to.equal(undefined);
        expect(r?.code, `accepted: ${r?.stdout ?? ''}`).not.to.equal(0);
        expect(r?.stderr).to.include(c.expectText);
      });
  });

  it('accepts `kubectl apply -f crds/` then `kubectl apply -f examples/`', async () => {
    const crds = await kube.kubectl(['apply', '-f', join(root, 'crds')]);
    expect(crds.code, crds.stderr).to.equal(0);
    const ns = await kube.namespace('examples');
    const examples = await kube.kubectl(['apply', '-n', ns, '-f', join(root, 'examples')]);
    expect(examples.code, examples.stderr).to.equal(0);
    for (const name of [
      'hypervisor.maaslab.dev/local',
      'virtnetwork.maaslab.dev/maas',
      'virtnetwork.maaslab.dev/upstream',
      'maasnode.maaslab.dev/node1',
      'maaslab.maaslab.dev/demo',
      'maaslab.maaslab.dev/recipe',
      'hypervisor.maaslab.dev/lab-host',
      'secret/bmc-creds',
      'maasnode.maaslab.dev/ipmi-node',
      'maasnode.maaslab.dev/redfish-node',
      'secret/maas-api-key',
      'secret/maas-bmc',
      'maaslab.maaslab.dev/maas-lab',
      'maaslab.maaslab.dev/controller-lab',
    ])
      expect(examples.stdout).to.include(name);
  });
});
