// ECR API clients (AWS SDK v3), one per region and endpoint flavour. The SDK does all the AWS
// work: the default credential chain (env, shared config and profiles incl. SSO, web identity,
// container and instance metadata), SigV4, retries, and the standard endpoint overrides
// (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL, `endpoint_url` in a profile).
import type { ECRClient, ECRClientConfig } from "@aws-sdk/client-ecr";
import type { ECRPUBLICClient } from "@aws-sdk/client-ecr-public";
import type { EcrHost } from "./host.js";

export interface EcrClientOptions {
  /** A profile of ~/.aws/config to use instead of the default chain's choice (AWS_PROFILE). */
  readonly profile?: string;
  /** Credentials to use instead of the default chain (code that already holds them). */
  readonly credentials?: ECRClientConfig["credentials"];
  /** An explicit API endpoint (otherwise the SDK's own resolution, including AWS_ENDPOINT_URL_ECR). */
  readonly endpoint?: string;
}

/**
 * The endpoint configured for a service (`ECR`, `ECR PUBLIC`) under a named profile, by the SDK's
 * rules: AWS_ENDPOINT_URL_ECR, then AWS_ENDPOINT_URL, then the profile's `services` section
 * (`ecr = endpoint_url = ...`), then its
 * `endpoint_url`; none when `ignore_configured_endpoint_urls` (or AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)
 * is true. The SDK itself reads these only from the profile AWS_PROFILE names, never from the
 * client's `profile` option, so `--aws-profile NAME` would otherwise go to AWS where
 * `AWS_PROFILE=NAME` goes to the profile's endpoint. Read with the SDK's own config loader.
 */
export async function profileEndpoint(profile: string, serviceId = "ECR"): Promise<string | undefined> {
  const { booleanSelector, loadConfig, SelectorType } = await import("@smithy/core/config");
  const ignore = await loadConfig<boolean>(
    {
      environmentVariableSelector: (env) => booleanSelector(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", SelectorType.ENV),
      configFileSelector: (section) => booleanSelector(section, "ignore_configured_endpoint_urls", SelectorType.CONFIG),
      default: false,
    },
    { profile },
  )();
  if (ignore) return undefined;
  return loadConfig<string | undefined>(
    {
      environmentVariableSelector: (env) => env[`AWS_ENDPOINT_URL_${serviceId.toUpperCase().replaceAll(" ", "_")}`] || env.AWS_ENDPOINT_URL || undefined,
      configFileSelector: (section, files) => {
        const services = section.services !== undefined ? files?.[`services.${section.services}`] : undefined;
        return services?.[`${serviceId.toLowerCase().replaceAll(" ", "_")}.endpoint_url`] || section.endpoint_url || undefined;
      },
      default: undefined,
    },
    { profile },
  )();
}

type EcrSdk = typeof import("@aws-sdk/client-ecr");
let sdk: Promise<EcrSdk> | undefined;

/** The AWS SDK's ECR module, loaded on first use: it costs about half a second of start-up, which commands that never reach ECR should not pay. */
export function loadEcrSdk(): Promise<EcrSdk> {
  sdk ??= import("@aws-sdk/client-ecr");
  return sdk;
}

type EcrPublicSdk = typeof import("@aws-sdk/client-ecr-public");
let publicSdk: Promise<EcrPublicSdk> | undefined;

/** The AWS SDK's ECR Public module, loaded on first use like loadEcrSdk. */
export function loadEcrPublicSdk(): Promise<EcrPublicSdk> {
  publicSdk ??= import("@aws-sdk/client-ecr-public");
  return publicSdk;
}

/** ECR Public's API lives in us-east-1 only, whatever region the rest of the AWS setup names. */
export const ECR_PUBLIC_API_REGION = "us-east-1";

/** Builds SDK clients for ECR hosts and keeps one per region and flavour. */
export class EcrClients {
  private readonly clients = new Map<string, ECRClient>();
  private readonly publicClients = new Map<boolean, ECRPUBLICClient>();
  private resolvedEndpoint: Promise<string | undefined> | undefined;
  private publicEndpoint: Promise<string | undefined> | undefined;

  constructor(readonly options: EcrClientOptions = {}) {}

  /** The ECR API client for the region (and FIPS / dual-stack flavour) of a registry host. */
  async forHost(host: Pick<EcrHost, "region" | "fips" | "dualStack">): Promise<ECRClient> {
    const { ECRClient } = await loadEcrSdk();
    const endpoint = await this.endpoint();
    // No await between looking up and storing a client: concurrent callers share one.
    const key = `${host.region} ${host.fips ? "fips" : ""} ${host.dualStack ? "dualstack" : ""}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new ECRClient({
        region: host.region,
        useFipsEndpoint: host.fips,
        useDualstackEndpoint: host.dualStack,
        ...(this.options.profile !== undefined ? { profile: this.options.profile } : {}),
        ...(this.options.credentials !== undefined ? { credentials: this.options.credentials } : {}),
        ...(endpoint !== undefined ? { endpoint } : {}),
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /**
   * The ECR Public API client (`ecr-public` in us-east-1; dual-stack for ecr-public.aws.com). Its
   * endpoint is the SDK's for service id `ECR PUBLIC` (AWS_ENDPOINT_URL_ECR_PUBLIC, the profile's
   * `ecr_public` service section); the `endpoint` option is the private API's and does not apply.
   */
  async forPublic(host: Pick<EcrHost, "dualStack">): Promise<ECRPUBLICClient> {
    const { ECRPUBLICClient } = await loadEcrPublicSdk();
    const { profile, credentials } = this.options;
    this.publicEndpoint ??= profile !== undefined ? profileEndpoint(profile, "ECR PUBLIC") : Promise.resolve(undefined);
    const endpoint = await this.publicEndpoint;
    let client = this.publicClients.get(host.dualStack);
    if (!client) {
      client = new ECRPUBLICClient({
        region: ECR_PUBLIC_API_REGION,
        useDualstackEndpoint: host.dualStack,
        ...(profile !== undefined ? { profile } : {}),
        ...(credentials !== undefined ? { credentials } : {}),
        ...(endpoint !== undefined ? { endpoint } : {}),
      });
      this.publicClients.set(host.dualStack, client);
    }
    return client;
  }

  /** The explicit endpoint, else the one a named profile configures (looked up once). */
  private endpoint(): Promise<string | undefined> {
    const { endpoint, profile } = this.options;
    this.resolvedEndpoint ??= endpoint !== undefined ? Promise.resolve(endpoint) : profile !== undefined ? profileEndpoint(profile) : Promise.resolve(undefined);
    return this.resolvedEndpoint;
  }

  /** The access key id the client signs with (resolving the credential chain), for cache keys. */
  async accessKeyId(client: ECRClient | ECRPUBLICClient): Promise<string> {
    const credentials = await client.config.credentials();
    return credentials.accessKeyId;
  }

  destroy(): void {
    for (const client of [...this.clients.values(), ...this.publicClients.values()]) client.destroy();
    this.clients.clear();
    this.publicClients.clear();
  }
}
