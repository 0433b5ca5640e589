-- A long history stays fast to read (issue 14).

-- 1. A run's jobs counted by state without counting its jobs. Jobs created or removed append one row per (run, state)
-- and statement; a job changing state appends one row (run, from state, to state): appends never wait on each other, so a sweep's workers
-- leasing and finishing jobs at once do not queue on a counter row. A run's count in a state is the sum of the rows
-- moving jobs into it less those moving jobs out of it. The compactor (JobCountCompactor, on every silo, one at a time)
-- folds a run's rows back into one per state, so a read sums a handful of rows whatever the run's size. The trigger
-- runs in the writer's transaction: the counts are exactly the committed jobs' states, at any snapshot.
create table run_job_counts (
    run_id      text not null references runs (run_id) on delete cascade,
    from_state  text,
    to_state    text,
    jobs        bigint not null
);
create index run_job_counts_run on run_job_counts (run_id);
create index run_job_counts_moves on run_job_counts (run_id) where from_state is not null;
alter table run_job_counts set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                                autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 2000);

create function punkgrid_count_inserted_jobs() returns trigger language plpgsql as $$
begin
    insert into run_job_counts (run_id, to_state, jobs)
    select run_id, state, count(*) from inserted_jobs group by run_id, state;
    return null;
end $$;

-- Moves are counted row by row, and only rows whose state changed fire: leases renewed, progress and heartbeats (most of
-- the updates of jobs) cost nothing here. A statement-level trigger with transition tables would fold a bulk move into
-- one row, but PostgreSQL allows those only on every update of the table (no column list), copying the rows of each
-- heartbeat. What the trigger costs a state change: bench/read-models-cost.sh.
create function punkgrid_count_moved_job() returns trigger language plpgsql as $$
begin
    insert into run_job_counts (run_id, from_state, to_state, jobs) values (new.run_id, old.state, new.state, 1);
    return null;
end $$;

-- Jobs leave only with their run (on delete cascade), whose counts go with it; a job removed on its own is counted out.
create function punkgrid_count_deleted_jobs() returns trigger language plpgsql as $$
begin
    insert into run_job_counts (run_id, from_state, jobs)
    select d.run_id, d.state, count(*) from deleted_jobs d
     where exists (select 1 from runs r where r.run_id = d.run_id)
     group by d.run_id, d.state;
    return null;
end $$;

create trigger jobs_counted_inserted after insert on jobs
    referencing new table as inserted_jobs for each statement execute function punkgrid_count_inserted_jobs();
create trigger jobs_counted_moved after update of state on jobs
    for each row when (old.state is distinct from new.state) execute function punkgrid_count_moved_job();
create trigger jobs_counted_deleted after delete on jobs
    referencing old table as deleted_jobs for each statement execute function punkgrid_count_deleted_jobs();

-- The triggers above hold jobs against writers until this migration commits, so the first counts miss nothing.
insert into run_job_counts (run_id, to_state, jobs) select run_id, state, count(*) from jobs group by run_id, state;

-- A run's progress needs only its unfinished jobs that got somewhere (running, or requeued after a lost lease).
create index jobs_run_partial_progress on jobs (run_id) include (progress) where progress > 0 and state in ('Queued', 'Running');

-- jobs is updated in place all day (leases, heartbeats): vacuum it after 2 % of it changed, not the default 20 %.
alter table jobs set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- 2. Metric pages in step order read the index in that order (a page from the middle of 100k points read and sorted
-- the rest of the job's points). Same uniqueness, columns reordered.
create unique index metrics_point_by_step on metrics (job_id, step, name, attempt);
drop index metrics_point;

-- 3. Downsampled curves from blocks of 64 steps (step >> 6) rolled up as points arrive, so a 100k-point curve reads
-- ~1,600 blocks instead of 100k points. Points are only ever added (a job's rows go with it), never updated.
create table metric_blocks (
    job_id        text not null references jobs (job_id) on delete cascade,
    name          text not null,
    block         bigint not null,
    points        bigint not null,
    total         double precision not null,
    first_step    bigint not null,
    last_step     bigint not null,
    last_attempt  integer not null,
    last_epoch    integer not null,
    primary key (job_id, name, block)
);

create function punkgrid_roll_up_metrics() returns trigger language plpgsql as $$
begin
    insert into metric_blocks as b (job_id, name, block, points, total, first_step, last_step, last_attempt, last_epoch)
    select job_id, name, step >> 6, count(*), sum(value), min(step), max(step), max(attempt), max(epoch)
      from inserted_points group by job_id, name, step >> 6
     order by job_id, name, step >> 6
    on conflict (job_id, name, block) do update
       set points = b.points + excluded.points, total = b.total + excluded.total,
           first_step = least(b.first_step, excluded.first_step), last_step = greatest(b.last_step, excluded.last_step), last_attempt = greatest(b.last_attempt, excluded.last_attempt),
           last_epoch = greatest(b.last_epoch, excluded.last_epoch);
    return null;
end $$;

create trigger metrics_rolled_up after insert on metrics
    referencing new table as inserted_points for each statement execute function punkgrid_roll_up_metrics();

insert into metric_blocks (job_id, name, block, points, total, first_step, last_step, last_attempt, last_epoch)
select job_id, name, step >> 6, count(*), sum(value), min(step), max(step), max(attempt), max(epoch) from metrics group by job_id, name, step >> 6;
