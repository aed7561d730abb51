// Every entry point in package.json "exports", as a user's project reaches it: the package is built
// (tsc -p tsconfig.build.json, what `npm run build` runs) into a copy installed in a project's
// node_modules; each subpath must load in Node and resolve to typings in TypeScript, and none may
// export a name on the list of internals (the HTTP transport, token caches, argument builders ...).
// A subpath is complete on its own: imagespec/spec alone checks ECR hosts and the `ecr` block.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT } from "../support/cli.js";
import { importedModuleNames, typeErrors } from "../support/exported-names.js";
import { removeDir, runOk, tempDir } from "../support/tools.js";

/** Names that are implementation details: no entry point may export them. */
const INTERNAL = [
  // registry/: the HTTP layer and the auth machinery behind Registry
  "Transport",
  "HttpResponse",
  "HttpRequest",
  "TransportOptions",
  "TransportTimeouts",
  "DistributionClient",
  "FetchedManifest",
  "UploadStart",
  "TokenCache",
  "Authenticator",
  "parseChallenges",
  "Challenge",
  "repositoryScope",
  "redactHeaders",
  "runCredentialHelper",
  // ecr/: token encoding and cache keys, the raw AWS clients, request builders
  "tokenCacheKey",
  "tokenFresh",
  "decodeToken",
  "awsErrorName",
  "ecrApiError",
  "EcrClients",
  "createRepositoryInput",
  "repositoryKey",
  // python/: how pip and uv are invoked and read, download plumbing
  "pipResolveArgs",
  "parsePipReport",
  "uvResolveArgs",
  "uvPythonPlatform",
  "parsePylock",
  "pipTargetArgs",
  "indexCredentialsFor",
  "proxyDispatcher",
  "RESOLUTION_FORMAT",
  "resolutionCachePath",
  "writeCachedResolution",
  "INSTALLER_NAME",
  // workflow/: protobuf encoders, package layout, pyflyte's command line, IDL service tables
  "pyflyteExecuteArgs",
  "encodeTaskSpec",
  "encodeWorkflowSpec",
  "encodeLaunchPlan",
  "packageEntries",
  "indexWidth",
  "serviceMethods",
  "protoDir",
  "ADMIN_PROTO",
  "AUTH_PROTO",
  "adminTarget",
  // apt/: the .deb reader and the signature check
  "readArMembers",
  "readDebControl",
  "verifyInRelease",
  "readKeyring",
  // layer/: entry ordering and the block gzip engine
  "planEntries",
  "normaliseEntryPath",
  "compareBytewise",
  "ParallelGzip",
  // build/: step keys, the step caches (artifacts, codecs, lookup and store), base listings, the
  // driver's parts (destinations, publishers, builders, the selection), the backends' plumbing
  "pythonStepKey",
  "basePythonKey",
  "aptStepKey",
  "wheelLayerKey",
  "filesLayerKey",
  "cacheTag",
  "CACHE_TAG_PREFIX",
  "STEP_CACHE_VERSION",
  "STEP_CACHE_ARTIFACT_TYPE",
  "StepCacheAnnotation",
  "StepCache",
  "StepCodec",
  "pythonCodec",
  "aptCodec",
  "layerCodec",
  "basePythonCodec",
  "stepArtifact",
  "parseStepArtifact",
  "lookupRegistry",
  "storeRegistry",
  "stepCacheArtifact",
  "parseStepCacheManifest",
  "lookupStepCache",
  "storeStepCache",
  "basePythonArtifact",
  "parseBasePythonManifest",
  "lookupBasePython",
  "storeBasePython",
  "runAptStep",
  "aptStepArtifact",
  "parseAptStepManifest",
  "lookupAptStep",
  "storeAptStep",
  "aptLayerHistory",
  "pythonLayerHistory",
  "baseListingCached",
  "readBaseListing",
  "listLayer",
  "mergeLayerListings",
  "glibcFromDpkgStatus",
  "muslFromApkInstalled",
  "writeAuthDir",
  "layerCacheName",
  "withScriptsOnPath",
  "destinationFor",
  "describeDestination",
  "parseOutput",
  "publisherFor",
  "existingDigest",
  "RegistryPublisher",
  "LayoutPublisher",
  "NativePlanBuilder",
  "DockerfilePlanBuilder",
  "selectBuilder",
  "nativeSelection",
  "blockedError",
  "noWheelError",
  "buildConfig",
  "configEnv",
  "buildEpoch",
  // oci/: the manifest Accept header and the tables behind isIndexMediaType/isManifestMediaType, the layout's prefix
  "MANIFEST_ACCEPT",
  "MANIFEST_MEDIA_TYPES",
  "INDEX_MEDIA_TYPES",
  "LAYOUT_PREFIX",
  // reference/ and the root helpers
  "ReferenceError",
  "withoutUserinfo",
  "REDACTED",
  "mapLimited",
  "forEachLimited",
];

let work: string;
let project: string;
let subpaths: string[];

before(async () => {
  work = await tempDir("imagespec-exports-");
  const pkg = join(work, "package");
  await mkdir(pkg);
  await copyFile(join(ROOT, "package.json"), join(pkg, "package.json"));
  await symlink(join(ROOT, "node_modules"), join(pkg, "node_modules"));
  await runOk(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", join(pkg, "dist")], { timeoutMs: 300_000 });
  project = join(work, "project");
  await mkdir(join(project, "node_modules", "@types"), { recursive: true });
  await symlink(pkg, join(project, "node_modules", "imagespec"));
  await symlink(join(ROOT, "node_modules", "@types", "node"), join(project, "node_modules", "@types", "node"));
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  const exports = (JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, unknown> }).exports;
  subpaths = Object.keys(exports).map((key) => (key === "." ? "imagespec" : `imagespec/${key.replace(/^\.\//, "")}`));
});

after(() => removeDir(work));

describe("package.json exports", () => {
  it("has the root and a subpath per library folder", () => {
    assert.deepEqual(
      [...subpaths].sort(),
      ["imagespec", ...["apt", "build", "ecr", "layer", "oci", "python", "reference", "registry", "spec", "workflow"].map((s) => `imagespec/${s}`)],
    );
  });

  it("each entry point loads in Node and exports no internal value", async () => {
    const script = join(project, "load.mjs");
    await writeFile(
      script,
      `const out = {};\nfor (const s of ${JSON.stringify(subpaths)}) out[s] = Object.keys(await import(s));\nprocess.stdout.write(JSON.stringify(out));\n`,
    );
    const { stdout } = await runOk(process.execPath, [script], { cwd: project, timeoutMs: 120_000 });
    const loaded = JSON.parse(stdout) as Record<string, string[]>;
    for (const subpath of subpaths) {
      const names = loaded[subpath];
      assert.ok(names && names.length > 0, `${subpath} loads and exports something`);
      assert.deepEqual(names.filter((n) => INTERNAL.includes(n)), [], `${subpath} exports internals`);
    }
  });

  it("each entry point has typings, and none exports an internal type or value", async () => {
    const check = join(project, "check.ts");
    await writeFile(check, subpaths.map((s, i) => `import * as m${i} from ${JSON.stringify(s)};\nvoid m${i};\n`).join(""));
    const resolved = importedModuleNames(check);
    for (const subpath of subpaths) {
      const names = resolved.get(subpath);
      assert.ok(names && names.length > 0, `${subpath} resolves to typings`);
      assert.deepEqual(names.filter((n) => INTERNAL.includes(n)), [], `${subpath}'s typings export internals`);
    }
  });
});

describe("imagespec/spec alone", () => {
  // A project that imports only this subpath gets the spec with its vendors: the ECR spec vendor
  // registers with it, so an ECR host typo and a bad `ecr` block fail as they do through the root.
  it("checks ECR hosts and the ecr block at run time", async () => {
    const script = join(project, "spec-only.mjs");
    await writeFile(
      script,
      [
        `import { ImageSpec } from "imagespec/spec";`,
        `const attempt = (input) => { try { return { ok: new ImageSpec(input).ecr ?? null }; } catch (error) { return { error: error.name, message: error.message, hints: (error.issues ?? []).map((i) => i.hint) }; } };`,
        `process.stdout.write(JSON.stringify({`,
        `  typo: attempt({ name: "app", registry: "123456789012.dkr.ecr.us-eas-1.amazonaws.com" }),`,
        `  badEcr: attempt({ name: "app", registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", ecr: { scanOnPush: "yes" } }),`,
        `  goodEcr: attempt({ name: "app", registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", ecr: { scanOnPush: true } }),`,
        `}));`,
      ].join("\n"),
    );
    const { stdout } = await runOk(process.execPath, [script], { cwd: project, timeoutMs: 60_000 });
    const out = JSON.parse(stdout) as Record<string, { ok?: { scanOnPush?: boolean; tagMutability?: string }; error?: string; message?: string; hints?: string[] }>;
    assert.equal(out.typo?.error, "ValidationError", `an ECR host typo is refused: ${JSON.stringify(out.typo)}`);
    assert.match(out.typo.message ?? "", /^registry: .*unknown AWS region "us-eas-1"; did you mean us-east-1\?/);
    assert.equal(out.badEcr?.error, "ValidationError", `a bad ecr block is refused: ${JSON.stringify(out.badEcr)}`);
    assert.match(out.badEcr.message ?? "", /^ecr\.scanOnPush: expected true or false/);
    assert.equal(out.goodEcr?.ok?.scanOnPush, true, `the ecr block is parsed: ${JSON.stringify(out.goodEcr)}`);
    assert.equal(out.goodEcr.ok.tagMutability, "IMMUTABLE_WITH_EXCLUSION", "with ECR's defaults");
  });

  it("types the ecr block", async () => {
    const file = join(project, "spec-only.ts");
    await writeFile(
      file,
      [
        `import { ImageSpec } from "imagespec/spec";`,
        `const spec = new ImageSpec({ name: "app", registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", ecr: { scanOnPush: true } });`,
        `const scan: boolean = spec.ecr.scanOnPush;`,
        `// @ts-expect-error scanOnPush is a boolean`,
        `new ImageSpec({ name: "app", ecr: { scanOnPush: "yes" } });`,
        `void scan;`,
        ``,
      ].join("\n"),
    );
    assert.deepEqual(typeErrors(file), []);
  });
});
