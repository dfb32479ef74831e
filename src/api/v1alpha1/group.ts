/**
 * The maaslab.dev API group and version. Every kind in `src/api/v1alpha1` belongs to it,
 * and `hack/gen-crds.ts` turns the kinds into `crds/maaslab.dev_<plural>.yaml`.
 */

/** The API group of every maaslab kind. */
export const Group = 'maaslab.dev';

/** The only served (and stored) version. */
export const Version = 'v1alpha1';

/** `apiVersion` as it appears in manifests. */
export const GroupVersion = `${Group}/${Version}` as const;

/**
 * The category every kind joins, so that `kubectl get maaslab-all` lists them all.
 *
 * It must be a word no resource answers to. kubectl expands a category before it looks up
 * resource names, so a category `maaslab` (the singular of MaasLab) turned
 * `kubectl get maaslab recipe` into a get of four kinds with one name ("you must specify
 * only one resource"). Cluster API names its category `cluster-api` for the same reason:
 * its kind Cluster is `cluster`. The integration tests check that no name of ours is a
 * stock resource's name, singular, short name or category.
 */
export const Category = 'maaslab-all';
