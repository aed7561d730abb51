// `imagespec package`: the serialised entities as the files `flytectl register files` reads, in
// pyflyte package's naming: `<index>_<name>_<resource type>.pb`, the index zero-padded to as many
// digits as the count needs, 1 a TaskSpec, 2 a WorkflowSpec, 3 a LaunchPlan; each entry after
// what it refers to (tasks first; a workflow after the launch plans its nodes launch; a launch plan
// after its workflow), since flytectl registers them in that order. Ids carry flytectl's
// `{{ registration.* }}` placeholders, which it replaces with its --project/--domain/--version.
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack as tarPack } from "tar-stream";
import { encodeLaunchPlan, encodeTaskSpec, encodeWorkflowSpec, entityOrder, type Serialized } from "./serialize.js";

export interface PackageEntry {
  readonly name: string;
  readonly kind: "task" | "workflow" | "launchplan";
  readonly entity: string;
  readonly bytes: Uint8Array;
}

/** Digits of the index prefix: enough for `count` entries numbered from 0 (pyflyte's rule). */
export function indexWidth(count: number): number {
  return count === 0 ? 0 : Math.ceil(Math.log10(count));
}

export function packageEntries(serialized: Serialized): PackageEntry[] {
  const items: Omit<PackageEntry, "name">[] = entityOrder(serialized).map((item) => ({
    kind: item.kind,
    entity: item.entity.name,
    bytes: item.kind === "task" ? encodeTaskSpec(item.entity.spec) : item.kind === "workflow" ? encodeWorkflowSpec(item.entity.spec) : encodeLaunchPlan(item.entity.plan),
  }));
  const width = indexWidth(items.length);
  const type = { task: 1, workflow: 2, launchplan: 3 };
  return items.map((item, i) => ({ ...item, name: `${String(i).padStart(width, "0")}_${item.entity}_${type[item.kind]}.pb` }));
}

/** Writes the entries as a gzipped tar (fixed mtime and owner, so the same content gives the same file). */
export async function writePackage(serialized: Serialized, path: string): Promise<PackageEntry[]> {
  const entries = packageEntries(serialized);
  const pack = tarPack();
  const temp = `${path}.${process.pid}.tmp`;
  const writing = pipeline(pack, createGzip(), createWriteStream(temp));
  try {
    for (const entry of entries) {
      await new Promise<void>((resolve, reject) => {
        pack.entry({ name: entry.name, size: entry.bytes.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: "file" }, Buffer.from(entry.bytes), (error) => (error ? reject(error) : resolve()));
      });
    }
    pack.finalize();
    await writing;
    await rename(temp, path);
  } catch (error) {
    pack.destroy();
    await writing.catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  return entries;
}
