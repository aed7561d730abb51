// ECR failures as typed errors: an AWS error (AccessDenied, missing credentials, a missing
// repository) becomes an EcrError naming the API action, the IAM permission it needs and what to do.
// Messages carry AWS's own text (which names the identity) but never a token or a key.
import { ImagespecError } from "../errors.js";

export class EcrError extends ImagespecError {
  /** The ECR API operation that failed (`CreateRepository`), when one did. */
  readonly operation: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown; operation?: string } = {}) {
    super(code, message, { ...(options.hint !== undefined ? { hint: options.hint } : {}), cause: options.cause });
    this.operation = options.operation;
  }
}

/** The `name` AWS SDK v3 errors carry (`AccessDeniedException`, `RepositoryNotFoundException`, ...). */
export function awsErrorName(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const record = error as { name?: unknown; Code?: unknown; code?: unknown };
  for (const value of [record.name, record.Code, record.code]) if (typeof value === "string" && value !== "Error") return value;
  return undefined;
}

function awsMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim().slice(0, 500);
}

const ACCESS_DENIED = new Set(["AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnrecognizedClientException", "InvalidSignatureException"]);
const NO_CREDENTIALS = new Set(["CredentialsProviderError", "ProviderError", "TokenProviderError"]);

/** How to give imagespec AWS credentials, for hints. */
export const CONFIGURE_CREDENTIALS_HINT =
  "configure AWS credentials: set AWS_PROFILE (or pass --aws-profile) to a profile in ~/.aws/config, run `aws sso login --profile NAME` for SSO profiles, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; on AWS compute, attach a role (instance profile, task role, IRSA)";

export interface AwsCallContext {
  /** The API operation, e.g. `CreateRepository`. */
  readonly operation: string;
  /** What it was about, for the message: `repository team/app in 111111111111 (us-east-1)`. */
  readonly subject: string;
  /** The profile used, if one was named. */
  readonly profile?: string;
  /** The IAM service prefix of the action: `ecr` (default) or `ecr-public`. */
  readonly service?: "ecr" | "ecr-public";
}

/** Maps an AWS SDK error into an EcrError that says what permission or setup is missing. */
export function ecrApiError(error: unknown, context: AwsCallContext): EcrError {
  if (error instanceof EcrError) return error;
  const name = awsErrorName(error) ?? "";
  const service = context.service ?? "ecr";
  // ECR Public's token is an STS service bearer token: IAM checks both actions.
  const action = service === "ecr-public" && context.operation === "GetAuthorizationToken" ? "ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken" : `${service}:${context.operation}`;
  const message = awsMessage(error);
  if (NO_CREDENTIALS.has(name) || /could not load credentials|credential.*(missing|not found)|Unable to locate credentials/i.test(message)) {
    return new EcrError("AWS_CREDENTIALS_MISSING", `${context.operation} for ${context.subject}: no AWS credentials${context.profile ? ` (profile ${context.profile})` : ""}: ${message}`, {
      hint: CONFIGURE_CREDENTIALS_HINT,
      cause: error,
      operation: context.operation,
    });
  }
  if (name === "ExpiredTokenException" || name === "ExpiredToken" || /token .*expired|sso session .*expired/i.test(message)) {
    return new EcrError("AWS_CREDENTIALS_EXPIRED", `${context.operation} for ${context.subject}: the AWS credentials have expired: ${message}`, {
      hint: `refresh them: \`aws sso login${context.profile ? ` --profile ${context.profile}` : ""}\` for SSO, or renew the session credentials`,
      cause: error,
      operation: context.operation,
    });
  }
  if (ACCESS_DENIED.has(name) || /not authorized to perform/i.test(message)) {
    const signature = name === "UnrecognizedClientException" || name === "InvalidSignatureException";
    return new EcrError(
      "ECR_ACCESS_DENIED",
      signature
        ? `${context.operation} for ${context.subject}: AWS rejected the credentials: ${message}`
        : `${context.operation} for ${context.subject}: access denied; the identity needs the IAM permission ${action}: ${message}`,
      {
        hint: signature
          ? "the access key or secret is wrong or deactivated; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile"
          : `allow ${action} for this identity (the "User:" or role in the message) on the resource; \`aws sts get-caller-identity\` shows which identity is used`,
        cause: error,
        operation: context.operation,
      },
    );
  }
  return new EcrError("ECR_API_ERROR", `${context.operation} for ${context.subject} failed: ${name ? `${name}: ` : ""}${message}`, {
    hint: (name === "InvalidParameterException" ? INVALID_PARAMETER[context.operation]?.(message) : undefined) ?? NOT_RETRYABLE[name] ?? RETRY_HINT,
    cause: error,
    operation: context.operation,
  });
}

/**
 * ECR's answers that say the request itself is wrong, and what to change: retrying sends the same
 * request and gets the same answer. Anything else (ServerException, throttling, a network error)
 * may pass on a later try.
 */
const NOT_RETRYABLE: Readonly<Record<string, string>> = {
  InvalidParameterException: "ECR refused a value in the request (AWS's message names it): fix the spec's ecr settings or the registry host; retrying sends the same request",
  RepositoryNotFoundException: "the repository does not exist in that registry: check the account and region in the registry host, or let imagespec create it (ecr.createRepository: true)",
  RepositoryAlreadyExistsException: "the repository exists already; nothing to create",
  InvalidTagParameterException: "fix ecr.tags: keys are 1-128 characters, values at most 256, and keys may not start with aws:",
  TooManyTagsException: "a repository has at most 50 tags: remove some from ecr.tags",
  KmsException: "the KMS key in ecr.encryption.kmsKey cannot be used: check that it exists in this region and that the identity may kms:CreateGrant and kms:DescribeKey on it",
  LimitExceededException: "an ECR service quota is reached (e.g. repositories per region): delete unused repositories or ask AWS for a higher quota",
  LifecyclePolicyNotFoundException: "the repository has no lifecycle policy",
  RepositoryPolicyNotFoundException: "the repository has no repository policy",
  ValidationException: "ECR refused the request as invalid (AWS's message says which value); retrying sends the same request",
};

/** What a refused value is likely to be, per operation (InvalidParameterException names the field, not the spec's setting). */
const INVALID_PARAMETER: Readonly<Record<string, (message: string) => string>> = {
  SetRepositoryPolicy: (message) =>
    /principal not found/i.test(message)
      ? "a principal in ecr.allowPullFrom (or in another statement of the repository policy) is not an existing IAM role or user: fix the ARN, or use the 12-digit account id; a role created moments ago becomes usable within a minute, so then run again"
      : "ECR refused the repository policy (it allows at most 10240 characters, no Resource element, and only existing principals): use fewer ecr.allowPullFrom entries (one account id covers all its roles) or fix the statement AWS's message points at",
  PutLifecyclePolicy: () => "ECR refused ecr.lifecyclePolicy (AWS's message says which rule and property); fix it as ECR's lifecycle policy properties describe: https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html",
  CreateRepository: () => "ECR refused a repository setting (AWS's message names it): check ecr.tagMutabilityExclusions (1 to 5 filters of letters, digits, '.', '_', '-', '*'), ecr.encryption and ecr.tags",
};

const RETRY_HINT = "this may pass on a later try: retry; if it persists, run the same call with the AWS CLI to see whether the account, region or endpoint is at fault";
