// The `imagespec/spec` subpath: spec/ with the vendors that plug into it. spec/ knows vendors only
// through spec/vendor.ts and must not import ecr/ (ecr/ sits to its right in the folder chain:
// test/architecture.test.ts), so the subpath cannot point at spec/index.ts and still check `ecr`
// settings and ECR hosts ("did you mean us-east-1?"). Nor does it belong in ecr/: the spec is not
// ECR's, and a second vendor would be registered here too. Like src/index.ts, this file stands outside
// the chain and assembles the plug-ins.
import "./ecr/spec-vendor.js";

export * from "./spec/index.js";
