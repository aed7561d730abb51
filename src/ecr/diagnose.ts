// What a push failure means on Amazon ECR: the ECR registry vendor's diagnosis and hints. ECR
// closes the connection of a blob upload to a repository that does not exist instead of answering
// NAME_UNKNOWN, so on an ECR
// host a dropped upload may be a missing repository — but only the ECR API can say so. Plain
// registries get no such reading: their dropped connections are network faults, retried.
import type { ImagespecError } from "../errors.js";
import type { Reference } from "../reference/index.js";
import { RegistryError, type FailureDiagnosis } from "../registry/index.js";
import type { EcrClients } from "./client.js";
import { loadEcrSdk } from "./client.js";
import { awsErrorName, EcrError } from "./errors.js";
import { checkEcrHost, parseEcrHost } from "./host.js";

/**
 * The registry's diagnosis hook for ECR hosts: DescribeRepositories for the pushed repository.
 * RepositoryNotFoundException turns the dropped connection into "the repository does not exist";
 * an answer naming the repository, or any failure to ask, leaves the network error as it is.
 */
export function ecrFailureDiagnosis(clients: EcrClients): FailureDiagnosis {
  return async ({ error, reference }) => {
    const host = parseEcrHost(reference.registry);
    if (!host || host.public) return undefined;
    const client = await clients.forHost(host);
    const { DescribeRepositoriesCommand } = await loadEcrSdk();
    try {
      await client.send(new DescribeRepositoriesCommand({ registryId: host.account, repositoryNames: [reference.repository] }));
      return undefined; // the repository is there: the drop was the network's
    } catch (cause) {
      if (awsErrorName(cause) !== "RepositoryNotFoundException") return undefined;
    }
    return new EcrError(
      "ECR_REPOSITORY_NOT_FOUND",
      `ECR repository ${reference.repository} does not exist in account ${host.account} (${host.region}): ${error.method} ${error.url} failed (${error.message.split(": ").pop()}), and DescribeRepositories confirms the repository is missing`,
      {
        hint: `create it: aws ecr create-repository --repository-name ${reference.repository} --region ${host.region}, or let imagespec create it (ecr.createRepository: true, or imagespec ecr ensure-repo)`,
        cause: error,
        operation: "DescribeRepositories",
      },
    );
  };
}

/**
 * ECR's advice for a failed push to an ECR host, where the registry's generic hint cannot name
 * the fix: a missing repository (create it, or let imagespec), an immutable tag (the spec's
 * tagMutability). Undefined for other failures: the generic hint stands.
 */
export function ecrFailureHint(error: ImagespecError, reference: Reference): string | undefined {
  const host = checkEcrHost(reference.registry);
  if (host.kind !== "ecr") return undefined;
  const codes = error instanceof RegistryError ? [error.code, ...error.registryCodes] : [error.code];
  if (codes.includes("NAME_UNKNOWN")) {
    const create = host.ecr.public
      ? `aws ecr-public create-repository --repository-name ${reference.repository.split("/").slice(1).join("/")} --region us-east-1`
      : `aws ecr create-repository --repository-name ${reference.repository} --region ${host.ecr.region}`;
    return `the ECR repository ${reference.repository} does not exist, and ECR repositories must be created before a push: ${create}, or let imagespec create it (ecr.createRepository: true)`;
  }
  if (error.code === "TAG_IMMUTABLE") {
    return `${error.hint ?? "push under another tag"}; on ECR, make the tag mutable with ecr.tagMutability: MUTABLE, or an *_WITH_EXCLUSION filter for this tag`;
  }
  if (codes.includes("TAG_INVALID")) {
    return "ECR refused the tag: the repository's tags are immutable (ECR tag immutability) and this tag already names another image, or the tag is malformed; push under a new tag";
  }
  return undefined;
}
