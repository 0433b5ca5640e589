#!/usr/bin/env bash
# The orchestrator benchmark (issue 14): a durable local PostgreSQL and 2 silos × 64 slots on this machine, measured in
# one run — submit → Running latency with a free slot, noop-job throughput for runs of 1k, 10k and 100k jobs (with peak
# silo memory and database size), 200 simulated workers heartbeating, metrics ingestion from 8 concurrent jobs, the
# submit of a 10,000-job run, and the API's latency on the resulting history plus 10M metric points.
# Usage: bench/orchestrator.sh [--quick] [--slots N]      (prints the Markdown tables of docs/BENCHMARKS.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
cd "$root"
dotnet build silo/PunkGrid.Silo.csproj -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
dotnet build bench/OrchestratorBench/OrchestratorBench.csproj -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
exec dotnet bench/OrchestratorBench/bin/Release/net10.0/PunkGrid.OrchestratorBench.dll --repository "$root" \
  --silo-dll "$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll" "$@"
