/**
 * Merge redirects for batch jobs: profile id recorded at capture time → the profile that absorbed
 * it, chains followed (a → b, b → c gives a → c). Pure functions over the map; it is read from the
 * profiles table by shared/profiles/redirects.ts.
 */
export type MergeRedirects = ReadonlyMap<string, string>;

const MAX_HOPS = 64;

/** Collapses direct redirects (absorbed → survivor) into final targets; a cycle (never written by the graph) is left unresolved. */
export function followRedirects(direct: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const start of direct.keys()) {
    let id = start;
    let hops = 0;
    for (let next = direct.get(id); next !== undefined && next !== start && hops < MAX_HOPS; next = direct.get(id), hops++) id = next;
    if (id !== start) out.set(start, id);
  }
  return out;
}

/** Events with their profile id moved to the surviving profile (the input is not changed). */
export function redirectEvents<T extends { profileId: string }>(events: readonly T[], redirects: MergeRedirects | undefined): T[] {
  if (!redirects || redirects.size === 0) return [...events];
  return events.map((e) => {
    const to = redirects.get(e.profileId);
    return to === undefined ? e : { ...e, profileId: to };
  });
}
