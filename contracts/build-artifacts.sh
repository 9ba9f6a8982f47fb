#!/usr/bin/env bash
# Compile contracts/src with solcjs (optimizer 200 runs, evm cancun, no metadata hash) and write
# deployed/<Name>.hex (runtime code, lowercase hex, no 0x) and deployed/<Name>.abi.json.
#   ./build-artifacts.sh                 rewrite deployed/ (commit the result)
#   ./build-artifacts.sh --check         fail if deployed/ differs from a fresh compile (CI)
#   ./build-artifacts.sh --same-as-forge fail if forge's out/ runtime code differs from deployed/
# Needs `npm ci` first (solcjs comes from node_modules).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec node build.mjs "$@"
