#!/usr/bin/env bash
# Trait sweep makespan vs the ideal sum(job time) / slots, read from PostgreSQL for a finished run.
# Usage: bench/sweep-makespan.sh RUN_ID [SLOTS]    (PUNKGRID__Postgres or the demo's .punkgrid/cluster.env; needs psql)
# "job time" is each job's last attempt from leased to finished; overhead = makespan / ideal - 1 covers leasing,
# heartbeats, data loading and the tail where fewer jobs than slots remain.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${1:?usage: sweep-makespan.sh RUN_ID [SLOTS]}
if [[ -z ${PUNKGRID__Postgres:-} && -f $root/.punkgrid/cluster.env ]]; then
  set -a; . "$root/.punkgrid/cluster.env"; set +a
fi
: "${PUNKGRID__Postgres:?set PUNKGRID__Postgres (Host=…;Port=…;Username=…;Database=…)}"
field() { tr ';' '\n' <<<"$PUNKGRID__Postgres" | grep -i "^$1=" | cut -d= -f2; }
export PGHOST=$(field Host) PGPORT=$(field Port) PGUSER=$(field Username) PGDATABASE=$(field Database)
pw=$(field Password); [[ -n $pw ]] && export PGPASSWORD=$pw
slots=${2:-$(psql -tAc "select coalesce(sum(slots), 1) from workers where last_heartbeat > now() - interval '1 minute'")}
psql -v run="$run" -v slots="$slots" -P pager=off <<'SQL'
with last_start as (
  select j.job_id, j.finished_at,
         (select max(e.at) from job_events e where e.job_id = j.job_id and e.to_state = 'Running') as started
  from jobs j where j.run_id = :'run' and j.state = 'Succeeded'
)
select count(*) as jobs,
       :slots as slots,
       round(extract(epoch from max(finished_at) - min(started))::numeric, 1) as makespan_s,
       round((sum(extract(epoch from finished_at - started)) / :slots)::numeric, 1) as ideal_s,
       round((extract(epoch from max(finished_at) - min(started)) / (sum(extract(epoch from finished_at - started)) / :slots))::numeric, 3) as makespan_over_ideal
from last_start;
SQL
