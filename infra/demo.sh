#!/usr/bin/env bash
# The main job, end to end (called by `./punkgrid demo`; `./punkgrid down` stops what it started):
#  1. PostgreSQL: $PUNKGRID__Postgres if set, else a local server under .punkgrid/pg on a free loopback port;
#  2. the datasets, fetched if missing;
#  3. a silo with a worker (reused if already running), logging to .punkgrid/silo-1.log;
#  4. a sweep of all 92 traits with the demo profile (rgb, Adam, thresholds chosen on a validation split; minutes on
#     2 cores): submit, live progress, the results table.
# The cluster keeps running afterwards for `./punkgrid runs|jobs|metrics|…`. Running it again reuses it.
# Options: --profile P (default demo; quick is the smoke test, seed the write-up), --slots N (default 2), --traits A,B (default all 92).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=$root/.punkgrid
mkdir -p "$state"
silo_dll=${PUNKGRID_SILO_DLL:-$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll}
client_dll=${PUNKGRID_CLIENT_DLL:-$root/client/bin/Release/net10.0/punkgrid.dll}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [[ ${1:-} == --down ]]; then
  for pidfile in "$state"/silo-*.pid; do
    [[ -f $pidfile ]] || continue
    if alive "$pidfile"; then
      echo "stopping $(basename "$pidfile" .pid) (pid $(cat "$pidfile"))"
      kill "$(cat "$pidfile")"
      for _ in $(seq 1 30); do alive "$pidfile" || break; sleep 1; done
      alive "$pidfile" && kill -9 "$(cat "$pidfile")"
    fi
    rm -f "$pidfile"
  done
  if [[ -d $state/pg/data ]]; then
    echo "stopping PostgreSQL in $state/pg"
    "$root/infra/local-postgres.sh" stop "$state/pg"
  fi
  rm -f "$state/cluster.env"
  exit 0
fi

profile=demo slots=2 traits=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --traits) traits=$2; shift 2 ;;
    *) echo "demo: unknown option '$1'; allowed: --profile P, --slots N, --traits A,B" >&2; exit 2 ;;
  esac
done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 1. PostgreSQL
if [[ -z ${PUNKGRID__Postgres:-} && -n ${PUNKGRID_PG:-} ]]; then
  echo "demo: PUNKGRID_PG is deprecated: set PUNKGRID__Postgres instead (read this time)" >&2
  PUNKGRID__Postgres=$PUNKGRID_PG
fi
unset PUNKGRID_PG PUNKGRID_GATEWAYS PUNKGRID_TLS_DIR # the names from before; cluster.env below uses today's
if [[ -n ${PUNKGRID__Postgres:-} && ! -f $state/cluster.env ]]; then
  pg=$PUNKGRID__Postgres
  echo "demo: using PostgreSQL from PUNKGRID__Postgres"
else
  pg=$("$root/infra/local-postgres.sh" start "$state/pg")
  echo "demo: PostgreSQL at ${pg%%;Username*} (data in .punkgrid/pg)"
fi

# 2. Data
if ! dotnet "$silo_dll" data check >/dev/null 2>"$state/data-check.log"; then
  echo "demo: $(cat "$state/data-check.log"); fetching the datasets"
  dotnet "$silo_dll" data fetch --dataset cryptopunks
fi
rm -f "$state/data-check.log"

# 3. Silo. The cluster's secrets (the database's password inside PUNKGRID__Postgres, the API token) go to the silo through its
# environment and to later commands through .punkgrid/cluster.env (mode 0600), never on a command line.
pidfile=$state/silo-1.pid
tls=$state/tls
if [[ ! -f $tls/ca.crt ]]; then
  echo "demo: making the cluster's TLS certificates in .punkgrid/tls (silos and clients authenticate each other)"
  dotnet "$silo_dll" tls create --out "$tls" >/dev/null
fi
token=$( [[ -f $state/cluster.env ]] && . "$state/cluster.env" && echo "${PUNKGRID__Dashboard__Token-}" || true)
[[ -n $token ]] || token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
if alive "$pidfile" && [[ -f $state/cluster.env ]]; then
  gateway=$(. "$state/cluster.env" && echo "${PUNKGRID__Gateways:-${PUNKGRID_GATEWAYS-}}")
  dashboard=$(. "$state/cluster.env" && echo "${PUNKGRID_DASHBOARD-}")
  echo "demo: reusing silo-1 (pid $(cat "$pidfile")), gateway $gateway"
else
  silo_port=11111 gateway_port=30000 dashboard_port=5080
  while ! port_free $silo_port; do silo_port=$((silo_port + 1)); done
  while ! port_free $gateway_port; do gateway_port=$((gateway_port + 1)); done
  while ! port_free $dashboard_port; do dashboard_port=$((dashboard_port + 1)); done
  gateway=127.0.0.1:$gateway_port
  dashboard=http://127.0.0.1:$dashboard_port
  echo "demo: starting silo-1 (silo port $silo_port, gateway $gateway, dashboard $dashboard, $slots slot(s)); log in .punkgrid/silo-1.log"
  PUNKGRID__Postgres=$pg PUNKGRID__Dashboard__Token=$token PUNKGRID__Tls__Directory=$tls setsid nohup dotnet "$silo_dll" serve --silo-port "$silo_port" --gateway-port "$gateway_port" \
    --dashboard "$dashboard" --name silo-1 --slots "$slots" > "$state/silo-1.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
fi
(umask 077; printf 'PUNKGRID__Postgres=%q\nPUNKGRID__Gateways=%q\nPUNKGRID_DASHBOARD=%q\nPUNKGRID__Dashboard__Token=%q\nPUNKGRID__Tls__Directory=%q\n' \
  "$pg" "$gateway" "$dashboard" "$token" "$tls" > "$state/cluster.env.new" && mv "$state/cluster.env.new" "$state/cluster.env")
chmod 600 "$state/cluster.env"
export PUNKGRID__Postgres=$pg PUNKGRID__Gateways=$gateway PUNKGRID__Tls__Directory=$tls

for i in $(seq 1 90); do
  if dotnet "$client_dll" workers --json >/dev/null 2>&1; then break; fi
  if ! alive "$pidfile"; then echo "demo: the silo exited; see .punkgrid/silo-1.log" >&2; tail -20 "$state/silo-1.log" >&2; exit 1; fi
  [[ $i -eq 90 ]] && { echo "demo: the silo did not come up in 90 s; see .punkgrid/silo-1.log" >&2; exit 1; }
  sleep 1
done

# 4. The sweep
echo "demo: dashboard at $dashboard/#token=$token (live job states, curves, results; the link carries the token that"
echo "      cancel/retry need, and the page keeps it; metrics for Prometheus at $dashboard/metrics)"
run=demo-$(date -u +%Y%m%d-%H%M%S)
if [[ -n $traits ]]; then
  dotnet "$client_dll" submit traits --traits "$traits" --profile "$profile" --run-id "$run"
else
  dotnet "$client_dll" submit traits --all --profile "$profile" --run-id "$run"
fi
dotnet "$client_dll" watch "$run" || true
dotnet "$client_dll" results "$run"
# One of the run's jobs, as the cluster named it, for the hints below.
jobs_json=$(dotnet "$client_dll" jobs "$run" --json || true)
job=$(grep -m1 -o '"job_id": *"[^"]*"' <<<"$jobs_json" | sed 's/.*"\([^"]*\)"$/\1/' || true)
cat <<MSG

The cluster is still running. Try:
  ./punkgrid runs                        ./punkgrid jobs $run
  ./punkgrid metrics $job --csv     ./punkgrid artifacts $job --out /tmp/${job##*.}
  ./punkgrid workers                     ./punkgrid schedule add --name nightly --cron "0 3 * * *" -- traits --all --profile seed
  ./punkgrid silo serve --silo-port 11112 --gateway-port 30001 --dashboard http://127.0.0.1:5081 --name silo-2   (a second silo)
  the dashboard: $dashboard/#token=$token  (then Runs → $run)
  ./punkgrid down                        (stop the silos and PostgreSQL)
MSG
