import { expect } from 'chai';
import {
  MAASLAB_XMLNS,
  MAASLAB_XMLNS_PREFIX,
  buildOwnerMetadata,
  isOwnedBy,
  parseOwnerMetadata,
  type OwnerMetadata,
  type OwnerRef,
} from '../../../../src/libvirt/xml/index.js';

const owner: OwnerMetadata = {
  kind: 'MaasNode',
  namespace: 'lab',
  name: 'node-1',
  uid: '3f1c2b7e-0d4a-4a8b-9c1e-5e6f7a8b9c0d',
  specHash: 'sha256:abc',
};

describe('libvirt/xml metadata', () => {
  it('uses our namespace and prefix', () => {
    expect(MAASLAB_XMLNS).to.equal('https://maaslab.dev/xmlns/v1alpha1');
    expect(MAASLAB_XMLNS_PREFIX).to.equal('maaslab');
  });

  describe('buildOwnerMetadata (the virDomainSetMetadata fragment)', () => {
    const golden: [string, OwnerMetadata, string][] = [
      [
        'namespaced owner with spec hash',
        owner,
        '<owner kind="MaasNode" namespace="lab" name="node-1" uid="3f1c2b7e-0d4a-4a8b-9c1e-5e6f7a8b9c0d" specHash="sha256:abc"/>\n',
      ],
      [
        'cluster-scoped owner',
        { kind: 'Hypervisor', name: 'hv1', uid: 'u' },
        '<owner kind="Hypervisor" name="hv1" uid="u"/>\n',
      ],
    ];
    for (const [name, input, xml] of golden) {
      it(name, () => {
        // Unprefixed and without xmlns: libvirt adds both and rejects a fragment that has them.
        expect(buildOwnerMetadata(input)).to.equal(xml);
      });
      it(`${name}: round-trips through parseOwnerMetadata`, () => {
        expect(parseOwnerMetadata(buildOwnerMetadata(input))).to.deep.equal(input);
      });
    }
  });

  describe('parseOwnerMetadata', () => {
    const ours: [string, string][] = [
      [
        'prefixed, as inside <metadata>',
        `<maaslab:owner xmlns:maaslab="${MAASLAB_XMLNS}" kind="MaasNode" name="n" uid="u"/>`,
      ],
      [
        'another prefix for our URI',
        `<m:owner xmlns:m="${MAASLAB_XMLNS}" kind="MaasNode" name="n" uid="u"/>`,
      ],
      ['default namespace', `<owner xmlns="${MAASLAB_XMLNS}" kind="MaasNode" name="n" uid="u"/>`],
      ['bare, as virDomainGetMetadata returns it', '<owner kind="MaasNode" name="n" uid="u"/>'],
    ];
    for (const [name, xml] of ours) {
      it(`reads ${name}`, () => {
        expect(parseOwnerMetadata(xml)).to.deep.equal({ kind: 'MaasNode', name: 'n', uid: 'u' });
      });
    }

    const notOurs: [string, string][] = [
      [
        'a foreign namespace',
        '<x:owner xmlns:x="https://example.com/" kind="K" name="n" uid="u"/>',
      ],
      [
        'a foreign default namespace',
        '<owner xmlns="https://example.com/" kind="K" name="n" uid="u"/>',
      ],
      ['a prefix with no declaration', '<maaslab:owner kind="K" name="n" uid="u"/>'],
      [
        'another element',
        `<maaslab:thing xmlns:maaslab="${MAASLAB_XMLNS}" kind="K" name="n" uid="u"/>`,
      ],
      ['our element without a uid', `<owner xmlns="${MAASLAB_XMLNS}" kind="K" name="n"/>`],
    ];
    for (const [name, xml] of notOurs) {
      it(`ignores ${name}`, () => {
        expect(parseOwnerMetadata(xml)).to.equal(undefined);
      });
    }

    it('rejects text that is not one element', () => {
      expect(() => parseOwnerMetadata('<a/><b/>')).to.throw();
    });
  });

  describe('isOwnedBy', () => {
    const expected: OwnerRef = { kind: 'MaasNode', namespace: 'lab', name: 'n', uid: 'u1' };
    const table: [string, OwnerRef | undefined, boolean][] = [
      ['the same owner', { ...expected }, true],
      ['the same owner with a spec hash', { ...expected, specHash: 'h' } as OwnerRef, true],
      ['no owner', undefined, false],
      ['an earlier incarnation (other UID)', { ...expected, uid: 'u0' }, false],
      ['another kind', { ...expected, kind: 'MaasLab' }, false],
      ['another namespace', { ...expected, namespace: 'other' }, false],
      ['another name', { ...expected, name: 'm' }, false],
      ['a cluster-scoped twin', { kind: 'MaasNode', name: 'n', uid: 'u1' }, false],
    ];
    for (const [name, actual, result] of table) {
      it(`${result ? 'accepts' : 'rejects'} ${name}`, () => {
        expect(isOwnedBy(actual, expected)).to.equal(result);
      });
    }
  });
});
