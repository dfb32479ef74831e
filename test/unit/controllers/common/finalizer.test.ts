import { expect } from 'chai';
import { withCleanupFinalizer } from '../../../../src/controllers/common/finalizer.js';
import type { MetaObject } from '../../../../src/runtime/controller/objects.js';

describe('controllers/common/finalizer withCleanupFinalizer', () => {
  const signal = new AbortController().signal;
  const writes: MetaObject[] = [];
  const client = {
    ensureFinalizer: async <T extends MetaObject>(obj: T, finalizer?: string) => {
      writes.push(obj);
      const object = { ...obj, metadata: { ...obj.metadata, finalizers: [finalizer ?? ''] } };
      return { changed: true, object: object as T };
    },
  };
  const obj = (finalizers?: string[]): MetaObject => ({
    metadata: { name: 'n1', resourceVersion: '1', ...(finalizers && { finalizers }) },
  });
  beforeEach(() => (writes.length = 0));

  it('adds a missing finalizer and hands back what the server returned', async () => {
    const got = await withCleanupFinalizer(obj(), false, client, signal);
    expect(got.metadata?.finalizers).to.deep.equal(['maaslab.dev/cleanup']);
    expect(writes).to.have.length(1);
  });
  it('writes nothing when it is there, or when the object is being deleted', async () => {
    const has = obj(['maaslab.dev/cleanup']);
    expect(await withCleanupFinalizer(has, false, client, signal)).to.equal(has);
    const going = obj();
    expect(await withCleanupFinalizer(going, true, client, signal)).to.equal(going);
    expect(writes).to.deep.equal([]);
  });
});
