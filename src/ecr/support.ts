// ECR as the registry package sees it: one object holding the SDK clients, the credential source
// (for the keychain) and the repository hook (for beforePush), sharing clients and settings.
//
//   const ecr = new EcrSupport({ profile: "ci" });
//   ecr.repositories.register(`${host}/team/app`, spec.ecr);
//   const registry = new Registry({ keychain: defaultKeychain({ providers: [ecr.credentials] }), beforePush: ecr.repositories.beforePush });
import { EcrClients, type EcrClientOptions } from "./client.js";
import { EcrCredentialSource } from "./login.js";
import { EcrRepositories, type EcrCall } from "./repositories.js";
import type { EcrTokenCache } from "./token-cache.js";

export interface EcrSupportOptions extends EcrClientOptions {
  /** The token cache (default: memory plus $XDG_CACHE_HOME/imagespec/ecr-tokens). */
  readonly cache?: EcrTokenCache;
  readonly now?: () => number;
  /** Repository writes reported, not made. */
  readonly dryRun?: boolean;
  readonly onCall?: (call: EcrCall) => void;
}

export class EcrSupport {
  readonly clients: EcrClients;
  readonly credentials: EcrCredentialSource;
  readonly repositories: EcrRepositories;

  constructor(options: EcrSupportOptions = {}) {
    this.clients = new EcrClients(options);
    this.credentials = new EcrCredentialSource({ ...options, clients: this.clients });
    this.repositories = new EcrRepositories({ ...options, clients: this.clients });
  }

  /** Releases the SDK clients' connections. */
  close(): void {
    this.clients.destroy();
  }
}
