// Makes a new version of the operator's image from the one hack/build-image.sh built, as a
// release with a change would be: one more layer (a file under /app) and a new version
// label, under a new tag, in an OCI archive that `ctr images import` names after the tag.
// umoci does the layer and the config, as it does in hack/build-image.sh; rebuilding the
// whole app for a test of the rollout would only add minutes.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The index.json of an OCI image layout, as far as the derivation reads it. */
interface OciIndex {
  manifests: { annotations?: Record<string, string> }[];
}

export interface DerivedImage {
  /** The archive written. */
  readonly archive: string;
  /** The name containerd gives it on import: `<repository>:<tag>`. */
  readonly name: string;
  /** Where the new layer puts the marker, and what it holds. */
  readonly markerPath: string;
  readonly marker: string;
}

/**
 * Writes `<out>`: the image of `archive` (one tag, named `<repository>:<old>` for containerd)
 * plus a layer with `marker` at `markerPath`, tagged `<old>-<suffix>` and named so.
 */
export async function deriveImage(
  archive: string,
  out: string,
  suffix: string,
  markerPath = '/app/UPGRADE',
): Promise<DerivedImage> {
  const dir = await mkdtemp(join(tmpdir(), 'maaslab-oci-derive-'));
  try {
    const layout = join(dir, 'oci');
    await run('mkdir', [layout]);
    await run('tar', ['-xf', archive, '-C', layout]);
    const indexFile = join(layout, 'index.json');
    const before = JSON.parse(await readFile(indexFile, 'utf8')) as OciIndex;
    const annotations = before.manifests[0]?.annotations ?? {};
    const oldTag = annotations['org.opencontainers.image.ref.name'];
    const oldName = annotations['io.containerd.image.name'];
    if (before.manifests.length !== 1 || !oldTag || !oldName) {
      throw new Error(
        `${archive}: expected one tagged, named image, found ${JSON.stringify(before)}`,
      );
    }
    const tag = `${oldTag}-${suffix}`;
    const name = `${oldName.slice(0, oldName.lastIndexOf(':'))}:${tag}`;
    const marker = `maaslab ${tag}\n`;
    const markerFile = join(dir, 'marker');
    await writeFile(markerFile, marker, { mode: 0o644 });
    await run('umoci', [
      'insert',
      '--image',
      `${layout}:${oldTag}`,
      '--tag',
      tag,
      '--history.created_by',
      `test: ${markerPath}`,
      markerFile,
      markerPath,
    ]);
    await run('umoci', [
      'config',
      '--image',
      `${layout}:${tag}`,
      '--config.label',
      `org.opencontainers.image.version=${tag}`,
    ]);
    await run('umoci', ['rm', '--image', `${layout}:${oldTag}`]);
    await run('umoci', ['gc', '--layout', layout]);
    const after = JSON.parse(await readFile(indexFile, 'utf8')) as OciIndex;
    for (const m of after.manifests) {
      m.annotations = { ...m.annotations, 'io.containerd.image.name': name };
    }
    await writeFile(indexFile, JSON.stringify(after));
    await run('tar', [
      '--sort=name',
      '-cf',
      out,
      '-C',
      layout,
      'oci-layout',
      'index.json',
      'blobs',
    ]);
    return { archive: out, name, markerPath, marker };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
