#!/usr/bin/env bash
# Runs the whole test suite: restores, builds and runs every test project in PunkGrid.sln.
# Extra arguments go to `dotnet test` (e.g. --filter "FullyQualifiedName~Checkpoint").
# The dashboard tests drive Debian's Chromium (Playwright with executablePath), the alerting tests Debian's Prometheus:
# both installed here when missing.
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
# The alerting tests run Debian's Prometheus and promtool (local only: they scrape the tests' own silos).
if [[ -z ${PUNKGRID_PROMETHEUS_BIN-} ]] && ! command -v promtool >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "run-tests: installing Prometheus for the alerting tests (apt-get install prometheus)…" >&2
    (apt-get install -y -q prometheus >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q prometheus >/dev/null; }) \
      || echo "run-tests: could not install prometheus; the alerting tests will fail (set PUNKGRID_PROMETHEUS_BIN to a folder with prometheus and promtool)" >&2
    # The package starts a system-wide server on :9090; the tests start their own.
    { systemctl disable --now prometheus || service prometheus stop; } >/dev/null 2>&1 || true
  else
    echo "run-tests: no promtool on PATH; install Debian's prometheus package or set PUNKGRID_PROMETHEUS_BIN — the alerting tests need it" >&2
  fi
fi
# The multi-host tests make hosts of network namespaces (infra/hosts.sh): as root they need ip (iproute2) and nft
# (nftables, to cut links), and psql inside the hosts; without root they skip and say why.
if [[ $(id -u) -eq 0 ]] && ! command -v nft >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "run-tests: installing nftables for the multi-host tests (apt-get install nftables)…" >&2
  (apt-get install -y -q nftables >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nftables >/dev/null; }) \
    || echo "run-tests: could not install nftables; the multi-host tests will be skipped" >&2
fi
exec dotnet test PunkGrid.sln --blame-hang-timeout 10m "$@"
