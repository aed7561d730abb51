// Token scopes (`repository:team/app:pull,push`): what each operation asks the token server for.

export type RepositoryAction = "pull" | "push" | "delete";

export function repositoryScope(repository: string, ...actions: RepositoryAction[]): string {
  return `repository:${repository}:${[...new Set(actions)].sort().join(",")}`;
}

/** Merges scopes naming the same resource (`a:pull` + `a:push` -> `a:pull,push`) and sorts them, as a cache key wants. */
export function normaliseScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    for (const one of scope.split(" ")) {
      const colon = one.lastIndexOf(":");
      if (colon <= 0) continue;
      const resource = one.slice(0, colon);
      const actions = byResource.get(resource) ?? new Set<string>();
      for (const action of one.slice(colon + 1).split(",")) if (action) actions.add(action);
      byResource.set(resource, actions);
    }
  }
  return [...byResource.entries()].map(([resource, actions]) => `${resource}:${[...actions].sort().join(",")}`).sort();
}

/** True when every action of `wanted` is already in `have`. */
export function scopesCover(have: readonly string[], wanted: readonly string[]): boolean {
  const merged = normaliseScopes([...have, ...wanted]);
  const current = normaliseScopes(have);
  return merged.length === current.length && merged.every((s, i) => s === current[i]);
}
