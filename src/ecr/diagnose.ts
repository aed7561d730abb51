// What a push failure without an HTTP answer means on Amazon ECR. ECR closes the connection of a
// blob upload to a repository that does not exist instead of answering NAME_UNKNOWN, so on an ECR
// host a dropped upload may be a missing repository — but only the ECR API can say so. Plain
// registries get no such reading: their dropped connections are network faults, retried.
import type { FailureDiagnosis } from "../registry/index.js";
import type { EcrClients } from "./client.js";
import { loadEcrSdk } from "./client.js";
import { awsErrorName, EcrError } from "./errors.js";
import { parseEcrHost } from "./host.js";

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
