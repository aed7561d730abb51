// WWW-Authenticate parsing, scope handling, error bodies and redaction: the pure functions under auth.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseChallenges, preferredChallenge } from "../../src/registry/challenge.js";
import { parseErrorBody, saysNotFound } from "../../src/registry/errors.js";
import { redactHeaders, redactUrl } from "../../src/registry/log.js";
import { parseRetryAfter } from "../../src/registry/retry.js";
import { normaliseScopes, scopesCover } from "../../src/registry/scope.js";

describe("WWW-Authenticate", () => {
  it("reads a Bearer challenge with quoted params holding commas and colons", () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"'), [
      { scheme: "bearer", params: { realm: "https://auth.example.com/token", service: "registry.example.com", scope: "repository:team/app:pull,push" } },
    ]);
  });

  it("reads several challenges in one header, spaces and escapes included", () => {
    const challenges = parseChallenges('Basic realm="a \\"quoted\\" realm", charset=UTF-8 , Bearer realm="https://x/t", error="insufficient_scope"');
    assert.deepEqual(challenges, [
      { scheme: "basic", params: { realm: 'a "quoted" realm', charset: "UTF-8" } },
      { scheme: "bearer", params: { realm: "https://x/t", error: "insufficient_scope" } },
    ]);
    assert.equal(preferredChallenge(challenges)?.scheme, "bearer");
  });

  it("reads headers given as an array, bare schemes and token68", () => {
    assert.deepEqual(parseChallenges(["Negotiate abc123==", "Basic"]), [
      { scheme: "negotiate", params: {}, token68: "abc123==" },
      { scheme: "basic", params: {} },
    ]);
    assert.deepEqual(parseChallenges('BEARER Realm = "r"'), [{ scheme: "bearer", params: { realm: "r" } }]);
    assert.deepEqual(parseChallenges(undefined), []);
  });
});

describe("scopes", () => {
  it("merges actions per repository and sorts", () => {
    assert.deepEqual(normaliseScopes(["repository:b:push", "repository:a:pull", "repository:b:pull"]), ["repository:a:pull", "repository:b:pull,push"]);
    assert.ok(scopesCover(["repository:a:pull,push"], ["repository:a:pull"]));
    assert.ok(!scopesCover(["repository:a:pull"], ["repository:a:pull", "repository:b:pull"]));
  });
});

describe("error bodies", () => {
  it("reads distribution errors and token-server shapes", () => {
    assert.deepEqual(parseErrorBody('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}'), [
      { code: "NAME_UNKNOWN", message: "repository name not known to registry" },
    ]);
    assert.deepEqual(parseErrorBody('{"details":"incorrect username or password"}'), [{ code: "ERROR", message: "incorrect username or password" }]);
    assert.deepEqual(parseErrorBody("<html>bad gateway</html>"), []);
  });

  it("recognises not-found however a registry phrases it", () => {
    assert.ok(saysNotFound([{ code: "NAME_UNKNOWN" }], ""));
    assert.ok(saysNotFound([{ code: "DENIED", message: "The repository with name 'x' does not exist in the registry with id '1'" }], ""));
    assert.ok(!saysNotFound([{ code: "DENIED", message: "User is not authorized to perform: ecr:BatchGetImage" }], ""));
    assert.ok(saysNotFound([], "repository not found"));
  });
});

describe("redaction", () => {
  it("keeps harmless query params and hides the rest", () => {
    assert.equal(
      redactUrl("https://u:p@r.example.com/v2/a/blobs/uploads/1?_state=abc&digest=sha256%3Aff&X-Amz-Signature=s3cr3t"),
      "https://[redacted]@r.example.com/v2/a/blobs/uploads/1?_state=[redacted]&digest=sha256%3Aff&X-Amz-Signature=[redacted]",
    );
  });

  it("hides credentials in headers, keeping the scheme", () => {
    assert.deepEqual(redactHeaders({ Authorization: "Bearer eyJhbGciOi", Cookie: "session=1", Location: "/v2/a/blobs/uploads/1?_state=xyz", Accept: "x" }), {
      authorization: "Bearer [redacted]",
      cookie: "[redacted]",
      location: "/v2/a/blobs/uploads/1?_state=[redacted]",
      accept: "x",
    });
  });

  it("parses Retry-After seconds and dates", () => {
    assert.equal(parseRetryAfter("3"), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter("soon"), undefined);
  });
});
