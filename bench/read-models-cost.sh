#!/usr/bin/env bash
# What the history's read models (migration 0008) cost the writers, measured with pgbench on a durable local PostgreSQL:
# job state changes (Queued → Running → Queued, one autocommit statement each) with and without the trigger that appends to
# run_job_counts, and metric batches (one statement of 1 or 500 points) with and without the trigger that rolls them up into
# metric_blocks. Each pair alternates ROUNDS times (with, without, with, …) so both sides see the same machine.
# Usage: bench/read-models-cost.sh [SECONDS_PER_SIDE] [ROUNDS]     (default 15 s, 3 rounds; prints a Markdown table)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-15} rounds=${2:-3}
. "$root/bench/Shared/bench-database.sh"
start_bench_database readcost
psql -q -v ON_ERROR_STOP=1 <<'SQL'
insert into runs (run_id, kind, profile, spec) values ('cost', 'noop', 'seed', '{}');
insert into jobs (job_id, run_id, kind, profile, parameters, state)
select 'cost.' || lpad(i::text, 6, '0'), 'cost', 'noop', 'seed', '{}', 'Queued' from generate_series(1, 10000) i;
SQL
cat >"$work/move.sql" <<'SQL'
\set id random(1, 10000)
update jobs set state = 'Running', attempt = attempt + 1 where job_id = 'cost.' || lpad(:id::text, 6, '0') and state = 'Queued';
update jobs set state = 'Queued' where job_id = 'cost.' || lpad(:id::text, 6, '0') and state = 'Running';
SQL
for n in 1 500; do
  cat >"$work/points-$n.sql" <<SQL
\set job random(1, 10000)
\set step random(1, 1000000000)
insert into metrics (job_id, attempt, epoch, step, name, value)
select 'cost.' || lpad(:job::text, 6, '0'), 1, 0, :step::bigint * 1000 + s, 'loss', random() from generate_series(1, $n) s on conflict do nothing;
SQL
done
tps() { pgbench -n -c 2 -j 2 -T "$seconds" -f "$1" 2>/dev/null | awk '/^tps/ { print $3; exit }'; }
measure() { # name, trigger table, trigger name, script
  local with=() without=() i
  for ((i = 0; i < rounds; i++)); do
    psql -q -c "alter table $2 enable trigger $3"; with+=("$(tps "$4")")
    psql -q -c "alter table $2 disable trigger $3"; without+=("$(tps "$4")")
  done
  psql -q -c "alter table $2 enable trigger $3"
  python3 - "$1" "${with[*]}" "${without[*]}" <<'PY'
import statistics, sys
name, w, wo = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
mw, mwo = statistics.median(w), statistics.median(wo)
print(f"| {name} | {mw:,.0f} | {mwo:,.0f} | {mw / mwo:.3f} | {1e3 / mw - 1e3 / mwo:+.3f} |")
PY
}
echo "Machine: $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB; PostgreSQL $(psql -tAc 'show server_version' | cut -d' ' -f1) (fsync on) on the same machine; pgbench 2 clients, ${seconds} s per side, median of $rounds rounds."
echo
echo "| one pgbench script (each statement commits on its own) | scripts/s with the trigger | without | ratio | ms added per script |"
echo "| --- | ---: | ---: | ---: | ---: |"
measure "2 state changes of a job (Queued → Running → Queued)" jobs jobs_counted_moved "$work/move.sql"
measure "1 metric point" metrics metrics_rolled_up "$work/points-1.sql"
measure "a batch of 500 metric points" metrics metrics_rolled_up "$work/points-500.sql"
