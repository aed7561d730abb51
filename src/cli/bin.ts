#!/usr/bin/env node
// The installed `imagespec` command. It checks the Node version before anything else loads: on an
// older Node the dependencies (undici 8, the AWS SDK) fail at import with errors that do not say why.
import module from "node:module";
import { nodeVersionProblem } from "./node-version.js";

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`error: ${problem}\nhint: install Node 24 (or 22.19+) and run imagespec with it\n`);
  process.exit(2);
}
// V8 keeps the code it compiled for the bundle between runs, in $NODE_COMPILE_CACHE or else
// <tmpdir>/node-compile-cache (NODE_DISABLE_COMPILE_CACHE=1 turns it off); a cache that cannot be
// written only costs the compiling.
module.enableCompileCache();
await import("./main.js");
