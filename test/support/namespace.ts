// Per-test namespaces: every test gets a fresh one, so tests never see each other's objects.
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

/** A namespace created for one test. */
export interface TestNamespace {
  /** The server-generated, unique name. */
  readonly name: string;
  /** Deletes the namespace; resolves once the API server accepted the deletion. */
  delete(): Promise<void>;
}

/** Label put on every test namespace, so leftovers are easy to find by hand. */
export const testNamespaceLabel = 'maaslab.dev/test';

/**
 * Creates a namespace named `<prefix>-<random>`. The API server picks the suffix
 * (`generateName`), which is unique even across parallel test processes.
 */
export async function createTestNamespace(kc: KubeConfig, prefix: string): Promise<TestNamespace> {
  const core = kc.makeApiClient(CoreV1Api);
  // A namespace name is a DNS label: at most 63 characters, and generateName adds 5.
  const base =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 50) || 'test';
  const created = await core.createNamespace({
    body: { metadata: { generateName: `${base}-`, labels: { [testNamespaceLabel]: 'true' } } },
  });
  const name = created.metadata?.name;
  if (!name) throw new Error('the API server returned a namespace without a name');
  return {
    name,
    async delete() {
      try {
        await core.deleteNamespace({ name });
      } catch (err) {
        // Deleting twice, or after the test deleted it itself, is fine.
        if (!(err instanceof ApiException && err.code === 404)) throw err;
      }
    },
  };
}
