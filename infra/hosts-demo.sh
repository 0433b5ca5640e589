#!/usr/bin/env bash
# The README's deployment on several machines (docs/OPERATIONS.md, "Deployment: several machines"), run as written on
# hosts made on this machine (infra/hosts.sh; needs root, ip and nft): PostgreSQL on `db`, a silo on each of `s1`, `s2`
# and `s3`, the CLI on `operator`. Every process runs inside its host and reaches the others only by address. Then the
# sweep of all 92 traits across the three silos, submitted, watched and its results read on `operator`. Everything is
# removed at the end, also on failure or Ctrl-C (unless --keep).
# Called by `./punkgrid demo-hosts`. Options:
#   --profile P    the sweep's profile (default quick: a few hundred punks, one epoch; demo, tuned or seed take longer)
#   --traits A,B   the traits (default all 92)
#   --slots N      slots per silo (default 1)
#   --name NAME    the harness's name (default hdemo; its namespaces are NAME-db, NAME-s1, …)
#   --keep         leave the cluster running; `infra/hosts.sh down NAME` removes it (PUNKGRID_HOSTS_OWNER: whose it is)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
silo_dll=${PUNKGRID_SILO_DLL:-$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll}
client_dll=${PUNKGRID_CLIENT_DLL:-$root/client/bin/Release/net10.0/punkgrid.dll}
hosts=$root/infra/hosts.sh

profile=quick traits="" slots=1 name=hdemo keep=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile=${2:?--profile needs a value}; shift 2 ;;
    --traits) traits=${2:?--traits needs a value}; shift 2 ;;
    --slots) slots=${2:?--slots needs a value}; shift 2 ;;
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --keep) keep=true; shift ;;
    *) echo "hosts-demo: unknown option '$1'; allowed: --profile P, --traits A,B, --slots N, --name NAME, --keep" >&2; exit 2 ;;
  esac
done
[[ -f $silo_dll && -f $client_dll ]] || { echo "hosts-demo: build first (./punkgrid demo-hosts builds)" >&2; exit 2; }
bash "$hosts" check || exit 3

silo_hosts=(s1 s2 s3)
work=$(mktemp -d /tmp/punkgrid-hosts-demo.XXXXXX)
pg_dir=$(mktemp -d /tmp/punkgrid-hosts-demo-pg.XXXXXX) # its own folder: local-postgres.sh hands it to the postgres user
chmod 755 "$work"
finish() {
  local code=$?
  if ! $keep || ((code != 0)); then
    bash "$hosts" down "$name" >/dev/null 2>&1 || true
    rm -rf "$work" "$pg_dir"
  fi
  exit $code
}
trap finish EXIT
trap 'exit 130' INT TERM

echo "hosts-demo: making the hosts (network namespaces on a bridge of their own)"
while read -r host address; do
  declare "address_$host=$address"
  echo "  $host $address"
done < <(bash "$hosts" up --owner "${PUNKGRID_HOSTS_OWNER:-$$}" "$name" db "${silo_hosts[@]}" operator)
address() { local v="address_$1"; echo "${!v}"; }
on() { local host=$1; shift; bash "$hosts" exec "$name" "$host" "$@"; }

# One PostgreSQL, on db's address (password logins from the hosts' network).
pg=$(on db "$root/infra/local-postgres.sh" start "$pg_dir" --listen "$(address db)" | tail -1)
echo "hosts-demo: PostgreSQL on db ($(address db))"

# Certificates, once: every address silos are reached at.
tls=$work/tls
dotnet "$silo_dll" tls create --out "$tls" $(for h in "${silo_hosts[@]}"; do echo --host "$(address "$h")"; done) >/dev/null
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# Each silo with the settings the deployment section names; secrets through the environment, never a command line.
for host in "${silo_hosts[@]}"; do
  (
    export PUNKGRID__Postgres=$pg PUNKGRID__Tls__Directory=$tls PUNKGRID__AdvertisedAddress=$(address "$host") \
      PUNKGRID__ListenOnAnyAddress=true PUNKGRID__Dashboard__Urls=http://0.0.0.0:8080 PUNKGRID__Dashboard__Token=$token \
      PUNKGRID__Dashboard__AllowedHosts=$(address "$host")
    exec bash "$hosts" exec "$name" "$host" dotnet "$silo_dll" serve --name "$host" --slots "$slots" > "$work/$host.log" 2>&1 < /dev/null
  ) &
  disown $! # `down` kills it at the end: no job-control notice
  echo "hosts-demo: silo $host starting ($(address "$host"): silo port 11111, gateway 30000, dashboard :8080); log $work/$host.log"
done

# The operator's CLI: the cluster's certificates and the database, which lists the live gateways.
export PUNKGRID__Postgres=$pg PUNKGRID__Tls__Directory=$tls
unset PUNKGRID__Gateways
cli() { on operator dotnet "$client_dll" "$@"; }
for i in $(seq 1 120); do
  live=$(cli workers --json 2>/dev/null | grep -o '"alive": *true' | wc -l || true)
  ((live == ${#silo_hosts[@]})) && break
  ((i == 120)) && { echo "hosts-demo: the silos did not all come up in 120 s" >&2; tail -20 "$work"/s*.log >&2; exit 1; }
  sleep 1
done
echo "hosts-demo: ${#silo_hosts[@]} silos up; the CLI on operator found them through the membership table"

run=hosts-demo-$(date -u +%Y%m%d-%H%M%S)
if [[ -n $traits ]]; then
  cli submit traits --traits "$traits" --profile "$profile" --run-id "$run"
else
  cli submit traits --all --profile "$profile" --run-id "$run"
fi
cli watch "$run" || true
cli results "$run"
echo
echo "hosts-demo: jobs per silo host:"
cli jobs "$run" --json | grep -o '"worker_id": *"[a-z0-9]*@' | sed 's/.*"\([a-z0-9]*\)@/\1/' | sort | uniq -c
echo "hosts-demo: dashboards (from operator): $(for h in "${silo_hosts[@]}"; do printf 'http://%s:8080/#token=%s ' "$(address "$h")" "$token"; done)"
echo "hosts-demo: run $run"
if $keep; then
  echo "hosts-demo: kept running (folder $work, database folder $pg_dir); remove with: infra/hosts.sh down $name; rm -rf $work $pg_dir"
fi
