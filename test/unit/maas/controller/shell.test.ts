// shellQuote against a real POSIX shell: each hostile value must come back byte for byte.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { shellAssignment, shellQuote } from '../../../../src/maas/controller/shell.js';

/** Values a shell would otherwise act on: quotes, expansions, separators, newlines, globs. */
export const HOSTILE = [
  '',
  "'; rm -rf /",
  "it's",
  "''''",
  '"$(id)"',
  '`id`',
  '$HOME ${PATH} $((1+1))',
  'a\nb\n',
  '\n; reboot\n',
  '*',
  '-n',
  'a\\b\\',
  '\t \r',
  '!event',
  'ünïcødé ✓',
  '; echo pwned #',
];

describe('maas/controller/shell', () => {
  describe('shellQuote', () => {
    it('wraps in single quotes and escapes single quotes', () => {
      expect(shellQuote('abc')).to.equal("'abc'");
      expect(shellQuote("it's")).to.equal(`'it'\\''s'`);
      expect(shellQuote('')).to.equal("''");
    });

    it('refuses NUL', () => {
      expect(() => shellQuote('a\0b')).to.throw(RangeError, /NUL/);
    });

    it('expands to exactly the value in /bin/sh and bash, for hostile values', function () {
      for (const shell of ['/bin/sh', '/bin/bash']) {
        if (!existsSync(shell)) this.skip(); // no such shell on this host
        for (const value of HOSTILE) {
          const out = execFileSync(shell, ['-c', `printf %s ${shellQuote(value)}`], {
            encoding: 'utf8',
          });
          expect(out, `${shell}: ${JSON.stringify(value)}`).to.equal(value);
        }
      }
    });
  });

  describe('shellAssignment', () => {
    it('round-trips through sourcing, for hostile values', () => {
      for (const value of HOSTILE) {
        const script = `${shellAssignment('V', value)}\nprintf %s "$V"`;
        const out = execFileSync('/bin/bash', ['-c', script], { encoding: 'utf8' });
        expect(out, JSON.stringify(value)).to.equal(value);
      }
    });

    it('refuses a name that is not a shell identifier', () => {
      for (const name of ['', '1A', 'A-B', 'A;rm', 'A B', 'A\n']) {
        expect(() => shellAssignment(name, 'x'), JSON.stringify(name)).to.throw(RangeError);
      }
    });
  });
});
