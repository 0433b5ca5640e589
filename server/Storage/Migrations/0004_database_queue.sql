-- The database is the queue (issue 12). Workers lease Queued jobs with one statement
-- (FOR UPDATE SKIP LOCKED), renew and report through conditional statements, and every silo expires
-- unrenewed leases with one statement that first checks the lease clock for an outage. No grain keeps
-- a queue of its own any more.

-- What ends an attempt is counted by cause: the trainer failing (failures, bounded by max_failures),
-- or the lease being lost (lost_leases: a dead, frozen or partitioned worker). crash_streak counts the
-- consecutive lost leases whose attempt saved no checkpoint: a job that keeps killing its worker before
-- it gets anywhere is quarantined (Failed) instead of taking down worker after worker.
alter table jobs rename column max_attempts to max_failures;
alter table jobs add column failures integer not null default 0;
alter table jobs add column lost_leases integer not null default 0;
alter table jobs add column crash_streak integer not null default 0;

drop index jobs_queued;
create index jobs_queue on jobs (priority desc, created_at, job_id) where state = 'Queued';
create index jobs_leases on jobs (lease_expires_at) where state = 'Running';
create index jobs_worker on jobs (worker_id) where state = 'Running';

-- Events are stamped when their row is written (after the transition's row lock was granted), so a fenced
-- write that committed before a transition is always stamped before that transition's event.
alter table job_events alter column at set default clock_timestamp();

-- One metric point per (job, name, step, attempt): a batch re-sent after an ambiguous failure (the database
-- went away before the commit was acknowledged) adds nothing.
delete from metrics a using metrics b
 where a.ctid < b.ctid and a.job_id = b.job_id and a.name = b.name and a.step = b.step and a.attempt = b.attempt;
drop index metrics_job;
create unique index metrics_point on metrics (job_id, name, step, attempt);

-- The lease clock: every silo's lease keeper ticks it. A tick that finds the previous one older than the
-- outage gap means nobody could reach the database (or every silo was down): the leases are extended
-- instead of expired, since their workers could not have renewed them either.
create table lease_clock (
    id             integer primary key check (id = 1),
    last_tick      timestamptz not null default now(),
    previous_tick  timestamptz not null default now()
);
insert into lease_clock (id) values (1);

-- Wake the workers when a job becomes Queued (submitted, requeued, retried) and when a running job is
-- cancelled. Notifications are delivered on commit and coalesced per transaction and payload.
create function punkgrid_notify_queued() returns trigger language plpgsql as $$
begin
    perform pg_notify('punkgrid_queue', new.device);
    return null;
end $$;

create function punkgrid_notify_cancelled() returns trigger language plpgsql as $$
begin
    perform pg_notify('punkgrid_cancel', new.job_id);
    return null;
end $$;

create trigger jobs_inserted_queued after insert on jobs
    for each row when (new.state = 'Queued') execute function punkgrid_notify_queued();
create trigger jobs_became_queued after update of state on jobs
    for each row when (new.state = 'Queued' and old.state <> 'Queued') execute function punkgrid_notify_queued();
create trigger jobs_running_cancelled after update of state on jobs
    for each row when (new.state = 'Cancelled' and old.state = 'Running') execute function punkgrid_notify_cancelled();
