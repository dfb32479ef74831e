// Reads an OCI archive (a tar of an OCI image layout, what hack/build-image.sh writes and
// `skopeo copy oci-archive:` or `ctr images import` take) with tar alone: the index, the
// manifest, the image config, and the entries of each layer, with their owners and modes.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The parts of the OCI image config (image-spec config.md) the tests read. */
export interface OciImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly config: {
    readonly User?: string;
    readonly WorkingDir?: string;
    readonly Env?: readonly string[];
    readonly Entrypoint?: readonly string[];
    readonly Cmd?: readonly string[];
    readonly ExposedPorts?: Readonly<Record<string, object>>;
    readonly Labels?: Readonly<Record<string, string>>;
  };
  readonly rootfs: { readonly type: string; readonly diff_ids: readonly string[] };
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** One entry of a layer, as `tar -tv --numeric-owner` lists it. */
export interface LayerEntry {
  /** Without a leading `./` or `/`; directories without a trailing `/`. */
  readonly path: string;
  /** `-` file, `d` directory, `l` symbolic link, `h` hard link, ... */
  readonly type: string;
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
}

export interface OciArchive {
  readonly index: { readonly manifests: readonly Descriptor[] };
  readonly manifest: { readonly config: Descriptor; readonly layers: readonly Descriptor[] };
  readonly config: OciImageConfig;
  /** The raw bytes of a blob, by digest. */
  blob(digest: string): Promise<Buffer>;
  /** The entries of each layer, in order. */
  layers(): Promise<LayerEntry[][]>;
  /** The content of one file of a layer (the layer's gzip stream is read through). */
  fileOf(layer: number, path: string): Promise<string>;
}

const member = (digest: string): string => `blobs/${digest.replace(':', '/')}`;

async function extract(archive: string, name: string): Promise<Buffer> {
  const { stdout } = await run('tar', ['-xOf', archive, name], {
    encoding: 'buffer',
    maxBuffer: 1 << 30,
  });
  return stdout;
}

/** Runs `tar -xOf ARCHIVE BLOB | tar ARGS` and returns the second tar's output. */
function throughLayer(archive: string, digest: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const outer = spawn('tar', ['-xOf', archive, member(digest)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const inner = spawn('tar', ['-z', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    outer.stdout.pipe(inner.stdin);
    const chunks: Buffer[] = [];
    let stderr = '';
    inner.stdout.on('data', (c: Buffer) => chunks.push(c));
    inner.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    outer.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    inner.on('error', reject);
    outer.on('error', reject);
    inner.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(chunks).toString('utf8'))
        : reject(new Error(`tar ${args.join(' ')} of ${digest}: exit ${code}: ${stderr}`)),
    );
  });
}

const normal = (p: string): string => p.replace(/^\.?\//, '').replace(/\/$/, '');

/** Parses one line of GNU `tar -tv --numeric-owner`. */
export function parseListing(line: string): LayerEntry | undefined {
  const m = /^(\S)(\S{9})\s+(\d+)\/(\d+)\s+(\d+|\d+,\s*\d+)\s+\S+\s+\S+\s+(.*)$/.exec(line);
  if (!m) return undefined;
  const type = m[1]!;
  let name = m[6]!;
  if (type === 'l') name = name.replace(/ -> .*$/, '');
  if (type === 'h') name = name.replace(/ link to .*$/, '');
  return {
    path: normal(name),
    type,
    mode: m[2]!,
    uid: Number(m[3]),
    gid: Number(m[4]),
    size: Number(m[5]!.split(',')[0]),
  };
}

/** Opens an OCI archive holding one image (the first manifest of its index). */
export async function openOciArchive(archive: string): Promise<OciArchive> {
  const json = async <T>(name: string): Promise<T> =>
    JSON.parse((await extract(archive, name)).toString('utf8')) as T;
  const index = await json<OciArchive['index']>('index.json');
  const first = index.manifests[0];
  if (!first) throw new Error(`${archive}: index.json lists no manifest`);
  const manifest = await json<OciArchive['manifest']>(member(first.digest));
  const config = await json<OciImageConfig>(member(manifest.config.digest));
  const names = new Map<number, Promise<string[]>>();
  return {
    index,
    manifest,
    config,
    blob: (digest) => extract(archive, member(digest)),
    layers: () =>
      Promise.all(
        manifest.layers.map(async (l) =>
          (
            await throughLayer(archive, l.digest, [
              '-tv',
              '--numeric-owner',
              '--quoting-style=literal',
            ])
          )
            .split('\n')
            .map(parseListing)
            .filter((e): e is LayerEntry => e !== undefined && e.path !== ''),
        ),
      ),
    fileOf: async (layer, path) => {
      const l = manifest.layers[layer];
      if (!l) throw new Error(`no layer ${layer}`);
      // Layers made by mmdebstrap name their entries ./etc/...; ours, app/... The names are
      // listed once per layer (a pass over the whole gzip stream), the file read in another.
      let listing = names.get(layer);
      if (!listing) {
        listing = throughLayer(archive, l.digest, ['-t', '--quoting-style=literal']).then((t) =>
          t.split('\n'),
        );
        names.set(layer, listing);
      }
      const name = (await listing).find((n) => normal(n) === normal(path));
      if (name === undefined) throw new Error(`${path} is not in layer ${layer}`);
      return throughLayer(archive, l.digest, ['-xO', '--quoting-style=literal', name]);
    },
  };
}
