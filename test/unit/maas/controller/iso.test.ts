// The seed ISO read back by real ISO 9660 readers: isoinfo (genisoimage), xorriso and blkid.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { buildSeedIso, type IsoFile } from '../../../../src/maas/controller/iso.js';
import { SECTOR_SIZE } from '../../../../src/maas/controller/iso9660.js';

/** Whether `bin` runs here; the tests that need it skip with the reason when it does not. */
function have(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const SEED: IsoFile[] = [
  { name: 'user-data', content: '#cloud-config\nruncmd: [[true]]\n' },
  { name: 'meta-data', content: 'instance-id: i-1\nlocal-hostname: maas\n' },
  { name: 'network-config', content: 'version: 2\nethernets: {}\n' },
];

describe('maas/controller/iso', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'maaslab-iso-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (iso: Buffer): string => {
    const path = join(dir, 'seed.iso');
    writeFileSync(path, iso);
    return path;
  };

  /** Extracts the whole image with xorriso and returns name → bytes. */
  const extract = (path: string): Map<string, Buffer> => {
    const out = join(dir, 'out');
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', path, '-extract', '/', out], {
      stdio: 'ignore',
    });
    return new Map(readdirSync(out).map((n) => [n, readFileSync(join(out, n))]));
  };

  it('is labelled cidata and has a Joliet tree (isoinfo -d)', function () {
    if (!have('isoinfo')) this.skip(); // isoinfo (genisoimage) is not installed
    const iso = buildSeedIso(SEED);
    expect(iso.length % SECTOR_SIZE).to.equal(0);
    const info = execFileSync('isoinfo', ['-d', '-i', write(iso)], { encoding: 'utf8' });
    expect(info).to.match(/^Volume id: cidata$/m);
    expect(info).to.match(/Joliet with UCS level 3 found/);
    expect(info).to.match(new RegExp(`^Volume size is: ${iso.length / SECTOR_SIZE}$`, 'm'));
  });

  it('lists exactly the three seed files under their own names (isoinfo -J -f)', function () {
    if (!have('isoinfo')) this.skip(); // isoinfo (genisoimage) is not installed
    const list = execFileSync('isoinfo', ['-J', '-f', '-i', write(buildSeedIso(SEED))], {
      encoding: 'utf8',
    });
    expect(list.trim().split('\n').sort()).to.deep.equal([
      '/meta-data',
      '/network-config',
      '/user-data',
    ]);
  });

  it('gives each file back byte for byte (isoinfo -J -x and xorriso -extract)', function () {
    if (!have('isoinfo') || !have('xorriso')) this.skip(); // isoinfo or xorriso is not installed
    const path = write(buildSeedIso(SEED));
    for (const f of SEED) {
      const out = execFileSync('isoinfo', ['-J', '-i', path, '-x', `/${f.name}`]);
      expect(out.toString('utf8'), f.name).to.equal(f.content);
    }
    const files = extract(path);
    expect([...files.keys()].sort()).to.deep.equal(['meta-data', 'network-config', 'user-data']);
    for (const f of SEED) expect(files.get(f.name)?.toString('utf8')).to.equal(f.content);
  });

  it('round-trips an empty file, a 1 MiB binary file and an exact sector', function () {
    if (!have('xorriso')) this.skip(); // xorriso is not installed
    const big = randomBytes(1024 * 1024 + 123);
    const exact = randomBytes(SECTOR_SIZE);
    const iso = buildSeedIso([
      { name: 'empty', content: '' },
      { name: 'big.bin', content: big },
      { name: 'exact', content: exact },
      { name: 'user-data', content: 'x' },
    ]);
    const files = extract(write(iso));
    expect(files.get('empty')?.length).to.equal(0);
    expect(files.get('big.bin')?.equals(big)).to.equal(true);
    expect(files.get('exact')?.equals(exact)).to.equal(true);
    expect(files.get('user-data')?.toString()).to.equal('x');
  });

  it('holds many files whose directory spans several sectors', function () {
    if (!have('xorriso')) this.skip(); // xorriso is not installed
    const many = Array.from({ length: 60 }, (_, i) => ({
      name: `file-with-a-rather-long-name-${String(i).padStart(3, '0')}`,
      content: `content ${i}\n`,
    }));
    const files = extract(write(buildSeedIso(many)));
    expect(files.size).to.equal(60);
    for (const f of many) expect(files.get(f.name)?.toString()).to.equal(f.content);
  });

  it('keeps the label case it is given: CIDATA as well as cidata (blkid)', function () {
    if (!have('blkid')) this.skip(); // blkid (util-linux) is not installed
    for (const label of ['cidata', 'CIDATA']) {
      const out = execFileSync('blkid', ['-p', '-o', 'export', write(buildSeedIso(SEED, label))], {
        encoding: 'utf8',
      });
      expect(out).to.match(new RegExp(`^LABEL=${label}$`, 'm'));
      expect(out).to.match(/^TYPE=iso9660$/m);
    }
  });

  it('is deterministic: the same files give the same bytes', () => {
    expect(buildSeedIso(SEED).equals(buildSeedIso(SEED))).to.equal(true);
  });

  it('refuses names Joliet cannot hold or that repeat, and bad volume ids', () => {
    for (const name of ['', 'a/b', 'a b', 'a;1', '.', '..', 'x'.repeat(65), 'ü']) {
      expect(() => buildSeedIso([{ name, content: '' }]), JSON.stringify(name)).to.throw(
        RangeError,
      );
    }
    expect(() =>
      buildSeedIso([
        { name: 'a', content: '' },
        { name: 'a', content: '' },
      ]),
    ).to.throw(RangeError, /twice/);
    for (const id of ['', 'ci data', 'x'.repeat(17), "ci'data"]) {
      expect(() => buildSeedIso(SEED, id), JSON.stringify(id)).to.throw(RangeError);
    }
  });

  it('gives distinct primary names to names that map alike (a-b, a_b)', function () {
    if (!have('isoinfo')) this.skip(); // isoinfo (genisoimage) is not installed
    const path = write(
      buildSeedIso([
        { name: 'a-b', content: '1' },
        { name: 'a_b', content: '2' },
      ]),
    );
    const primary = execFileSync('isoinfo', ['-f', '-i', path], { encoding: 'utf8' });
    expect(primary.trim().split('\n').sort()).to.deep.equal(['/A_B.;1', '/A_B_1.;1']);
  });
});
