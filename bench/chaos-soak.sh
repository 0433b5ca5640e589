#!/usr/bin/env bash
# The chaos soak (issue 12): a local PostgreSQL (durable, fsync on) and 3 real silo processes run noop sweeps for N
# minutes while random faults are injected — silo killed, silo frozen past its lease, PostgreSQL paused past the lease
# timeout, PostgreSQL restarted, a silo killed mid-checkpoint-write, every silo killed, a poison job — then the
# faults stop, the cluster heals, and the fault tests' invariant checker judges every job in the database.
# With --hosts (issue 29; root, ip and nft): on hosts of their own made by infra/hosts.sh — PostgreSQL's primary on db
# with a synchronous standby on db2, a silo on each of s1…sN, the soak itself on op — with the partitions and the
# failover as faults too: a silo cut from the database past a lease, a silo cut from its peers, every silo cut from the
# database for less than a lease, the primary killed and its standby promoted (the old host then made the new standby).
# Usage: bench/chaos-soak.sh [MINUTES] [--hosts] [extra options: --silos N --slots N --fault-every SECONDS --seed S --lease-seconds S]
# Prints a Markdown table (docs/RELIABILITY.md); exits 1 if any job was lost or any invariant broke. Silo logs:
# /tmp/punkgrid-bench-*.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-30}
shift || true
hosted=false silos=3 args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hosts) hosted=true; shift ;;
    --silos) silos=$2; args+=("$1" "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
cd "$root"
dotnet build silo/PunkGrid.Silo.csproj -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
dotnet build bench/ChaosSoak/ChaosSoak.csproj -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
rm -f /tmp/punkgrid-bench-*.log
soak=(dotnet bench/ChaosSoak/bin/Release/net10.0/PunkGrid.ChaosSoak.dll --minutes "$minutes" --repository "$root"
  --silo-dll "$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll" "${args[@]}")
if ! $hosted; then
  exec "${soak[@]}"
fi
name=soak$$
name=${name:0:10}
trap 'bash "$root/infra/hosts.sh" down "$name" >/dev/null 2>&1 || true' EXIT
bash "$root/infra/hosts.sh" up "$name" db db2 $(seq -f 's%g' 1 "$silos") op >&2
bash "$root/infra/hosts.sh" exec "$name" op "${soak[@]}" --hosts "$name"
