// `imagespec package FILE` and `imagespec register FILE`: the workflow file's tasks, workflows and
// launch plans as a flytectl package, or built and registered with FlyteAdmin. The commands are
// defined here; what they run is in workflow-run.ts, loaded only when one of them runs (flyteidl
// and gRPC take seconds to load, which no other command should pay).
import { InvalidArgumentError, type Command } from "commander";
import { BUILDERS } from "../../spec/index.js";
import { addSpecDefaultOptions, type SpecDefaultFlags } from "../spec-files.js";
import { addRegistryOptions, type RegistryFlags } from "../registry-options.js";
import type { RegisterCommand } from "./index.js";

export interface PackageFlags extends SpecDefaultFlags {
  output: string;
  json?: boolean;
}

export const registerPackageCommand: RegisterCommand = (program: Command) => {
  const command = program
    .command("package")
    .description("serialise a workflow file's tasks, workflows and launch plans into a package for flytectl register files")
    .argument("<workflow-file>", "a .ts or .js module exporting tasks, workflows and launch plans")
    .option("-o, --output <file>", "the package to write", "flyte-package.tgz")
    .option("--json", "print the package's entries as JSON");
  addSpecDefaultOptions(command);
  command
    .addHelpText(
      "after",
      `
Image names are computed from the specs (nothing is built: run imagespec build or
imagespec register for that). Ids carry flytectl's {{ registration.* }} placeholders,
which flytectl fills from -p, -d and --version; --archive tells it the file is a tgz.

Examples:
  imagespec package workflows.ts -o flyte-package.tgz
  flytectl register files flyte-package.tgz --archive -p flytesnacks -d development --version v1`,
    )
    .action(async (file: string, flags: PackageFlags) => {
      process.exitCode = await (await import("./workflow-run.js")).runPackage(file, flags);
    });
};

export interface RegisterFlags extends RegistryFlags, SpecDefaultFlags {
  project?: string;
  domain?: string;
  version?: string;
  endpoint?: string;
  insecure?: boolean;
  adminCaFile?: string;
  clientId?: string;
  clientSecretEnv?: string;
  clientSecretFile?: string;
  tokenUrl?: string;
  scope?: string[];
  audience?: string;
  apiKeyEnv?: string;
  authHeader?: string;
  timeout?: number;
  dryRun?: boolean;
  activateSchedules?: boolean;
  json?: boolean;
  quiet?: boolean;
  builder?: string;
  cacheDir?: string;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a number of seconds above 0");
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const ENDPOINT_ENV = "FLYTE_PLATFORM_URL";
export const INSECURE_ENV = "FLYTE_PLATFORM_INSECURE";

export const registerRegisterCommand: RegisterCommand = (program: Command) => {
  const command = program
    .command("register")
    .description("build the images a workflow file's tasks run in (skipping existing tags), then register its tasks, workflows and launch plans with FlyteAdmin")
    .argument("<workflow-file>", "a .ts or .js module exporting tasks, workflows and launch plans")
    .option("-p, --project <project>", "Flyte project")
    .option("-d, --domain <domain>", "Flyte domain (development, staging, production, ...)")
    .option("--version <version>", "version of every entity (default: a hash of their content, image names included)")
    .option("--endpoint <host[:port]>", `FlyteAdmin's gRPC endpoint (env ${ENDPOINT_ENV})`)
    .option("--insecure", `plaintext gRPC, for a local sandbox (env ${INSECURE_ENV}=true)`)
    .option("--admin-ca-file <file>", "PEM CA certificates trusted for FlyteAdmin's TLS besides the system ones")
    .option("--client-id <id>", "OAuth2 client credentials: the client id (secret from --client-secret-env or --client-secret-file)")
    .option("--client-secret-env <var>", "environment variable holding the OAuth2 client secret")
    .option("--client-secret-file <file>", "file holding the OAuth2 client secret")
    .option("--token-url <url>", "OAuth2 token endpoint (default: the one FlyteAdmin advertises)")
    .option("--scope <scope>", "OAuth2 scope to ask for; repeatable (default all)", collect)
    .option("--audience <audience>", "OAuth2 audience to ask for")
    .option("--api-key-env <var>", "environment variable holding an API key, sent with every call")
    .option("--auth-header <name>", "header the token or API key goes in (default authorization, as Bearer)")
    .option("--timeout <seconds>", "deadline of each FlyteAdmin call (default 30)", seconds)
    .option("--dry-run", "show the images that would be built and the entities that would be registered; change nothing")
    .option("--activate-schedules", "activate the launch plans that have a schedule (FlyteAdmin registers them inactive)")
    .option("--json", "print the result as one JSON object")
    .option("-q, --quiet", "no progress lines")
    .option("--builder <name>", `override every spec's builder: ${BUILDERS.join(", ")}`)
    .option("--cache-dir <dir>", "where reusable build data is kept (default $XDG_CACHE_HOME/imagespec)");
  addSpecDefaultOptions(command);
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Every image is verified present in its registry before anything is registered.
Registering the same content again succeeds; a version already registered with
other content is an error.

Examples:
  imagespec register workflows.ts -p flytesnacks -d development --endpoint localhost:30080 --insecure
  imagespec register workflows.ts -p ml -d production --endpoint flyte.example.com \\
    --client-id imagespec --client-secret-env FLYTE_CLIENT_SECRET
  imagespec register workflows.ts -p ml -d development --dry-run`,
  );
  command.action(async (file: string, flags: RegisterFlags) => {
    process.exitCode = await (await import("./workflow-run.js")).runRegister(file, flags);
  });
};
