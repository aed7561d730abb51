// The command-line program as users run it: one ES module bundle made by esbuild, so that starting
// `imagespec` reads a few files instead of some 650 modules (src/cli's own graph, undici, zod, yaml).
//
//   node scripts/build-cli.ts [OUT_DIR]      (default dist/cli; `npm run build` runs it after tsc)
//
// Out come bin.js (the installed command: checks the Node version, then loads main.js), main.js
// (flags and the command list) and chunks/ (each command's code, loaded when that command runs).
// The library (dist/index.js and the rest) stays tsc's output, one file per module.
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Dependencies left out of the bundle and imported from node_modules when they are used: they load
 * files by computed paths (the AWS SDK's credential providers, flyteidl's .proto files), are
 * loaders themselves (tsx), or are only ever imported on demand by a command that needs them.
 */
const EXTERNAL = ["@aws-sdk/*", "@smithy/*", "@flyteorg/*", "@grpc/*", "protobufjs", "protobufjs/*", "long", "openpgp", "tsx", "tsx/*", "xz-decompress"];

/**
 * src/version.ts reads the package.json beside the library's dist/; a chunk lives elsewhere, so the
 * bundle carries the version as a constant (and start-up reads one file less).
 */
function versionConstant(version: string): Plugin {
  return {
    name: "version-constant",
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({ contents: `export const VERSION: string = ${JSON.stringify(version)};\n`, loader: "ts" }));
    },
  };
}

/** Writes the CLI bundle into `outDir` (emptied first). */
export async function buildCli(outDir: string): Promise<void> {
  const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
  await rm(outDir, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: ["src/cli/bin.ts", "src/cli/main.ts"],
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node22",
    chunkNames: "chunks/[name]-[hash]",
    external: EXTERNAL,
    // Bundled CommonJS dependencies (undici) require() node's modules; an ES module has no require of its own.
    banner: { js: `import { createRequire as __imagespecCreateRequire } from "node:module";\nconst require = __imagespecCreateRequire(import.meta.url);` },
    plugins: [versionConstant(version)],
    logLevel: "warning",
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildCli(resolve(process.argv[2] ?? join(ROOT, "dist", "cli")));
}
