// `imagespec cache prune`: frees the local build cache (layers, wheels, .debs, indexes, step
// records) of what has not been used for a while.
import type { Command } from "commander";
import { defaultCacheDir } from "../../build/cache-dir.js";
import { parseAge, pruneCache } from "../../build/cache-prune.js";
import { ImagespecError } from "../../errors.js";
import { humanSize } from "../../units.js";
import { reportError } from "../output.js";
import type { RegisterCommand } from "./index.js";

interface PruneFlags {
  cacheDir?: string;
  olderThan: string;
  all?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export const registerCacheCommand: RegisterCommand = (program: Command) => {
  const cache = program.command("cache").description("manage the local build cache");
  cache
    .command("prune")
    .description("remove cache entries not used recently (layers, wheels, .debs, package indexes, step records)")
    .option("--cache-dir <dir>", "the cache (default $XDG_CACHE_HOME/imagespec; env IMAGESPEC_CACHE_DIR)")
    .option("--older-than <age>", "remove what was not used for this long: 30d, 12h, 90m", "30d")
    .option("--all", "remove everything, whatever its age")
    .option("--dry-run", "say what would be removed, remove nothing")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
The Dockerfile builders' storage (CACHE_DIR/buildah) is not touched: use buildah rmi or
podman image prune for it. Nothing in the registry is removed.

Examples:
  imagespec cache prune
  imagespec cache prune --older-than 7d --dry-run
  imagespec cache prune --all`,
    )
    .action(async (flags: PruneFlags) => {
      try {
        const olderThanMs = parseAge(flags.olderThan);
        if (olderThanMs === undefined) {
          throw new ImagespecError("INVALID_OPTION", `--older-than ${JSON.stringify(flags.olderThan)} is not an age`, { hint: "write a number with d, h, m or s, e.g. 30d or 12h" });
        }
        const cacheDir = flags.cacheDir ?? defaultCacheDir();
        const result = await pruneCache({ cacheDir, olderThanMs, all: flags.all === true, dryRun: flags.dryRun === true });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ cacheDir, dryRun: flags.dryRun === true, ...result })}\n`);
          return;
        }
        const verb = flags.dryRun ? "would remove" : "removed";
        for (const [area, t] of Object.entries(result.byArea)) {
          process.stdout.write(`${area.padEnd(20)} ${verb} ${t.removed} (${humanSize(t.removedBytes)}), kept ${t.kept} (${humanSize(t.keptBytes)})\n`);
        }
        process.stdout.write(`${cacheDir}: ${verb} ${result.removed} entries, ${humanSize(result.removedBytes)}; kept ${result.kept}, ${humanSize(result.keptBytes)}\n`);
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
};
