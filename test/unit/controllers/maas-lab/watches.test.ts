import { expect } from 'chai';

import {
  NODE_EVENT_WINDOW_MS_PER_NODE,
  NODE_EVENTS_WINDOW_MS,
  nodeEventsWindowMs,
} from '../../../../src/controllers/maas-lab/watches.js';

describe('maas-lab nodeEventsWindowMs', () => {
  it('grows with the lab, so a small lab reports Ready a few ms after its last node', () => {
    expect(nodeEventsWindowMs(3)).to.equal(3 * NODE_EVENT_WINDOW_MS_PER_NODE);
    expect(nodeEventsWindowMs(3)).to.be.lessThan(10);
    expect(nodeEventsWindowMs(50)).to.equal(50 * NODE_EVENT_WINDOW_MS_PER_NODE);
  });

  it('stops growing at NODE_EVENTS_WINDOW_MS', () => {
    expect(nodeEventsWindowMs(100)).to.equal(NODE_EVENTS_WINDOW_MS);
    expect(nodeEventsWindowMs(500)).to.equal(NODE_EVENTS_WINDOW_MS);
  });

  it('gives an empty lab (or a nonsense count) no window', () => {
    expect(nodeEventsWindowMs(0)).to.equal(0);
    expect(nodeEventsWindowMs(-4)).to.equal(0);
  });
});
