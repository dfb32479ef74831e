// The words kubectl resolves a resource argument by (`kubectl get WORD`), and where ours
// clash with each other's or a stock cluster's. kubectl expands a WORD that is a category
// before anything else, then matches it against every resource's name (plural), singular,
// short names and kind: a category that is also a resource's word hides that resource, and
// a word two resources share picks one of them by discovery order.
import { Category, Group, kinds } from '../../src/api/v1alpha1/index.js';

/** One resource as discovery (`kubectl api-resources -o json`) describes it. */
export interface ResourceNames {
  /** The API group; '' for the core group. */
  readonly group: string;
  readonly kind: string;
  /** The plural, e.g. `maasnodes`. */
  readonly name: string;
  readonly singularName: string;
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
}

/** Our four kinds, as the CRDs in crds/ make discovery describe them. */
export const ourResourceNames: readonly ResourceNames[] = kinds.map((k) => ({
  group: Group,
  kind: k.kind,
  name: k.plural,
  singularName: k.singular,
  shortNames: k.shortNames,
  categories: [Category],
}));

/** `name.group`, as kubectl writes a resource in full. */
export const fullName = (r: ResourceNames): string => (r.group ? `${r.name}.${r.group}` : r.name);

/** The words that name the resource itself: plural, singular, short names and the kind. */
export const resourceWords = (r: ResourceNames): ReadonlySet<string> =>
  new Set(
    [r.name, r.singularName, r.kind.toLowerCase(), ...(r.shortNames ?? [])].filter((w) => w !== ''),
  );

/**
 * Every clash of a word of `ours` (a resource word or a category) with a word of another
 * resource of `ours` or of `stock`, one sentence each, sorted; empty when kubectl resolves
 * each of our words to exactly what we mean. Our kinds may share a category (that is what
 * it is for), and clashes among stock resources alone (events and events.k8s.io) are not
 * ours to report.
 */
export function nameClashes(
  ours: readonly ResourceNames[],
  stock: readonly ResourceNames[],
): string[] {
  const clashes = new Set<string>();
  const isOurs = new Set(ours);
  for (const a of ours) {
    const aWords = resourceWords(a);
    for (const c of a.categories ?? [])
      if (aWords.has(c)) clashes.add(`category "${c}" of ${fullName(a)} is also its own name`);
    for (const b of [...ours, ...stock]) {
      if (b === a) continue;
      const bWords = resourceWords(b);
      const pair = [fullName(a), fullName(b)].sort().join(' and ');
      for (const w of aWords) {
        if (bWords.has(w)) clashes.add(`"${w}" names both ${pair}`);
        if (b.categories?.includes(w))
          clashes.add(`"${w}" names ${fullName(a)} and is a category of ${fullName(b)}`);
      }
      for (const c of a.categories ?? []) {
        if (bWords.has(c))
          clashes.add(`category "${c}" of ${fullName(a)} names ${fullName(b)} as well`);
        // A category of ours that a stock resource shares would mix it into our listing.
        if (!isOurs.has(b) && b.categories?.includes(c))
          clashes.add(`category "${c}" of ${fullName(a)} is a category of ${fullName(b)} too`);
      }
    }
  }
  return [...clashes].sort();
}
