// AWS errors as EcrErrors: the hint says "retry" only for what a retry can change.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ecrApiError } from "../../src/ecr/errors.js";

/** An error shaped as the AWS SDK v3 throws them: `name` is AWS's error type. */
function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

const context = { operation: "CreateRepository", subject: "repository team/app in 111111111111 (us-east-1)" };

describe("ecrApiError hints", () => {
  it("says retry for answers a later try can change", () => {
    for (const name of ["ServerException", "ThrottlingException", "InternalFailure"]) {
      assert.match(ecrApiError(awsError(name, "x"), context).hint ?? "", /retry/, name);
    }
  });

  it("says what to change, not retry, for answers that a retry gets again", () => {
    for (const name of ["InvalidParameterException", "RepositoryNotFoundException", "KmsException", "LimitExceededException", "InvalidTagParameterException", "TooManyTagsException"]) {
      const error = ecrApiError(awsError(name, "x"), context);
      assert.equal(error.code, "ECR_API_ERROR");
      assert.doesNotMatch(error.hint ?? "", /\bretry\b/, name);
    }
    assert.match(ecrApiError(awsError("InvalidParameterException", "x"), context).hint ?? "", /ecr\.tagMutabilityExclusions/);
    assert.match(ecrApiError(awsError("InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"), { ...context, operation: "SetRepositoryPolicy" }).hint ?? "", /allowPullFrom/);
  });
});
