// The controllers' memory between passes: typed slots per key, forgotten together.
import { expect } from 'chai';
import { createExpectations } from '../../../../src/controllers/common/expectations.js';

describe('controllers/common expectations', () => {
  interface Slots {
    at: number;
    token: string;
  }

  it('remembers each slot of a key on its own, and nothing for an unknown key', () => {
    const memory = createExpectations<Slots>();
    expect(memory.get('uid-1', 'at')).to.equal(undefined);
    memory.set('uid-1', 'at', 5);
    memory.set('uid-1', 'token', 'one');
    memory.set('uid-2', 'token', 'two');
    expect(memory.get('uid-1', 'at')).to.equal(5);
    expect(memory.get('uid-1', 'token')).to.equal('one');
    expect(memory.get('uid-2', 'at')).to.equal(undefined);
    expect(memory.size()).to.equal(2);
  });

  it('clears one slot, and drops a key whose last slot is cleared', () => {
    const memory = createExpectations<Slots>();
    memory.set('uid-1', 'at', 5);
    memory.set('uid-1', 'token', 'one');
    memory.clear('uid-1', 'at');
    expect(memory.get('uid-1', 'at')).to.equal(undefined);
    expect(memory.get('uid-1', 'token')).to.equal('one');
    memory.clear('uid-1', 'token');
    memory.clear('uid-9', 'token');
    expect(memory.size()).to.equal(0);
  });

  it('forgets every slot of a key at once (the object is gone)', () => {
    const memory = createExpectations<Slots>();
    memory.set('uid-1', 'at', 5);
    memory.set('uid-1', 'token', 'one');
    memory.set('uid-2', 'at', 7);
    memory.forget('uid-1');
    expect(memory.get('uid-1', 'token')).to.equal(undefined);
    expect(memory.get('uid-2', 'at')).to.equal(7);
    expect(memory.size()).to.equal(1);
  });
});
