#!/usr/bin/env bash
# Runs the whole test suite: restores, builds and runs every test project in PunkGrid.sln.
# Extra arguments go to `dotnet test` (e.g. --filter "FullyQualifiedName~Checkpoint").
# The dashboard tests drive Debian's Chromium (Playwright with executablePath): installed here when missing.
# PostgreSQL is started by the tests' own fixture (Testcontainers, else infra/local-postgres.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [[ -z ${PUNKGRID_CHROMIUM-} ]] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "run-tests: installing Chromium for the dashboard tests (apt-get install chromium)…" >&2
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null; }) \
      || echo "run-tests: could not install chromium; the dashboard tests will fail (set PUNKGRID_CHROMIUM to a Chromium binary)" >&2
  else
    echo "run-tests: no chromium on PATH; install it (apt-get install chromium) or set PUNKGRID_CHROMIUM — the dashboard tests need it" >&2
  fi
fi
exec dotnet test PunkGrid.sln --blame-hang-timeout 10m "$@"
