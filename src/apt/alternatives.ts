// The effect of `update-alternatives --install` without running it: the links
// (`LINK -> /etc/alternatives/NAME -> PATH`, and the slaves') and dpkg's administrative file
// `/var/lib/dpkg/alternatives/NAME`, merged with what the base already has there. In auto mode
// the highest priority wins, as update-alternatives decides.
import type { AlternativeInstall } from "./postinst.js";

interface Alternative {
  path: string;
  priority: number;
  /** Slave path by slave name ("" when this alternative has none). */
  slaves: Map<string, string>;
}

export interface AlternativeGroup {
  mode: "auto" | "manual";
  name: string;
  link: string;
  /** Slave name -> slave link. */
  slaveLinks: Map<string, string>;
  alternatives: Alternative[];
  /** The currently selected path (from the base's /etc/alternatives link in manual mode). */
  current?: string;
}

/** Parses `/var/lib/dpkg/alternatives/NAME`. */
export function parseAdminFile(name: string, text: string): AlternativeGroup | undefined {
  const lines = text.split("\n");
  let i = 0;
  const next = () => lines[i++] ?? "";
  const mode = next().trim();
  if (mode !== "auto" && mode !== "manual") return undefined;
  const link = next().trim();
  const slaveNames: string[] = [];
  const slaveLinks = new Map<string, string>();
  for (;;) {
    const slaveName = next().trim();
    if (slaveName === "") break;
    slaveNames.push(slaveName);
    slaveLinks.set(slaveName, next().trim());
  }
  const alternatives: Alternative[] = [];
  while (i < lines.length) {
    const path = next().trim();
    if (path === "") break;
    const priority = Number(next().trim());
    const slaves = new Map<string, string>();
    for (const slaveName of slaveNames) slaves.set(slaveName, next().trim());
    alternatives.push({ path, priority: Number.isFinite(priority) ? priority : 0, slaves });
  }
  return { mode, name, link, slaveLinks, alternatives };
}

export function formatAdminFile(group: AlternativeGroup): string {
  const names = [...group.slaveLinks.keys()].sort();
  const lines = [group.mode, group.link];
  for (const name of names) lines.push(name, group.slaveLinks.get(name)!);
  lines.push("");
  for (const alt of [...group.alternatives].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    lines.push(alt.path, String(alt.priority));
    for (const name of names) lines.push(alt.slaves.get(name) ?? "");
  }
  lines.push("");
  return `${lines.join("\n")}\n`;
}

/** Adds the calls to the group (creating it when the base has none). */
export function addAlternatives(existing: AlternativeGroup | undefined, calls: readonly AlternativeInstall[]): AlternativeGroup {
  const first = calls[0]!;
  const group: AlternativeGroup = existing ?? { mode: "auto", name: first.name, link: first.link, slaveLinks: new Map(), alternatives: [] };
  for (const call of calls) {
    for (const slave of call.slaves) if (!group.slaveLinks.has(slave.name)) group.slaveLinks.set(slave.name, slave.link);
    group.alternatives = group.alternatives.filter((a) => a.path !== call.path);
    group.alternatives.push({ path: call.path, priority: call.priority, slaves: new Map(call.slaves.map((s) => [s.name, s.path])) });
  }
  return group;
}

/** The alternative the links point to: the highest priority in auto mode, else the current one. */
export function selected(group: AlternativeGroup): Alternative | undefined {
  if (group.mode === "manual" && group.current !== undefined) {
    const current = group.alternatives.find((a) => a.path === group.current);
    if (current) return current;
  }
  return [...group.alternatives].sort((a, b) => b.priority - a.priority || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))[0];
}

/**
 * Symlinks that make `group` point at its selection: path -> link text. A slave whose file does
 * not exist gets no link, as update-alternatives does.
 */
export function alternativeLinks(group: AlternativeGroup, exists: (path: string) => boolean = () => true): Map<string, string> {
  const links = new Map<string, string>();
  const pick = selected(group);
  if (pick === undefined) return links;
  links.set(group.link, `/etc/alternatives/${group.name}`);
  links.set(`/etc/alternatives/${group.name}`, pick.path);
  for (const [name, link] of group.slaveLinks) {
    const path = pick.slaves.get(name);
    if (path && exists(path)) {
      links.set(link, `/etc/alternatives/${name}`);
      links.set(`/etc/alternatives/${name}`, path);
    }
  }
  return links;
}
