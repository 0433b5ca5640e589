# Sourced by the pgbench benchmarks (bench/read-models-cost.sh, bench/metric-insert-cost.sh): finds pgbench, builds the
# silo, starts a durable throwaway PostgreSQL in a temporary folder (stopped and removed on exit), migrates it to the
# newest schema and exports PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE for psql and pgbench.
# Usage: . bench/Shared/bench-database.sh; start_bench_database NAME     (sets $work, the temporary folder)
start_bench_database() {
  local name=$1 root bindir cs
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r | head -1)
  [[ -x $bindir/pgbench ]] || { echo "$name: pgbench not found under /usr/lib/postgresql/*/bin" >&2; exit 2; }
  dotnet build "$root/silo/PunkGrid.Silo.csproj" -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
  work=$(mktemp -d "/tmp/punkgrid-$name-XXXXXX")
  chmod 755 "$work"
  cs=$("$root/infra/local-postgres.sh" start "$work/pg" "$name")
  trap "\"$root/infra/local-postgres.sh\" stop \"$work/pg\" >/dev/null 2>&1 || true; rm -rf \"$work\"" EXIT
  dotnet "$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll" migrate --postgres "$cs" >/dev/null
  field() { tr ';' '\n' <<<"$cs" | grep -i "^$1=" | cut -d= -f2; }
  export PGHOST=$(field Host) PGPORT=$(field Port) PGUSER=$(field Username) PGPASSWORD=$(field Password) PGDATABASE=$(field Database)
}
