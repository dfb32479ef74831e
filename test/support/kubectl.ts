// The one kubectl that the tests, `make demo` and the benchmarks run: bin/kubectl, built by
// `make kubectl` from the same Kubernetes release as the test control plane
// (test/controlplane/go.mod), never whatever kubectl happens to be on PATH, which may be
// several minor versions away from the apiserver.
import { accessSync, constants } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from './controlplane.js';

/** Where `make kubectl` puts the pinned kubectl. */
export const repoKubectl = join(repoRoot, 'bin', 'kubectl');

/**
 * The absolute path of the kubectl to run: `$KUBECTL` when set (a path, made absolute
 * against the working directory, never looked up on PATH), else the repository's
 * bin/kubectl. Throws when that file is not an executable, naming the make target that
 * builds it, instead of a bare ENOENT from the first spawn.
 */
export function kubectlPath(): string {
  const path = process.env.KUBECTL ? resolve(process.env.KUBECTL) : repoKubectl;
  try {
    accessSync(path, constants.X_OK);
  } catch (err) {
    throw new Error(`${path} is missing or not executable: run 'make kubectl'`, { cause: err });
  }
  return path;
}
