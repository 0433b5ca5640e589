#!/usr/bin/env bash
# What a batch of metric points costs PostgreSQL, the way MetricStore writes it (the fence on the job's row, then
# the points), before and after migration 0009 — measured with pgbench on a durable local PostgreSQL, the two sides
# alternating ROUNDS times so both see the same machine:
#   before: the foreign key metrics → jobs (checked per point) and `on conflict do nothing` (a speculative insertion
#           per point);
#   after:  no foreign key (the fence locked the job once) and a plain insert skipped whole when its first point is
#           already stored.
# Usage: bench/metric-insert-cost.sh [SECONDS_PER_SIDE] [ROUNDS] [POINTS_PER_BATCH]   (default 15 s, 3 rounds, 5,000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-15} rounds=${2:-3} points=${3:-5000}
. "$root/bench/Shared/bench-database.sh"
start_bench_database insertcost
psql -q -v ON_ERROR_STOP=1 <<'SQL'
insert into runs (run_id, kind, profile, spec) values ('cost', 'noop', 'seed', '{}');
insert into jobs (job_id, run_id, kind, profile, parameters, state, attempt)
select 'cost.' || lpad(i::text, 3, '0'), 'cost', 'noop', 'seed', '{}', 'Running', 1 from generate_series(1, 8) i;
SQL
fence="with fence as (select job_id from jobs where job_id = 'cost.' || lpad(:job::text, 3, '0') and attempt = 1 and state = 'Running' for key share)"
rows="select f.job_id, 1, 1, :base::bigint + s, 'train_loss', 1.0 / s from fence f, generate_series(1, $points) s"
cat >"$work/before.sql" <<SQL
\set job random(1, 8)
\set base random(1, 2000000000) * 10000
$fence, inserted as (insert into metrics (job_id, attempt, epoch, step, name, value) $rows on conflict do nothing returning 1) select count(*) from fence;
SQL
cat >"$work/after.sql" <<SQL
\set job random(1, 8)
\set base random(1, 2000000000) * 10000
$fence, inserted as (insert into metrics (job_id, attempt, epoch, step, name, value) $rows where not exists (select 1 from metrics m where m.job_id = 'cost.' || lpad(:job::text, 3, '0') and m.attempt = 1 and m.step = :base::bigint + 1 and m.name = 'train_loss') returning 1) select count(*) from fence;
SQL
tps() { pgbench -n -c 2 -j 2 -T "$seconds" -f "$1" 2>/dev/null | awk '/^tps/ { print $3; exit }'; }
before=() after=()
for ((i = 0; i < rounds; i++)); do
  psql -q -c "alter table metrics add constraint metrics_job_id_fkey foreign key (job_id) references jobs (job_id) on delete cascade"
  before+=("$(tps "$work/before.sql")")
  psql -q -c "alter table metrics drop constraint metrics_job_id_fkey"
  after+=("$(tps "$work/after.sql")")
done
echo "Machine: $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB; PostgreSQL $(psql -tAc 'show server_version' | cut -d' ' -f1) (fsync on) on the same machine; pgbench 2 clients, ${seconds} s per side, median of $rounds rounds, batches of $points points."
echo
python3 - "$points" "${before[*]}" "${after[*]}" <<'PY'
import statistics, sys
points, b, a = int(sys.argv[1]), [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
mb, ma = statistics.median(b), statistics.median(a)
print("| metric batch statement | batches/s | points/s | µs per point |")
print("| --- | ---: | ---: | ---: |")
print(f"| before 0009: foreign key, `on conflict do nothing` | {mb:,.1f} | {mb * points:,.0f} | {1e6 / (mb * points):.2f} |")
print(f"| after: no foreign key, plain insert skipped whole if stored | {ma:,.1f} | {ma * points:,.0f} | {1e6 / (ma * points):.2f} |")
print()
print(f"after / before, points/s: {ma / mb:.2f}")
PY
