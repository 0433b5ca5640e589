#!/usr/bin/env bash
# The chaos soak (issue 12): a local PostgreSQL (durable, fsync on) and 3 real silo processes run noop sweeps for N
# minutes while random faults are injected — silo killed, silo frozen past its lease, PostgreSQL paused past the lease
# timeout, PostgreSQL restarted, a silo killed mid-checkpoint-write, every silo killed, a poison job — then the
# faults stop, the cluster heals, and the fault tests' invariant checker judges every job in the database.
# Usage: bench/chaos-soak.sh [MINUTES] [extra options: --silos N --slots N --fault-every SECONDS --seed S --lease-seconds S]
# Prints a Markdown table (docs/RELIABILITY.md); exits 1 if any job was lost or any invariant broke. Silo logs:
# /tmp/punkgrid-bench-*.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-30}
shift || true
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
cd "$root"
dotnet build silo/PunkGrid.Silo.csproj -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
dotnet build bench/ChaosSoak/ChaosSoak.csproj -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
rm -f /tmp/punkgrid-bench-*.log
exec dotnet bench/ChaosSoak/bin/Release/net10.0/PunkGrid.ChaosSoak.dll --minutes "$minutes" --repository "$root" \
  --silo-dll "$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll" "$@"
