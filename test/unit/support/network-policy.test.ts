// The queue rules of the test cluster's NetworkPolicy enforcer (test/support/network-policy.ts):
// what reaches kube-network-policies, and that a packet is never let through unchecked.
import { expect } from 'chai';
import { NFQUEUE_ID, QUEUE_CHAIN, queueRules } from '../../support/network-policy.js';

describe('network policy queue rules', () => {
  const rules = queueRules('10.244.0.0/24').split('\n');
  const chain = rules.filter((l) => l.startsWith(`-A ${QUEUE_CHAIN} `));

  it('hook the mangle table before SNAT, in a chain of their own', () => {
    expect(rules[0]).to.equal('*mangle');
    expect(rules).to.include(`-A POSTROUTING -j ${QUEUE_CHAIN}`);
    expect(rules.at(-2)).to.equal('COMMIT');
  });

  it('leave established connections and root on the node alone, then queue the pod network both ways', () => {
    expect(chain).to.deep.equal([
      `-A ${QUEUE_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
      `-A ${QUEUE_CHAIN} -m owner --uid-owner 0 -j RETURN`,
      `-A ${QUEUE_CHAIN} -s 10.244.0.0/24 -j NFQUEUE --queue-num ${NFQUEUE_ID}`,
      `-A ${QUEUE_CHAIN} -d 10.244.0.0/24 -j NFQUEUE --queue-num ${NFQUEUE_ID}`,
    ]);
  });

  it('fail closed: no --queue-bypass, so a packet with no enforcer listening is dropped', () => {
    expect(rules.join('\n')).not.to.include('bypass');
  });
});
