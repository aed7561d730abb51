// ECR as the registry package sees it: a registry vendor (src/registry/vendor.ts) holding the SDK
// clients, the credential source (for the keychain), the repository hook (before each push), the
// diagnosis of dropped uploads and ECR's hints, sharing clients and settings.
//
//   const ecr = new EcrSupport({ profile: "ci" });
//   ecr.repositories.register(`${host}/team/app`, spec.ecr);
//   const registry = new Registry({ vendors: [ecr] });
import type { ImagespecError } from "../errors.js";
import type { Reference } from "../reference/index.js";
import type { ImageSpec } from "../spec/index.js";
import type { FailureDiagnosis, RegistryVendor } from "../registry/index.js";
import { EcrClients, type EcrClientOptions } from "./client.js";
import { ecrFailureDiagnosis, ecrFailureHint } from "./diagnose.js";
import { looksLikeEcrHost, parseEcrHost } from "./host.js";
import { EcrCredentialSource } from "./login.js";
import { EcrRepositories, type EcrCall, type EnsureResult } from "./repositories.js";
import type { EcrTokenCache } from "./token-cache.js";

export interface EcrSupportOptions extends EcrClientOptions {
  /** The token cache (default: memory plus $XDG_CACHE_HOME/imagespec/ecr-tokens). */
  readonly cache?: EcrTokenCache;
  readonly now?: () => number;
  /** Repository writes reported, not made. */
  readonly dryRun?: boolean;
  readonly onCall?: (call: EcrCall) => void;
  /**
   * Make each pushed-to repository exist, with its registered settings, before the push (default
   * true). False leaves repositories alone (a copy): a push to a missing one then fails, diagnosed.
   */
  readonly manageRepositories?: boolean;
}

export class EcrSupport implements RegistryVendor {
  readonly name = "ecr";
  readonly clients: EcrClients;
  readonly credentials: EcrCredentialSource;
  readonly repositories: EcrRepositories;
  readonly diagnose: FailureDiagnosis;
  private readonly manageRepositories: boolean;

  constructor(options: EcrSupportOptions = {}) {
    this.manageRepositories = options.manageRepositories ?? true;
    this.clients = new EcrClients(options);
    this.credentials = new EcrCredentialSource({ ...options, clients: this.clients });
    this.repositories = new EcrRepositories({ ...options, clients: this.clients });
    this.diagnose = ecrFailureDiagnosis(this.clients);
  }

  /** ECR hosts, and hosts that mean to be (a malformed one is refused by the hooks with what to write). */
  matches(host: string): boolean {
    return looksLikeEcrHost(host);
  }

  /** The repository hook: the repository exists, with its registered settings, before the push. */
  async beforePush(ref: Reference): Promise<void> {
    if (this.manageRepositories) await this.repositories.beforePush(ref);
  }

  hint(error: ImagespecError, ref: Reference): string | undefined {
    return ecrFailureHint(error, ref);
  }

  /**
   * Records the `ecr` settings of every spec that pushes to ECR (private or Public), applied
   * before the first push to its repository. Two specs with different settings for one
   * repository are an error. Returns those specs with their repository (`host/path/name`).
   */
  register(specs: readonly ImageSpec[]): { spec: ImageSpec; repository: string }[] {
    const registered: { spec: ImageSpec; repository: string }[] = [];
    for (const spec of specs) {
      const location = spec.registryLocation();
      if (!location || !parseEcrHost(location.host)) continue;
      const repository = `${location.host.toLowerCase()}/${spec.repository()}`;
      this.repositories.register(repository, spec.ecr);
      registered.push({ spec, repository });
    }
    return registered;
  }

  /**
   * The settings that a push applies (pull grant, lifecycle policy, catalog data), applied now for
   * the registered specs that ask for them: an image that already existed was not pushed, so its
   * repository was not looked at. A repository pushed to in this process is not asked again.
   */
  applySettings(registered: readonly { spec: ImageSpec; repository: string }[]): Promise<PromiseSettledResult<EnsureResult>[]> {
    return Promise.allSettled(
      registered
        .filter(({ spec }) => spec.ecr.allowPullFrom.length > 0 || spec.ecr.lifecyclePolicy !== undefined || spec.ecr.catalogData !== undefined)
        .map(({ repository }) => this.repositories.ensure(repository)),
    );
  }

  /** Releases the SDK clients' connections. */
  close(): void {
    this.clients.destroy();
  }
}
