// createSession: one wiring for the commands that build (build, register) and for library users.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ImagespecError } from "../../src/errors.js";
import { ImageSpec } from "../../src/spec/index.js";
import { createSession } from "../../src/session/index.js";

const ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

describe("createSession", () => {
  it("closes the builder, then the registry, then the ECR clients", async () => {
    const session = createSession({ ecr: {} });
    const order: string[] = [];
    const track = <T extends { close(): unknown }>(name: string, target: T): void => {
      const close = target.close.bind(target);
      target.close = (async () => {
        order.push(`${name} starts`);
        await close();
        order.push(`${name} done`);
      }) as T["close"];
    };
    track("builder", session.builder);
    track("registry", session.registry);
    track("ecr", session.ecr!);
    await session.close();
    assert.deepEqual(order, ["builder starts", "builder done", "registry starts", "ecr starts", "ecr done", "registry done"]);
  });

  it("records each ECR spec's settings for its repository, and refuses two specs that disagree on one repository", async () => {
    const first = new ImageSpec({ name: "app", registry: `${ECR}/team`, ecr: { scanOnPush: true } });
    const session = createSession({ ecr: {}, specs: [first, new ImageSpec({ name: "other", registry: "ghcr.io/org" })] });
    try {
      assert.equal(session.ecr?.repositories.settingsFor(`${ECR}/team/app`).scanOnPush, true);
    } finally {
      await session.close();
    }
    const second = new ImageSpec({ name: "app", registry: `${ECR}/team`, ecr: { scanOnPush: false } });
    assert.throws(() => createSession({ ecr: {}, specs: [first, second] }), (error: unknown) => error instanceof ImagespecError && error.code === "INVALID_ECR_SETTINGS" && /different ecr settings/.test(error.message));
  });

  it("writing an OCI layout records no repository settings: nothing is pushed", async () => {
    const spec = new ImageSpec({ name: "app", registry: `${ECR}/team`, ecr: { scanOnPush: true } });
    const session = createSession({ ecr: {}, specs: [spec], build: { output: "oci:/tmp/never-written" } });
    try {
      assert.equal(session.ecr?.repositories.settingsFor(`${ECR}/team/app`).scanOnPush, false);
      assert.deepEqual(await session.applyRepositorySettings(), []);
    } finally {
      await session.close();
    }
  });
});
