// A minimal ISO 9660 (ECMA-119) image writer with Joliet names, enough for a cloud-init
// NoCloud seed: one flat root directory of small files, no El Torito, no Rock Ridge.
//
// Why our own: no maintained, pure-JS ISO 9660 writer is on npm (the docs we searched list
// Java, Perl, Rust and Python ones, and an experimental WebAssembly port that is not
// published), and shelling out to genisoimage or xorriso would put I/O and a host binary
// in the middle of otherwise pure code. The format needed here is small and fixed.
//
// Why Joliet: primary ISO 9660 names allow only A-Z, 0-9 and '_', so `user-data` would
// read back as `user_data` on a Linux mount. A Joliet supplementary volume descriptor
// carries the exact names in UCS-2; Linux's isofs uses it by default, and blkid (which
// cloud-init asks for LABEL=cidata) reads the volume label from it too. This is what
// `genisoimage -J -V cidata` writes; `-r` (Rock Ridge) is left out as unnecessary here.
//
// Layout of the image, in 2048-byte logical sectors:
//   0-15   system area (zeros)
//   16     primary volume descriptor        17  Joliet supplementary volume descriptor
//   18     volume descriptor set terminator
//   19-22  path tables: primary L, primary M, Joliet L, Joliet M (root only: 10 bytes each)
//   23..   primary root directory, then the Joliet root directory
//   ..     each file's data, starting on a sector boundary, in input order
//   last   one zero sector of padding
// The output is deterministic: the same files, volume id and date give the same bytes.

/** ECMA-119 logical sector (and logical block) size. */
export const SECTOR_SIZE = 2048;

/** One file of the image's root directory. */
export interface IsoFile {
  /** The exact name, as Joliet keeps it: 1-64 of A-Z a-z 0-9 '.' '_' '-'. */
  readonly name: string;
  /** The file's bytes; a string is encoded as UTF-8. */
  readonly content: string | Uint8Array;
}

/** How the image is labelled and dated. */
export interface IsoOptions {
  /** Volume identifier, written as given to both descriptors: 1-16 of A-Z a-z 0-9 '_' '-'. */
  readonly volumeId: string;
  /** Creation and recording date of everything in the image; default the Unix epoch, so that equal input gives equal bytes. */
  readonly date?: Date;
}

const JOLIET_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const VOLUME_ID = /^[A-Za-z0-9_-]{1,16}$/;

/**
 * Builds an ISO 9660 image with Joliet names whose root directory holds `files`.
 * Throws a RangeError for an invalid or duplicate name or an invalid volume id.
 */
export function writeIso9660(files: readonly IsoFile[], options: IsoOptions): Buffer {
  const { volumeId } = options;
  const date = options.date ?? new Date(0);
  if (!VOLUME_ID.test(volumeId)) {
    throw new RangeError(
      `ISO volume id ${JSON.stringify(volumeId)} must be 1-16 of A-Z a-z 0-9 _ -`,
    );
  }
  const seen = new Set<string>();
  for (const f of files) {
    if (!JOLIET_NAME.test(f.name) || f.name === '.' || f.name === '..') {
      throw new RangeError(
        `ISO file name ${JSON.stringify(f.name)} must be 1-64 of A-Z a-z 0-9 . _ -`,
      );
    }
    if (seen.has(f.name))
      throw new RangeError(`ISO file name ${JSON.stringify(f.name)} is given twice`);
    seen.add(f.name);
  }

  const data = files.map((f) =>
    typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : Buffer.from(f.content),
  );
  const primaryNames = primaryIdentifiers(files.map((f) => f.name));

  // Directory records of both trees; sizes are known before extents are, so lay out in two passes.
  const primaryEntries = files.map((f, i) => ({
    index: i,
    id: Buffer.from(primaryNames[i] as string, 'ascii'),
  }));
  primaryEntries.sort((a, b) => Buffer.compare(a.id, b.id)); // ECMA-119 9.3: ordered by identifier
  const jolietEntries = files.map((f, i) => ({ index: i, id: ucs2be(f.name) }));
  jolietEntries.sort((a, b) => Buffer.compare(a.id, b.id)); // UCS-2 BE bytes compare as code units

  const pathTableLba = 19;
  const primaryRootLba = 23;
  const primaryRootSectors = directorySectors(primaryEntries.map((e) => e.id.length));
  const jolietRootLba = primaryRootLba + primaryRootSectors;
  const jolietRootSectors = directorySectors(jolietEntries.map((e) => e.id.length));
  let next = jolietRootLba + jolietRootSectors;
  const extents = data.map((d) => {
    // An empty file gets no sectors and points where the next data starts, as genisoimage
    // does; the trailing padding sector below keeps that inside the image.
    const lba = next;
    next += Math.ceil(d.length / SECTOR_SIZE);
    return lba;
  });
  const totalSectors = next + 1; // one zero sector of padding at the end

  const image = Buffer.alloc(totalSectors * SECTOR_SIZE);
  const sector = (lba: number): Buffer =>
    image.subarray(lba * SECTOR_SIZE, (lba + 1) * SECTOR_SIZE);

  const rootRecord = (lba: number, sectors: number): Buffer =>
    directoryRecord(Buffer.of(0), lba, sectors * SECTOR_SIZE, true, date);

  // Primary volume descriptor (ECMA-119 8.4).
  writeVolumeDescriptor(sector(16), {
    type: 1,
    text: (s, n) => padAscii(s, n),
    volumeId,
    totalSectors,
    pathTableLba: [pathTableLba, pathTableLba + 1],
    root: rootRecord(primaryRootLba, primaryRootSectors),
    date,
  });
  // Joliet supplementary volume descriptor (ECMA-119 8.5, Joliet spec: escape %/E = UCS-2 level 3).
  writeVolumeDescriptor(sector(17), {
    type: 2,
    text: (s, n) => padUcs2(s, n),
    volumeId,
    totalSectors,
    pathTableLba: [pathTableLba + 2, pathTableLba + 3],
    root: rootRecord(jolietRootLba, jolietRootSectors),
    date,
    escape: Buffer.from('%/E', 'ascii'),
  });
  // Volume descriptor set terminator (ECMA-119 8.3).
  const term = sector(18);
  term[0] = 255;
  term.write('CD001', 1, 'ascii');
  term[6] = 1;

  // Path tables (ECMA-119 9.4): just the root, whose parent is itself (directory number 1).
  writePathTable(sector(pathTableLba), primaryRootLba, 'LE');
  writePathTable(sector(pathTableLba + 1), primaryRootLba, 'BE');
  writePathTable(sector(pathTableLba + 2), jolietRootLba, 'LE');
  writePathTable(sector(pathTableLba + 3), jolietRootLba, 'BE');

  // The two root directories: '.', '..' (both the root itself), then the files in order.
  for (const [entries, lba, sectors] of [
    [primaryEntries, primaryRootLba, primaryRootSectors],
    [jolietEntries, jolietRootLba, jolietRootSectors],
  ] as const) {
    const records = [
      rootRecord(lba, sectors), // '.'
      directoryRecord(Buffer.of(1), lba, sectors * SECTOR_SIZE, true, date), // '..'
      ...entries.map((e) =>
        directoryRecord(
          e.id,
          extents[e.index] as number,
          (data[e.index] as Buffer).length,
          false,
          date,
        ),
      ),
    ];
    writeDirectory(image, lba, records);
  }

  for (const [i, d] of data.entries()) d.copy(image, (extents[i] as number) * SECTOR_SIZE);
  return image;
}

/** The fields in which the primary and the Joliet descriptor differ. */
interface DescriptorFields {
  readonly type: 1 | 2;
  /** Encodes and pads an identifier to `n` bytes: ASCII for primary, UCS-2 BE for Joliet. */
  readonly text: (s: string, n: number) => Buffer;
  readonly volumeId: string;
  readonly totalSectors: number;
  /** Sector of the type L and of the type M path table. */
  readonly pathTableLba: readonly [number, number];
  readonly root: Buffer;
  readonly date: Date;
  readonly escape?: Buffer;
}

/** Fills a primary (8.4) or supplementary (8.5) volume descriptor; offsets are ECMA-119's. */
function writeVolumeDescriptor(s: Buffer, f: DescriptorFields): void {
  s[0] = f.type;
  s.write('CD001', 1, 'ascii');
  s[6] = 1; // descriptor version
  f.text('', 32).copy(s, 8); // system identifier
  f.text(f.volumeId, 32).copy(s, 40);
  both32(f.totalSectors).copy(s, 80); // volume space size
  f.escape?.copy(s, 88);
  both16(1).copy(s, 120); // volume set size
  both16(1).copy(s, 124); // volume sequence number
  both16(SECTOR_SIZE).copy(s, 128); // logical block size
  both32(PATH_TABLE_SIZE).copy(s, 132);
  s.writeUInt32LE(f.pathTableLba[0], 140);
  s.writeUInt32BE(f.pathTableLba[1], 148);
  f.root.copy(s, 156); // root directory record, 34 bytes
  f.text('', 128).copy(s, 190); // volume set identifier
  f.text('', 128).copy(s, 318); // publisher
  f.text('', 128).copy(s, 446); // data preparer
  f.text('MAASLAB', 128).copy(s, 574); // application
  f.text('', 37).copy(s, 702); // copyright file
  f.text('', 37).copy(s, 739); // abstract file
  f.text('', 37).copy(s, 776); // bibliographic file
  decDateTime(f.date).copy(s, 813); // creation
  decDateTime(f.date).copy(s, 830); // modification
  decDateTime(undefined).copy(s, 847); // expiration: none
  decDateTime(undefined).copy(s, 864); // effective: now
  s[881] = 1; // file structure version
}

/** Size of a path table holding only the root: 8 + 1-byte identifier + 1 pad byte. */
const PATH_TABLE_SIZE = 10;

function writePathTable(s: Buffer, rootLba: number, order: 'LE' | 'BE'): void {
  s[0] = 1; // identifier length
  s[1] = 0; // extended attribute record length
  if (order === 'LE') {
    s.writeUInt32LE(rootLba, 2);
    s.writeUInt16LE(1, 6);
  } else {
    s.writeUInt32BE(rootLba, 2);
    s.writeUInt16BE(1, 6);
  }
  s[8] = 0; // the root's identifier
}

/** A directory record (ECMA-119 9.1); its length is even, padded after the identifier. */
function directoryRecord(
  id: Buffer,
  lba: number,
  size: number,
  isDir: boolean,
  date: Date,
): Buffer {
  const length = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
  const r = Buffer.alloc(length);
  r[0] = length;
  r[1] = 0; // extended attribute record length
  both32(lba).copy(r, 2);
  both32(size).copy(r, 10);
  recordingDate(date).copy(r, 18);
  r[25] = isDir ? 2 : 0; // file flags: bit 1 = directory
  both16(1).copy(r, 28); // volume sequence number
  r[32] = id.length;
  id.copy(r, 33);
  return r;
}

/** Sectors a directory of `ids` needs: records never cross a sector boundary (6.8.1.1). */
function directorySectors(idLengths: readonly number[]): number {
  return layoutRecords([34, 34, ...idLengths.map((n) => 33 + n + (n % 2 === 0 ? 1 : 0))]).sectors;
}

function layoutRecords(lengths: readonly number[]): { offsets: number[]; sectors: number } {
  const offsets: number[] = [];
  let pos = 0;
  for (const len of lengths) {
    const room = SECTOR_SIZE - (pos % SECTOR_SIZE);
    if (len > room) pos += room;
    offsets.push(pos);
    pos += len;
  }
  return { offsets, sectors: Math.max(1, Math.ceil(pos / SECTOR_SIZE)) };
}

function writeDirectory(image: Buffer, lba: number, records: readonly Buffer[]): void {
  const { offsets } = layoutRecords(records.map((r) => r.length));
  records.forEach((r, i) => r.copy(image, lba * SECTOR_SIZE + (offsets[i] as number)));
}

/**
 * Primary-tree identifiers (`NAME.EXT;1`, d-characters only, ECMA-119 7.5) for Joliet names.
 * Level 2 lengths (at most 30 characters before ';1'); a clash after mapping gets a numeric suffix.
 */
function primaryIdentifiers(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const dot = name.lastIndexOf('.');
    const clean = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
    const ext = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 8) : '';
    const base = clean(dot > 0 ? name.slice(0, dot) : name).slice(0, 29 - ext.length);
    let id = `${base}.${ext}`;
    for (let n = 1; used.has(id); n++) {
      const suffix = `_${n}`;
      id = `${base.slice(0, 29 - ext.length - suffix.length)}${suffix}.${ext}`;
    }
    used.add(id);
    return `${id};1`;
  });
}

function both16(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(n, 0);
  b.writeUInt16BE(n, 2);
  return b;
}

function both32(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(n, 0);
  b.writeUInt32BE(n, 4);
  return b;
}

function padAscii(s: string, n: number): Buffer {
  return Buffer.from(s.padEnd(n, ' ').slice(0, n), 'ascii');
}

function ucs2be(s: string): Buffer {
  return Buffer.from(s, 'utf16le').swap16();
}

/** UCS-2 BE, padded with UCS-2 spaces; an odd-sized field (37 bytes) ends with one zero byte. */
function padUcs2(s: string, n: number): Buffer {
  const b = Buffer.alloc(n);
  ucs2be(s.padEnd(Math.floor(n / 2), ' ').slice(0, Math.floor(n / 2))).copy(b);
  return b;
}

/** The 17-byte date of a volume descriptor (8.4.26.1), UTC; `undefined` means "not specified". */
function decDateTime(d: Date | undefined): Buffer {
  const b = Buffer.alloc(17);
  if (d === undefined) {
    b.write('0000000000000000', 0, 'ascii');
    return b;
  }
  const p = (v: number, w: number): string => String(v).padStart(w, '0');
  const text =
    p(d.getUTCFullYear(), 4) +
    p(d.getUTCMonth() + 1, 2) +
    p(d.getUTCDate(), 2) +
    p(d.getUTCHours(), 2) +
    p(d.getUTCMinutes(), 2) +
    p(d.getUTCSeconds(), 2) +
    p(Math.floor(d.getUTCMilliseconds() / 10), 2);
  b.write(text, 0, 'ascii');
  b[16] = 0; // offset from GMT in 15-minute units
  return b;
}

/** The 7-byte date of a directory record (9.1.5), UTC. */
function recordingDate(d: Date): Buffer {
  return Buffer.of(
    d.getUTCFullYear() - 1900,
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    0,
  );
}
