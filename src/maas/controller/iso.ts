// The NoCloud seed as an ISO image: the three seed files in the root of a volume labelled
// `cidata`, the label cloud-init's NoCloud datasource looks for (it accepts `cidata` and
// `CIDATA`). The bytes come from our ISO 9660 + Joliet writer (iso9660.ts explains why).
import { writeIso9660, type IsoFile } from './iso9660.js';

/** The volume label NoCloud looks for. */
export const SEED_VOLUME_ID = 'cidata';

/**
 * Builds the seed ISO holding `files` in its root directory, labelled `volumeId`.
 * Deterministic: the same files give the same bytes, so a caller may compare digests
 * before uploading again.
 */
export function buildSeedIso(files: readonly IsoFile[], volumeId: string = SEED_VOLUME_ID): Buffer {
  return writeIso9660(files, { volumeId });
}

export type { IsoFile } from './iso9660.js';
