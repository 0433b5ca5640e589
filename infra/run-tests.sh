#!/usr/bin/env bash
# Runs the whole test suite: restores, builds and runs every test project in PunkGrid.sln.
# Extra arguments go to `dotnet test` (e.g. --filter "FullyQualifiedName~Checkpoint").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
exec dotnet test PunkGrid.sln --blame-hang-timeout 10m "$@"
