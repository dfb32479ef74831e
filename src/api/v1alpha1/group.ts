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

/** The category every kind joins, so that `kubectl get maaslab` lists them all. */
export const Category = 'maaslab';
