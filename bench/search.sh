#!/usr/bin/env bash
# ASHA against random search on the cluster: the same traits, the same space, the same seed (so trial i has the same
# settings in both searches), the same maximum epochs. Usage:
#   bench/search.sh start [PREFIX]    start both searches (idempotent: ids PREFIX-asha and PREFIX-random)
#   bench/search.sh report [PREFIX]   per trait: best validation F1 and its trial's test F1, epochs and slot-seconds spent
#   bench/search.sh vae [PREFIX]      start the VAE search (PREFIX-vae): ASHA on Punk-FID, 9 trials, rungs 1/3/9
#   bench/search.sh pokemon [PREFIX]  start the Pokémon search (PREFIX-pokemon): ASHA on validation top-1, 4 trials, rungs 2/6
#   bench/search.sh trials ID         one search's trials: settings, metric at each rung, epochs, slot-seconds, test metric
# Needs a running cluster (./punkgrid demo …, or PUNKGRID__Postgres and the gateways in the environment) and psql.
# The searches live in PostgreSQL: stop the cluster (./punkgrid down) and start it again, and they go on where they were.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
verb=${1:?usage: search.sh start|report [PREFIX]}
prefix=${2:-bench-search}
# The nine traits the tuned profile leaves under F1 0.95, and three it gets right (docs/RESULTS.md, tuned-92).
traits=${BENCH_TRAITS:-"Ape,Buck Teeth,Earring,Frown,Mole,Rosy Cheeks,Silver Chain,Smile,Spots,Goat,Handlebars,Hoodie"}
space=(--space "lr=loguniform(2e-4,5e-3)" --space "batch_size=choice(32,64,128)" --space "architecture=choice(seed,positional)")
budget=(--profile tuned --max-epochs "${BENCH_MAX_EPOCHS:-9}" --min-epochs 1 --eta 3 --max-trials "${BENCH_TRIALS:-9}" --max-concurrent 2 --seed 28)

if [[ -z ${PUNKGRID__Postgres:-} && -f $root/.punkgrid/cluster.env ]]; then
  set -a; . "$root/.punkgrid/cluster.env"; set +a
fi

# psql's PG* variables from the cluster's connection string.
use_cluster_database() {
  : "${PUNKGRID__Postgres:?set PUNKGRID__Postgres (Host=…;Port=…;Username=…;Database=…)}"
  field() { tr ';' '\n' <<<"$PUNKGRID__Postgres" | grep -i "^$1=" | cut -d= -f2; }
  export PGHOST=$(field Host) PGPORT=$(field Port) PGUSER=$(field Username) PGDATABASE=$(field Database)
  local pw
  pw=$(field Password); [[ -n $pw ]] && export PGPASSWORD=$pw
  return 0
}

case "$verb" in
  start)
    "$root/punkgrid" search traits --traits "$traits" "${space[@]}" "${budget[@]}" --searcher asha --id "$prefix-asha"
    "$root/punkgrid" search traits --traits "$traits" "${space[@]}" "${budget[@]}" --searcher random --id "$prefix-random"
    ;;
  vae)
    # Against the seed VAE (30 epochs, Punk-FID 4878): at most 21 epochs in all (9 + 3·2 + 1·6), the seed's data and size.
    "$root/punkgrid" search vae --profile seed --max-epochs 9 --min-epochs 1 --eta 3 --max-trials 9 --max-concurrent 2 --seed 28 --priority 8 \
      --space "lr=loguniform(4e-4,3e-3)" --space "beta=loguniform(0.5,4)" --space "batch_size=choice(32,64,128)" \
      --space "encoder_dropout=choice(0,0.1,0.38)" --space "decoder_dropout=choice(0,0.1,0.36)" --id "$prefix-vae"
    ;;
  pokemon)
    # Around the tuned profile (last stage fine-tuned, 6 epochs): one trial at a time, so the first computes the frozen
    # stages' activations and the others read them from the worker's activation cache.
    "$root/punkgrid" search pokemon --profile tuned --max-epochs 6 --min-epochs 2 --eta 3 --max-trials 4 --max-concurrent 1 --seed 28 --priority 9 \
      --space "lr=loguniform(3e-4,3e-3)" --space "backbone_lr=loguniform(3e-5,3e-4)" --space "label_smoothing=uniform(0,0.2)" \
      --space "batch_size=choice(32,64)" --id "$prefix-pokemon"
    ;;
  report)
    use_cluster_database
    echo "| trait | ASHA val F1 | ASHA test F1 | ASHA epochs | ASHA slot-s | random val F1 | random test F1 | random epochs | random slot-s | ASHA / random slot-s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    psql -tA -v asha="$prefix-asha" -v random="$prefix-random" <<'SQL'
-- Each trial's cost: its epochs (the job's last epoch) and its slot-seconds: every attempt from its lease to its end,
-- except that an attempt whose lease was lost (its worker killed, or the cluster stopped between sessions) ends at its
-- last write (metric point), so a stopped cluster's downtime is not counted as work.
with attempts as (
  select t.search_id, t.target, t.trial, e.job_id, e.attempt, e.at as started,
         (select x.at from job_events x where x.job_id = e.job_id and x.attempt = e.attempt and x.from_state = 'Running' order by x.id limit 1) as ended_at,
         (select x.detail from job_events x where x.job_id = e.job_id and x.attempt = e.attempt and x.from_state = 'Running' order by x.id limit 1) as ended_by,
         (select max(m.recorded_at) from metrics m where m.job_id = e.job_id and m.attempt = e.attempt) as last_write
  from search_trials t join job_events e on e.job_id = t.job_id and e.to_state = 'Running'
  where t.search_id in (:'asha', :'random')),
cost as (
  select t.search_id, t.target, t.trial, j.epoch as epochs,
         coalesce((select sum(extract(epoch from
             case when a.ended_at is not null and coalesce(a.ended_by, '') not like 'lease%' then a.ended_at
                  else greatest(coalesce(a.last_write, a.started), a.started) end - a.started))
           from attempts a where a.job_id = t.job_id), 0) as seconds
  from search_trials t join jobs j on j.job_id = t.job_id
  where t.search_id in (:'asha', :'random')),
-- The best trial by validation F1 at the highest rung any trial reached; its test F1 is its job's evaluation.
ranked as (
  select r.search_id, r.target, r.trial, r.value, r.epochs,
         row_number() over (partition by r.search_id, r.target order by r.rung desc, r.value desc, r.trial) as n
  from search_results r where r.search_id in (:'asha', :'random') and r.value is not null),
best as (
  select b.search_id, b.target, b.trial, b.value as validation_f1, b.epochs, (j.evaluation->>'f1')::float8 as test_f1
  from ranked b join search_trials t using (search_id, target, trial) join jobs j on j.job_id = t.job_id where b.n = 1),
per as (
  select c.search_id, c.target, count(*) as trials, sum(c.epochs) as epochs, sum(c.seconds) as seconds,
         b.trial as best_trial, b.validation_f1, b.test_f1, b.epochs as best_epochs
  from cost c left join best b using (search_id, target) group by c.search_id, c.target, b.trial, b.validation_f1, b.test_f1, b.epochs)
select format('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |', a.target, round(a.validation_f1::numeric, 4), round(a.test_f1::numeric, 4),
       a.epochs, round(a.seconds::numeric), round(r.validation_f1::numeric, 4), round(r.test_f1::numeric, 4), r.epochs, round(r.seconds::numeric),
       round((a.seconds / nullif(r.seconds, 0))::numeric, 3))
from per a join per r on r.target = a.target and r.search_id = :'random' where a.search_id = :'asha'
union all
select format('| **mean / total** | %s | %s | %s | %s | %s | %s | %s | %s | %s |', round(avg(a.validation_f1)::numeric, 4), round(avg(a.test_f1)::numeric, 4),
       sum(a.epochs), round(sum(a.seconds)::numeric), round(avg(r.validation_f1)::numeric, 4), round(avg(r.test_f1)::numeric, 4), sum(r.epochs),
       round(sum(r.seconds)::numeric), round((sum(a.seconds) / nullif(sum(r.seconds), 0))::numeric, 3))
from per a join per r on r.target = a.target and r.search_id = :'random' where a.search_id = :'asha';
select format('searches: %s', string_agg(search_id || ' ' || state, ', ')) from searches where search_id in (:'asha', :'random');
SQL
    ;;
  trials)
    id=${2:?usage: search.sh trials SEARCH_ID}
    use_cluster_database
    echo "| target | trial | settings | metric at each rung (epochs) | epochs | slot-s | job's evaluation |"
    echo "| --- | ---: | --- | --- | ---: | ---: | --- |"
    psql -tA -v id="$id" <<'SQL'
-- Slot-seconds as in the report verb: each attempt from its lease to its end; a lease-lost attempt ends at its last write.
with attempts as (
  select t.target, t.trial, e.job_id, e.attempt, e.at as started,
         (select x.at from job_events x where x.job_id = e.job_id and x.attempt = e.attempt and x.from_state = 'Running' order by x.id limit 1) as ended_at,
         (select x.detail from job_events x where x.job_id = e.job_id and x.attempt = e.attempt and x.from_state = 'Running' order by x.id limit 1) as ended_by,
         (select max(m.recorded_at) from metrics m where m.job_id = e.job_id and m.attempt = e.attempt) as last_write
  from search_trials t join job_events e on e.job_id = t.job_id and e.to_state = 'Running'
  where t.search_id = :'id')
select format('| %s | %s | %s | %s | %s | %s | %s |', t.target, t.trial,
       (select string_agg(k || '=' || v, ' ' order by k) from jsonb_each_text(t.parameters) as p(k, v)),
       coalesce((select string_agg(format('%s (%s)', round(r.value::numeric, 4), r.epochs), ', ' order by r.rung)
                 from search_results r where r.search_id = t.search_id and r.target = t.target and r.trial = t.trial), '–'),
       j.epoch,
       round(coalesce((select sum(extract(epoch from
             case when a.ended_at is not null and coalesce(a.ended_by, '') not like 'lease%' then a.ended_at
                  else greatest(coalesce(a.last_write, a.started), a.started) end - a.started))
           from attempts a where a.job_id = t.job_id), 0)::numeric),
       coalesce((select string_agg(k || ' ' || round(v::numeric, 4), ', ' order by k) from jsonb_each_text(j.evaluation) as e(k, v)
                 where k in ('f1', 'punk_fid_samples', 'punk_fid_reconstructions', 'test_mse', 'top1', 'top5', 'validation_top1')), '–'))
from search_trials t join jobs j on j.job_id = t.job_id
where t.search_id = :'id' order by t.target, t.trial;
SQL
    ;;
  *)
    echo "search.sh: unknown verb '$verb'; allowed: start, vae, pokemon, report, trials" >&2
    exit 2
    ;;
esac
