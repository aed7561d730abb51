// Resolution: the requested packages and everything they need (Pre-Depends and Depends, with
// alternatives, version relations, Provides and `:any`), for one target architecture, skipping what
// the base already has in a version that satisfies. Greedy and deterministic like apt's default
// choice: the first alternative that can be installed, the highest version that fits, a provider
// that is already there before a new one. Conflicts and Breaks are not checked (apt would refuse
// what dpkg cannot unpack; here packages only add files). An unsatisfiable request names the whole
// chain that led to it.
import { closest } from "../spec/suggest.js";
import type { InstalledPackage } from "./dpkg-status.js";
import { AptError } from "./errors.js";
import type { IndexPackage } from "./packages-index.js";
import { compareVersions, formatDependency, formatGroup, parseRelations, satisfies, type Dependency, type DependencyGroup } from "./version.js";

export interface PackageRequest {
  readonly name: string;
  readonly architecture?: string;
  readonly version?: string;
}

interface Provider {
  readonly pkg: IndexPackage;
  readonly version?: string;
}

/** All packages installable on one architecture, by name and by what they provide. */
export interface Universe {
  readonly architecture: string;
  readonly byName: ReadonlyMap<string, readonly IndexPackage[]>;
  readonly providers: ReadonlyMap<string, readonly Provider[]>;
}

export function buildUniverse(packages: Iterable<IndexPackage>, architecture: string): Universe {
  const byName = new Map<string, IndexPackage[]>();
  const providers = new Map<string, Provider[]>();
  const seen = new Set<string>();
  for (const pkg of packages) {
    if (pkg.architecture !== architecture && pkg.architecture !== "all") continue;
    // The same package version in two indexes (a mirror listed twice): the first one counts.
    const id = `${pkg.name}\0${pkg.version}\0${pkg.architecture}`;
    if (seen.has(id)) continue;
    seen.add(id);
    let list = byName.get(pkg.name);
    if (!list) byName.set(pkg.name, (list = []));
    list.push(pkg);
    if (pkg.provides !== undefined) {
      for (const group of safeRelations(pkg.provides, pkg)) {
        for (const dep of group) {
          let ps = providers.get(dep.name);
          if (!ps) providers.set(dep.name, (ps = []));
          ps.push({ pkg, ...(dep.constraint?.relation === "=" ? { version: dep.constraint.version } : {}) });
        }
      }
    }
  }
  // Highest version first.
  for (const list of byName.values()) list.sort((a, b) => compareVersions(b.version, a.version));
  return { architecture, byName, providers };
}

function safeRelations(text: string | undefined, pkg: { name: string; version: string }): DependencyGroup[] {
  try {
    return parseRelations(text);
  } catch (error) {
    throw new AptError("APT_BAD_CONTROL", `${pkg.name} ${pkg.version}: ${(error as Error).message}`, { hint: "the archive's index has a relation imagespec cannot read" });
  }
}

export interface Resolution {
  /** Packages to lay into the layer, by name. */
  readonly install: readonly IndexPackage[];
  /** Requested packages the base already has in a satisfying version: `name version`. */
  readonly alreadyInstalled: readonly string[];
  /** Base packages that a requested package needs in a newer version (replaced in the layer). */
  readonly upgrades: readonly { readonly name: string; readonly from: string; readonly to: string }[];
}

const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2, optional: 3, extra: 4 };

export function resolvePackages(requests: readonly PackageRequest[], universe: Universe, installed: readonly InstalledPackage[]): Resolution {
  const arch = universe.architecture;
  const base = new Map<string, InstalledPackage>();
  const baseProvides = new Map<string, { name: string; version?: string }[]>();
  for (const pkg of installed) {
    if (pkg.architecture !== arch && pkg.architecture !== "all") continue;
    base.set(pkg.name, pkg);
    for (const group of pkg.provides) {
      for (const dep of group) {
        let list = baseProvides.get(dep.name);
        if (!list) baseProvides.set(dep.name, (list = []));
        list.push({ name: pkg.name, ...(dep.constraint?.relation === "=" ? { version: dep.constraint.version } : {}) });
      }
    }
  }
  const chosen = new Map<string, IndexPackage>();
  const chosenProvides = new Map<string, { name: string; version?: string }[]>();
  const alreadyInstalled: string[] = [];

  const describe = (pkg: IndexPackage) => `${pkg.name} ${pkg.version}`;

  const choose = (pkg: IndexPackage, chain: readonly string[]): void => {
    const existing = chosen.get(pkg.name);
    if (existing !== undefined) {
      if (existing.version === pkg.version) return;
      throw unsatisfiable([...chain, describe(pkg)], `${pkg.name} is needed both as ${existing.version} and as ${pkg.version}`);
    }
    chosen.set(pkg.name, pkg);
    for (const group of safeRelations(pkg.provides, pkg)) {
      for (const dep of group) {
        let list = chosenProvides.get(dep.name);
        if (!list) chosenProvides.set(dep.name, (list = []));
        list.push({ name: pkg.name, ...(dep.constraint?.relation === "=" ? { version: dep.constraint.version } : {}) });
      }
    }
    const here = [...chain, describe(pkg)];
    for (const group of [...safeRelations(pkg.preDepends, pkg), ...safeRelations(pkg.depends, pkg)]) satisfy(group, here);
  };

  /** Whether a provided (virtual) name meets the dependency: a versioned dependency needs a versioned Provides. */
  const provideMeets = (dep: Dependency, provided: { version?: string }) =>
    dep.constraint === undefined || (provided.version !== undefined && satisfies(provided.version, dep.constraint));

  const archOk = (dep: Dependency, multiArch: string | undefined, pkgArch: string) => {
    if (dep.arch === undefined || dep.arch === "native") return true;
    if (dep.arch === "any") return multiArch === "allowed" || pkgArch === "all" || multiArch === undefined;
    return dep.arch === pkgArch;
  };

  const satisfiedAlready = (dep: Dependency): boolean => {
    const mine = chosen.get(dep.name);
    if (mine !== undefined) return satisfies(mine.version, dep.constraint) && archOk(dep, mine.multiArch, mine.architecture);
    if ((chosenProvides.get(dep.name) ?? []).some((p) => provideMeets(dep, p))) return true;
    const have = base.get(dep.name);
    if (have !== undefined && satisfies(have.version, dep.constraint) && archOk(dep, have.multiArch, have.architecture)) return true;
    return (baseProvides.get(dep.name) ?? []).some((p) => !chosen.has(p.name) && provideMeets(dep, p));
  };

  const satisfy = (group: DependencyGroup, chain: readonly string[]): void => {
    if (group.some(satisfiedAlready)) return;
    const reasons: string[] = [];
    for (const dep of group) {
      if (dep.arch !== undefined && dep.arch !== "any" && dep.arch !== "native" && dep.arch !== arch) {
        reasons.push(`${formatDependency(dep)}: another architecture than ${arch}`);
        continue;
      }
      const real = (universe.byName.get(dep.name) ?? []).filter((p) => archOk(dep, p.multiArch, p.architecture));
      const fits = real.find((p) => satisfies(p.version, dep.constraint));
      if (fits !== undefined) {
        choose(fits, chain);
        return;
      }
      const providers = (universe.providers.get(dep.name) ?? []).filter((p) => provideMeets(dep, p)).map((p) => p.pkg);
      if (providers.length > 0) {
        const pick = [...providers].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || compareVersions(b.version, a.version))[0]!;
        choose(pick, chain);
        return;
      }
      if (real.length > 0) reasons.push(`${formatDependency(dep)}: the archive has ${real.map((p) => p.version).join(", ")}`);
      else if (base.has(dep.name)) reasons.push(`${formatDependency(dep)}: the base has ${base.get(dep.name)!.version} and the archive no other`);
      else reasons.push(`${formatDependency(dep)}: no such package`);
    }
    throw unsatisfiable([...chain, formatGroup(group)], reasons.join("; "));
  };

  for (const request of requests) {
    if (request.architecture !== undefined && request.architecture !== arch && request.architecture !== "all") {
      throw new AptError("APT_ARCHITECTURE", `${request.name}:${request.architecture}: only packages for the image's architecture (${arch}) can be installed`, {
        hint: `drop ":${request.architecture}", or build for linux/${request.architecture}`,
      });
    }
    const label = `${request.name}${request.version !== undefined ? `=${request.version}` : ""}`;
    const have = base.get(request.name);
    if (have !== undefined && (request.version === undefined || compareVersions(have.version, request.version) === 0) && !chosen.has(request.name)) {
      alreadyInstalled.push(`${have.name} ${have.version}`);
      continue;
    }
    const candidates = universe.byName.get(request.name) ?? [];
    if (candidates.length === 0) {
      const providers = [...new Set((universe.providers.get(request.name) ?? []).map((p) => p.pkg.name))].sort();
      if (providers.length === 1 && request.version === undefined) {
        choose(universe.byName.get(providers[0]!)![0]!, [label]);
        continue;
      }
      if (providers.length > 1) {
        throw new AptError("APT_PACKAGE_NOT_FOUND", `${request.name} is a virtual package provided by ${providers.join(", ")}`, {
          hint: "name one of them in aptPackages",
        });
      }
      throw notFound(request.name, universe);
    }
    const pick = request.version === undefined ? candidates[0]! : candidates.find((p) => compareVersions(p.version, request.version!) === 0);
    if (pick === undefined) {
      throw new AptError(
        "APT_VERSION_NOT_FOUND",
        `${label}: the archive has no version ${request.version} of ${request.name} for ${arch} (it has ${candidates.map((p) => p.version).join(", ")}${have ? `; the base has ${have.version}` : ""})`,
        { hint: `write ${request.name}=${candidates[0]!.version}, or drop the version to take the newest` },
      );
    }
    choose(pick, [label]);
  }

  const install = [...chosen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const upgrades = install.filter((p) => base.has(p.name)).map((p) => ({ name: p.name, from: base.get(p.name)!.version, to: p.version }));
  return { install, alreadyInstalled, upgrades };
}

function rank(pkg: IndexPackage): number {
  return PRIORITY_RANK[pkg.priority ?? "optional"] ?? 3;
}

function unsatisfiable(chain: readonly string[], reason: string): AptError {
  return new AptError("APT_UNSATISFIABLE", `cannot install ${chain[0]}: ${chain.join(" -> ")}: ${reason}`, {
    hint: "the archive cannot satisfy this dependency; pin another version of the requested package, or add the apt source that has it",
  });
}

function notFound(name: string, universe: Universe): AptError {
  const near = [...universe.byName.keys()].filter((n) => Math.abs(n.length - name.length) <= 3);
  const suggestion = closest(name, near);
  return new AptError("APT_PACKAGE_NOT_FOUND", `package ${name} is not in the archive for ${universe.architecture}${suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : ""}`, {
    hint: "check the name (apt-cache search on a machine of the same release), or add the apt source that has it to the base image",
  });
}
