// What `imagespec package` and `imagespec register` run (see workflow.ts, which loads this file on demand).
import { readFile } from "node:fs/promises";
import type { BuildEvent } from "../../build/index.js";
import { defaultCacheDir, fileHashingIn } from "../../build/cache-dir.js";
import { parseRegistryLocation } from "../../reference/index.js";
import { BUILDERS, type Builder } from "../../spec/index.js";
import { humanSize } from "../../units.js";
import {
  AdminClient,
  loadWorkflowFile,
  PACKAGE_TARGET,
  registerEntities,
  resolveImages,
  serializeEntities,
  WorkflowError,
  writePackage,
  type AdminAuth,
  type RegisterEvent,
} from "../../workflow/index.js";
import { reportError } from "../output.js";
import { applySpecDefaults } from "../spec-files.js";
import { ecrOptionsFromFlags, registryOptionsFromFlags } from "../registry-options.js";
import { createSession, type Session } from "../../session/index.js";

import { ENDPOINT_ENV, INSECURE_ENV, type PackageFlags, type RegisterFlags } from "./workflow.js";

export async function runPackage(file: string, flags: PackageFlags): Promise<number> {
  try {
    const loaded = await loadWorkflowFile(file);
    const images = await resolveImages(loaded, loaded.baseDir, (spec) => applySpecDefaults(spec, flags), fileHashingIn(defaultCacheDir()));
    const entries = await writePackage(serializeEntities(loaded, images, PACKAGE_TARGET), flags.output);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ output: flags.output, entries: entries.map((e) => ({ name: e.name, kind: e.kind, entity: e.entity, size: e.bytes.length })) })}\n`);
    } else {
      for (const entry of entries) process.stdout.write(`${entry.name}\n`);
      process.stderr.write(`wrote ${entries.length} entries to ${flags.output}\n`);
      process.stderr.write(`register them with: flytectl register files ${flags.output} --archive -p PROJECT -d DOMAIN --version VERSION\n`);
    }
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

function usage(message: string, hint: string): WorkflowError {
  return new WorkflowError("INVALID_OPTION", message, hint);
}

async function authFromFlags(flags: RegisterFlags): Promise<AdminAuth | undefined> {
  if (flags.clientId !== undefined && flags.apiKeyEnv !== undefined) throw usage("--client-id and --api-key-env both given", "use one way to authenticate");
  if (flags.apiKeyEnv !== undefined) {
    const key = process.env[flags.apiKeyEnv];
    if (key === undefined || key === "") throw usage(`--api-key-env ${flags.apiKeyEnv}: the variable is not set`, `export ${flags.apiKeyEnv}=... before running`);
    return { kind: "apiKey", key, ...(flags.authHeader !== undefined ? { header: flags.authHeader } : {}) };
  }
  if (flags.clientId === undefined) {
    if (flags.clientSecretEnv !== undefined || flags.clientSecretFile !== undefined || flags.tokenUrl !== undefined) throw usage("a client secret or token URL was given without --client-id", "add --client-id ID");
    return undefined;
  }
  let secret: string | undefined;
  if (flags.clientSecretEnv !== undefined && flags.clientSecretFile !== undefined) throw usage("--client-secret-env and --client-secret-file both given", "use one");
  if (flags.clientSecretEnv !== undefined) {
    secret = process.env[flags.clientSecretEnv];
    if (secret === undefined || secret === "") throw usage(`--client-secret-env ${flags.clientSecretEnv}: the variable is not set`, `export ${flags.clientSecretEnv}=... before running`);
  } else if (flags.clientSecretFile !== undefined) {
    secret = (await readFile(flags.clientSecretFile, "utf8").catch((error: unknown) => {
      throw usage(`--client-secret-file ${flags.clientSecretFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`, "name a file holding the secret");
    })).trim();
  }
  if (secret === undefined || secret === "") throw usage("--client-id needs a secret", "pass --client-secret-env VAR or --client-secret-file FILE (never the secret itself on the command line)");
  return {
    kind: "clientCredentials",
    clientId: flags.clientId,
    clientSecret: secret,
    ...(flags.tokenUrl !== undefined ? { tokenUrl: flags.tokenUrl } : {}),
    scopes: flags.scope ?? ["all"],
    ...(flags.audience !== undefined ? { audience: flags.audience } : {}),
    ...(flags.authHeader !== undefined ? { header: flags.authHeader } : {}),
  };
}

export async function runRegister(file: string, flags: RegisterFlags): Promise<number> {
  if (flags.project === undefined || flags.domain === undefined) return reportError(usage("register needs --project and --domain", "e.g. imagespec register wf.ts --project flytesnacks --domain development"));
  if (flags.builder !== undefined && !(BUILDERS as readonly string[]).includes(flags.builder)) return reportError(usage(`--builder ${JSON.stringify(flags.builder)} is not a builder`, `use one of ${BUILDERS.join(", ")}`));
  const endpoint = flags.endpoint ?? (process.env[ENDPOINT_ENV] || undefined);
  const insecure = flags.insecure ?? /^(1|true|yes)$/i.test(process.env[INSECURE_ENV] ?? "");
  if (endpoint === undefined && !flags.dryRun) return reportError(usage("register needs --endpoint (FlyteAdmin's gRPC address)", `pass --endpoint HOST[:PORT] or set ${ENDPOINT_ENV}; --dry-run needs none`));
  const log = flags.quiet || flags.json ? () => undefined : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

  let loaded;
  let admin: AdminClient | undefined;
  try {
    loaded = await loadWorkflowFile(file);
    if (!flags.dryRun) {
      admin = await AdminClient.connect({
        endpoint: endpoint!,
        insecure,
        ...(flags.adminCaFile !== undefined ? { caFile: flags.adminCaFile } : {}),
        ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout * 1000 } : {}),
        auth: await authFromFlags(flags),
      } as Parameters<typeof AdminClient.connect>[0]);
      // An unreachable control plane, or refused credentials, are found before anything is built.
      await admin.ready();
      await admin.authenticate();
      log(`FlyteAdmin at ${admin.endpoint} reachable`);
    }
  } catch (error) {
    admin?.close();
    return reportError(error);
  }

  const hashing = fileHashingIn(flags.cacheDir ?? defaultCacheDir());
  let session: Session;
  try {
    const images = await resolveImages(loaded, loaded.baseDir, (spec) => applySpecDefaults(spec, flags), hashing);
    const specs = [...images.values()].flatMap((image) => (image.spec ? [image.spec] : []));
    session = createSession({
      registry: await registryOptionsFromFlags(flags, { credentialHosts: [...new Set(specs.flatMap((spec) => (spec.registry !== undefined ? [parseRegistryLocation(spec.registry).host] : [])))] }),
      ecr: ecrOptionsFromFlags(flags),
      build: {
        onEvent: buildProgress(log),
        ...(flags.builder !== undefined ? { builder: flags.builder as Builder } : {}),
        ...(flags.insecureRegistry !== undefined ? { insecureRegistries: flags.insecureRegistry } : {}),
        ...(flags.cacheDir !== undefined ? { cacheDir: flags.cacheDir } : {}),
      },
      // Each ECR repository gets its spec's settings (lifecycle, pull grants), applied before the first push to it.
      specs,
    });
  } catch (error) {
    admin?.close();
    return reportError(error);
  }
  const { builder, registry } = session;
  try {
    const result = await registerEntities(loaded, {
      project: flags.project,
      domain: flags.domain,
      ...(flags.version !== undefined ? { version: flags.version } : {}),
      baseDir: loaded.baseDir,
      adjustSpec: (spec) => applySpecDefaults(spec, flags),
      hashing,
      builder,
      registry,
      ...(admin ? { admin } : {}),
      ...(flags.dryRun ? { dryRun: true } : {}),
      ...(flags.activateSchedules ? { activateSchedules: true } : {}),
      onEvent: registerProgress(log),
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ project: flags.project, domain: flags.domain, version: result.version, dryRun: flags.dryRun ?? false, images: result.images, entities: result.entities })}\n`);
    } else {
      for (const image of result.images) process.stdout.write(`image ${image.image}${image.digest ? `@${image.digest}` : ""} ${image.status}\n`);
      for (const entity of result.entities) process.stdout.write(`${entity.kind} ${entity.name} ${result.version} ${entity.status}\n`);
      const created = result.entities.filter((e) => e.status === "created").length;
      const summary = flags.dryRun
        ? `dry run: would register ${result.entities.length} entities as version ${result.version} in ${flags.project}/${flags.domain}`
        : `registered ${created} new of ${result.entities.length} entities as version ${result.version} in ${flags.project}/${flags.domain}`;
      process.stderr.write(`${summary}\n`);
    }
    return 0;
  } catch (error) {
    return reportError(error);
  } finally {
    await session.close();
    admin?.close();
  }
}

function registerProgress(log: (line: string) => void): (event: RegisterEvent) => void {
  return (event) => {
    if (event.kind === "version") log(`version ${event.version}`);
    else if (event.kind === "image") log(`${event.outcome.image}: ${event.outcome.status} (${event.outcome.tasks.join(", ")})`);
    else log(`${event.outcome.kind} ${event.outcome.name}: ${event.outcome.status}`);
  };
}

function buildProgress(log: (line: string) => void): (event: BuildEvent) => void {
  return (event) => {
    switch (event.kind) {
      case "exists":
        log(`${event.image}: exists (${event.digest}), nothing to build`);
        break;
      case "builder":
        log(`${event.image}: builder ${event.builder}: ${event.reason}`);
        break;
      case "layer":
        log(`${event.image}: layer ${event.step} ${event.digest.slice(0, 19)} ${humanSize(event.size)}`);
        break;
      case "output":
        log(`${event.image}: ${event.builder} ${event.step} | ${event.line}`);
        break;
      case "warning":
        log(`${event.image}: warning: ${event.message}`);
        break;
      case "done":
        log(`${event.image}: done ${event.digest}`);
        break;
      default:
        break;
    }
  };
}
