// ECR API clients (AWS SDK v3), one per region and endpoint flavour. The SDK does all the AWS
// work: the default credential chain (env, shared config and profiles incl. SSO, web identity,
// container and instance metadata), SigV4, retries, and the standard endpoint overrides
// (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL, `endpoint_url` in a profile).
import type { ECRClient, ECRClientConfig } from "@aws-sdk/client-ecr";
import type { EcrHost } from "./host.js";

export interface EcrClientOptions {
  /** A profile of ~/.aws/config to use instead of the default chain's choice (AWS_PROFILE). */
  readonly profile?: string;
  /** Credentials to use instead of the default chain (code that already holds them). */
  readonly credentials?: ECRClientConfig["credentials"];
  /** An explicit API endpoint (otherwise the SDK's own resolution, including AWS_ENDPOINT_URL_ECR). */
  readonly endpoint?: string;
}

type EcrSdk = typeof import("@aws-sdk/client-ecr");
let sdk: Promise<EcrSdk> | undefined;

/** The AWS SDK's ECR module, loaded on first use: it costs about half a second of start-up, which commands that never reach ECR should not pay. */
export function loadEcrSdk(): Promise<EcrSdk> {
  sdk ??= import("@aws-sdk/client-ecr");
  return sdk;
}

/** Builds SDK clients for ECR hosts and keeps one per region and flavour. */
export class EcrClients {
  private readonly clients = new Map<string, ECRClient>();

  constructor(readonly options: EcrClientOptions = {}) {}

  /** The ECR API client for the region (and FIPS / dual-stack flavour) of a registry host. */
  async forHost(host: Pick<EcrHost, "region" | "fips" | "dualStack">): Promise<ECRClient> {
    const { ECRClient } = await loadEcrSdk();
    const key = `${host.region} ${host.fips ? "fips" : ""} ${host.dualStack ? "dualstack" : ""}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new ECRClient({
        region: host.region,
        useFipsEndpoint: host.fips,
        useDualstackEndpoint: host.dualStack,
        ...(this.options.profile !== undefined ? { profile: this.options.profile } : {}),
        ...(this.options.credentials !== undefined ? { credentials: this.options.credentials } : {}),
        ...(this.options.endpoint !== undefined ? { endpoint: this.options.endpoint } : {}),
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** The access key id the client signs with (resolving the credential chain), for cache keys. */
  async accessKeyId(client: ECRClient): Promise<string> {
    const credentials = await client.config.credentials();
    return credentials.accessKeyId;
  }

  destroy(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }
}
