// An Amazon ECR emulator for tests: the ECR API (AWS JSON 1.1, SigV4-verified) on one port and,
// per account, a registry endpoint with ECR's behaviour in front of one real docker-registry.
// Product code reaches it only by configuration (AWS_ENDPOINT_URL_ECR and a registry host
// mapping), exactly as it reaches AWS. See README.md in this folder.
import { existsSync, readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { startRegistry, type TestRegistry } from "../registry.js";
import { createApiHandler } from "./api.js";
import { startFront, type Front } from "./front.js";
import { PUBLIC_REGISTRY_HOST } from "./public-api.js";
import { State, type ApiCall, type EmulatedRepository, type EmulatorAccount, type PublicRepositoryRecord, type RegistryRequest } from "./state.js";

export type { EmulatedRepository, EmulatorAccount, ApiCall, RegistryRequest, PublicRepositoryRecord };
export { PUBLIC_REGISTRY_HOST };
export { tagIsImmutable, MIN_CHUNK, TOKEN_EXPIRED_MESSAGE } from "./front.js";

export interface EcrEmulatorOptions {
  /** Default "us-east-1". */
  region?: string;
  /** Lifetime of registry tokens from GetAuthorizationToken. Default 12 h, as ECR. */
  tokenTtlSeconds?: number;
  /** Blob upload POST to a repository that does not exist: close the connection unanswered, as ECR does. Default true. */
  dropUploadsToMissingRepository?: boolean;
  /** Blob GET answers 307 to a presigned URL on the same front (`/s3/...`), as ECR redirects to S3. Default false. */
  redirectBlobs?: boolean;
}

export interface EcrEmulator {
  readonly region: string;
  /** "http://127.0.0.1:PORT": the ECR API endpoint (AWS_ENDPOINT_URL_ECR). */
  readonly apiEndpoint: string;
  readonly accounts: { readonly owner: EmulatorAccount; readonly other: EmulatorAccount };
  /** "<account>.dkr.ecr.<region>.amazonaws.com" (default: the owner account). */
  registryHost(accountId?: string): string;
  /** "http://127.0.0.1:PORT" serving that account's /v2/. */
  registryEndpoint(accountId?: string): string;
  /** "http://127.0.0.1:PORT" serving ECR Public's /v2/ and its token endpoint (standing for public.ecr.aws). */
  readonly publicRegistryEndpoint: string;
  /** A copy of an ECR Public repository of the account (default owner), or undefined. */
  publicRepository(name: string, accountId?: string): PublicRepositoryRecord | undefined;
  /** AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for the account (default owner). */
  env(account?: EmulatorAccount): Record<string, string>;
  /** Every API request, in order (account "" when authentication failed). */
  readonly calls: readonly ApiCall[];
  /** A snapshot of a repository, or undefined if it does not exist. */
  repository(name: string, accountId?: string): EmulatedRepository | undefined;
  /** From now on, the account's identity policy does not allow `action` (e.g. "ecr:CreateRepository"; wildcards allowed). */
  deny(accountId: string, action: string): void;
  /** Every token issued so far is expired from now on. */
  expireTokens(): void;
  /** Makes an IAM role or user ARN exist, so that repository policies may name it (ECR refuses unknown ones: 'Principal not found'). */
  addIamPrincipal(arn: string): void;
  /** The next `times` calls of the API operation answer ThrottlingException, as ECR does over its request rate. */
  throttle(operation: string, times: number): void;
  /** The next call of the API operation answers 200 with `body`: for answers AWS would not give (a wrong emulator or proxy). */
  answerOnce(operation: string, body: unknown): void;
  /** Registry requests seen by the fronts: method, path as sent, status (0: dropped), account of the token. */
  readonly registryRequests: readonly RegistryRequest[];
  /** The docker-registry behind the fronts (repositories under "<account>/<name>"). */
  readonly backend: TestRegistry;
  /** Stops fronts, API server and the docker-registry. */
  stop(): Promise<void>;
}

/**
 * Makes the emulator's owner account this process's only AWS setup: every AWS_ variable replaced,
 * no config or credentials file of the machine (`dir` holds none), no instance metadata.
 */
export function useEmulatorAwsEnv(emu: Pick<EcrEmulator, "env">, dir: string): void {
  for (const key of Object.keys(process.env)) if (key.startsWith("AWS_")) delete process.env[key];
  Object.assign(process.env, emu.env(), {
    AWS_CONFIG_FILE: join(dir, "no-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startEcrEmulator(options: EcrEmulatorOptions = {}): Promise<EcrEmulator> {
  const state = new State(options.region ?? "us-east-1", options.tokenTtlSeconds ?? 12 * 60 * 60);
  const backend = await startRegistry({ mode: "plain" });
  const fronts = new Map<string, Front>();
  let api: Server | undefined;
  try {
    // docker-registry's filesystem layout: one directory per repository name.
    const repoDir = (accountId: string, name: string) => join(backend.dir, "storage", "docker", "registry", "v2", "repositories", accountId, name);
    const hasImages = (accountId: string, name: string) => {
      const revisions = join(repoDir(accountId, name), "_manifests", "revisions", "sha256");
      return existsSync(revisions) && readdirSync(revisions).length > 0;
    };
    const removeImages = (accountId: string, name: string) => rm(repoDir(accountId, name), { recursive: true, force: true });

    const server = createServer(createApiHandler({ state, hasImages, removeImages }));
    api = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const apiEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    for (const account of state.accounts) {
      fronts.set(
        account.accountId,
        await startFront({
          state,
          accountId: account.accountId,
          upstream: { host: "127.0.0.1", port: backend.port },
          dropUploadsToMissingRepository: options.dropUploadsToMissingRepository ?? true,
          redirectBlobs: options.redirectBlobs ?? false,
        }),
      );
    }
    const publicFront = await startFront({
      state,
      accountId: "",
      public: true,
      upstream: { host: "127.0.0.1", port: backend.port },
      dropUploadsToMissingRepository: false,
      redirectBlobs: options.redirectBlobs ?? false,
    });
    fronts.set("public", publicFront);

    const frontOf = (accountId: string) => {
      const f = fronts.get(accountId);
      if (!f) throw new Error(`ECR emulator: no account ${accountId}`);
      return f;
    };
    let stopped = false;
    return {
      region: state.region,
      apiEndpoint,
      accounts: { owner: state.owner, other: state.other },
      registryHost: (accountId = state.owner.accountId) => {
        frontOf(accountId); // throws for an account the emulator does not have
        return state.registryHost(accountId);
      },
      registryEndpoint: (accountId = state.owner.accountId) => frontOf(accountId).url,
      publicRegistryEndpoint: publicFront.url,
      publicRepository: (name, accountId = state.owner.accountId) => {
        const r = state.publicRepos.get(accountId, name);
        return r && structuredClone(r);
      },
      env: (account = state.owner) => ({
        AWS_ENDPOINT_URL_ECR: apiEndpoint,
        AWS_ENDPOINT_URL_ECR_PUBLIC: apiEndpoint,
        AWS_REGION: state.region,
        AWS_ACCESS_KEY_ID: account.accessKeyId,
        AWS_SECRET_ACCESS_KEY: account.secretAccessKey,
      }),
      calls: state.calls,
      repository: (name, accountId = state.owner.accountId) => {
        const r = state.getRepo(accountId, name);
        return r && state.snapshot(r);
      },
      deny: (accountId, action) => state.deny(accountId, action),
      expireTokens: () => state.expireTokens(),
      throttle: (operation, times) => state.throttle(operation, times),
      addIamPrincipal: (arn) => state.addIamPrincipal(arn),
      answerOnce: (operation, body) => state.answerOnce(operation, body),
      registryRequests: state.registryRequests,
      backend,
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.all([...fronts.values()].map((f) => f.close()));
        await closeServer(server);
        await backend.stop();
      },
    };
  } catch (e) {
    await Promise.all([...fronts.values()].map((f) => f.close()));
    if (api) await closeServer(api);
    await backend.stop();
    throw e;
  }
}
