// A session: the registry client with its vendors (Amazon ECR today), and the builder that pushes
// through it, made from plain options and closed in one call. The commands that build (build,
// register) and library users get the same wiring: each spec's ECR repository settings recorded
// before the first push, the vendors' credentials in the keychain, one repository hook for the
// native push and for a Dockerfile builder's own push, and the close order (builder, registry,
// vendors).
//
//   const session = createSession({ registry: { caFile }, ecr: { profile: "ci" }, specs });
//   try {
//     for (const spec of specs) console.log((await session.builder.build(spec)).digest);
//   } finally {
//     await session.close();
//   }
import { ImageBuilder, type ImageBuilderOptions } from "../build/image-builder.js";
import { EcrSupport, type EcrSupportOptions, type EnsureResult } from "../ecr/index.js";
import { defaultKeychain, Registry, type CredentialSource, type RegistryOptions, type RegistryVendor } from "../registry/index.js";
import type { ImageSpec } from "../spec/index.js";

/** How to reach registries, as plain values; the keychain is made from `credentials` and the vendors'. */
export interface SessionRegistryOptions extends Omit<RegistryOptions, "keychain" | "vendors" | "onClose"> {
  /** Credential sources asked first, before the vendors' and docker's files (e.g. command-line credentials). */
  readonly credentials?: readonly CredentialSource[];
  /** Credential sources asked after the vendors' and before docker's files. */
  readonly providers?: readonly CredentialSource[];
  /** The environment the keychain reads DOCKER_CONFIG, REGISTRY_AUTH_FILE, HOME from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface RegistrySessionOptions {
  readonly registry?: SessionRegistryOptions;
  /** Amazon ECR: its options (profile, region, endpoint, dry run, call log), or false for no ECR support. */
  readonly ecr?: EcrSupportOptions | false;
}

export interface SessionOptions extends RegistrySessionOptions {
  /** How images are built; the registry and the repository hook are the session's. */
  readonly build?: Omit<ImageBuilderOptions, "registry" | "beforePush">;
  /**
   * The specs that will be pushed: their vendor settings (a spec's `ecr` block) are recorded for
   * their repositories, applied before the first push. Ignored when the build writes an OCI layout.
   */
  readonly specs?: readonly ImageSpec[];
}

/** A registry client with its vendors, and how to release both. */
export interface RegistrySession {
  readonly registry: Registry;
  /** Amazon ECR support, unless turned off. */
  readonly ecr: EcrSupport | undefined;
  /** Closes the registry's connections, then the vendors' (registry.close() does the same). */
  close(): Promise<void>;
}

export interface Session extends RegistrySession {
  readonly builder: ImageBuilder;
  /**
   * Applies the repository settings a push applies (ECR pull grants, lifecycle policies, catalog
   * data) to the specs' repositories that were not pushed to (the image already existed).
   */
  applyRepositorySettings(): Promise<PromiseSettledResult<EnsureResult>[]>;
  /** Closes the builder, the registry, then the vendors. */
  close(): Promise<void>;
}

/** A registry client with the vendors the options ask for (ECR unless `ecr: false`). */
export function createRegistrySession(options: RegistrySessionOptions = {}): RegistrySession {
  return openRegistry(options.registry ?? {}, options.ecr === false ? undefined : new EcrSupport(options.ecr ?? {}));
}

/**
 * The registry, its vendors and a builder pushing through them. Throws (with everything it made
 * closed) when the specs' vendor settings conflict, e.g. two specs pushing to one ECR repository
 * with different `ecr` blocks.
 */
export function createSession(options: SessionOptions = {}): Session {
  const ecr = options.ecr === false ? undefined : new EcrSupport(options.ecr ?? {});
  let registered: ReturnType<EcrSupport["register"]> = [];
  try {
    if (ecr && options.build?.output === undefined) registered = ecr.register(options.specs ?? []);
  } catch (error) {
    ecr?.close();
    throw error;
  }
  const registrySession = openRegistry(options.registry ?? {}, ecr);
  const { registry } = registrySession;
  const builder = new ImageBuilder({
    ...options.build,
    registry,
  });
  return {
    registry,
    ecr,
    builder,
    applyRepositorySettings: () => (ecr ? ecr.applySettings(registered) : Promise.resolve([])),
    close: async () => {
      try {
        await builder.close();
      } finally {
        await registrySession.close();
      }
    },
  };
}

function openRegistry(options: SessionRegistryOptions, ecr: EcrSupport | undefined): RegistrySession {
  const vendors: RegistryVendor[] = ecr ? [ecr] : [];
  const { credentials = [], providers = [], env, ...registryOptions } = options;
  const keychain = defaultKeychain({
    providers: [...credentials, ...vendors.flatMap((v) => (v.credentials ? [v.credentials] : [])), ...providers],
    ...(env ? { env } : {}),
  });
  // The registry releases the vendors it was given when it closes, after its own connections.
  const registry = new Registry({ ...registryOptions, keychain, vendors, ...(ecr ? { onClose: () => ecr.close() } : {}) });
  return { registry, ecr, close: () => registry.close() };
}
