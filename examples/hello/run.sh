#!/usr/bin/env bash
# Builds the example into the OCI layout .imagespec/images and shows how to read it back.
set -euo pipefail
cd "$(dirname "$0")/../.."
spec=examples/hello/imagespec.yaml
node dist/cli/bin.js build "$spec"
name=$(node dist/cli/bin.js tag "$spec")
echo
echo "built $name into the OCI layout .imagespec/images"
if command -v skopeo >/dev/null 2>&1; then
  skopeo inspect "oci:.imagespec/images:$name" | head -n 20
else
  echo "read it with: skopeo inspect oci:.imagespec/images:$name"
fi
