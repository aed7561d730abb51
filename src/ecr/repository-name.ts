// ECR repository names: the path of the spec's `registry` plus its `name` (`registry:
// 1234....amazonaws.com/team`, `name: img` -> `team/img`), checked against ECR's own rules, which
// are stricter than the OCI distribution spec's.
import { parseRegistryLocation, type Reference } from "../reference/index.js";
import { EcrError } from "./errors.js";

const ECR_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Why a name cannot be an ECR repository name, or undefined when it can. */
export function checkEcrRepositoryName(name: string): string | undefined {
  if (name.length < 2 || name.length > 256) return `ECR repository names are 2 to 256 characters; ${JSON.stringify(name)} has ${name.length}`;
  if (!ECR_NAME.test(name)) {
    return `${JSON.stringify(name)} is not a valid ECR repository name: lower-case letters and digits, separated by single '.', '_' or '-' within a path component and '/' between components`;
  }
  return undefined;
}

/** Throws EcrError INVALID_ECR_REPOSITORY_NAME unless the name is valid. */
export function validateEcrRepositoryName(name: string): string {
  const problem = checkEcrRepositoryName(name);
  if (problem) throw new EcrError("INVALID_ECR_REPOSITORY_NAME", problem, { hint: "rename the image or the registry path, e.g. team/my-app" });
  return name;
}

/** The repository a spec's `registry` (`host[/path]`) and `name` make: host and `path/name`. */
export function ecrRepositoryOf(registry: string, name: string): { host: string; repository: string } {
  const location = parseRegistryLocation(registry);
  const repository = location.prefix ? `${location.prefix}/${name}` : name;
  return { host: location.host.toLowerCase(), repository: validateEcrRepositoryName(repository) };
}

/** `host/repository` for a reference: the key repository settings are registered under. */
export function repositoryKey(ref: Pick<Reference, "registry" | "repository">): string {
  return `${ref.registry.toLowerCase()}/${ref.repository}`;
}
