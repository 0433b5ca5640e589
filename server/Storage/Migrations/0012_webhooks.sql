-- Webhooks (issue 27): operators' endpoints, and a transactional outbox of the events they asked for. An event is
-- written by the transaction that makes it happen (a trigger on jobs for run.finished, run.failed and job.quarantined;
-- the schedule firing's statement for schedule.missed and schedule.failed), one outbox row per hook, all with the same
-- event id. Each silo's WebhookDispatcher claims due rows (a claim lease: one silo delivers a row at a time), posts them
-- signed, and marks them delivered, or backs off and tries again.
create table webhooks (
    name        text primary key,
    url         text not null,
    events      text[] not null,
    secret      text not null,
    enabled     boolean not null default true,
    created_at  timestamptz not null default now()
);

create table webhook_outbox (
    delivery_id      bigserial primary key,
    event_id         uuid not null,
    hook             text not null references webhooks (name) on delete cascade,
    event_type       text not null,
    payload          jsonb not null,
    created_at       timestamptz not null default now(),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    claimed_by       text,
    claimed_until    timestamptz,
    delivered_at     timestamptz,
    last_status      integer,
    last_error       text,
    unique (event_id, hook)
);
create index webhook_outbox_due on webhook_outbox (next_attempt_at) where delivered_at is null;
create index webhook_outbox_hook on webhook_outbox (hook, delivery_id desc);

-- Whether a run's end has been announced: set by the first transaction that sees every job of the run ended, cleared
-- when one of its jobs is queued again (a retry), so a run that ends again is announced again.
alter table runs add column ended_announced_at timestamptz;

-- One event: an id of its own, the same for every hook that asked for its type.
create function punkgrid_emit(event_type text, data jsonb) returns void language plpgsql as $$
declare
    event uuid := gen_random_uuid();
begin
    insert into webhook_outbox (event_id, hook, event_type, payload)
    select event, h.name, event_type,
           jsonb_build_object('id', event, 'type', event_type, 'occurred_at', now(), 'data', data)
    from webhooks h
    where h.enabled and event_type = any (h.events);
    if found then
        perform pg_notify('punkgrid_webhooks', event_type);
    end if;
end $$;

-- A job ended (Succeeded, Failed, Cancelled). Row triggers after an update run at the end of its statement, so a run
-- whose jobs a single statement ends (a cancel) sees them all ended; the run row is locked (no key update) before its
-- jobs are counted again, so of two transactions ending its last two jobs the second waits for the first, then sees
-- both ended: exactly one announces the run.
create function punkgrid_job_ended() returns trigger language plpgsql as $$
begin
    if new.state = 'Failed' and new.error like 'quarantined:%' then
        perform punkgrid_emit('job.quarantined', jsonb_build_object('job_id', new.job_id, 'run_id', new.run_id,
            'attempt', new.attempt, 'error', new.error));
    end if;
    perform 1 from runs where run_id = new.run_id for no key update;
    if exists (select 1 from jobs where run_id = new.run_id and state in ('Queued', 'Running')) then
        return null;
    end if;
    update runs set ended_announced_at = now() where run_id = new.run_id and ended_announced_at is null;
    if found then
        perform punkgrid_emit(
            case when exists (select 1 from jobs where run_id = new.run_id and state = 'Failed') then 'run.failed' else 'run.finished' end,
            (select jsonb_build_object('run_id', r.run_id, 'kind', r.kind, 'profile', r.profile, 'created_at', r.created_at,
                     'jobs', (select jsonb_object_agg(state, n) from (select state, count(*) as n from jobs where run_id = r.run_id group by state) s))
             from runs r where r.run_id = new.run_id));
    end if;
    return null;
end $$;

create function punkgrid_job_reopened() returns trigger language plpgsql as $$
begin
    update runs set ended_announced_at = null where run_id = new.run_id and ended_announced_at is not null;
    return null;
end $$;

create trigger jobs_ended after update of state on jobs
    for each row when (new.state in ('Succeeded', 'Failed', 'Cancelled') and old.state in ('Queued', 'Running'))
    execute function punkgrid_job_ended();
create trigger jobs_reopened after update of state on jobs
    for each row when (new.state = 'Queued' and old.state in ('Succeeded', 'Failed', 'Cancelled'))
    execute function punkgrid_job_reopened();

-- Runs that ended before this migration are not announced.
update runs r set ended_announced_at = now()
 where not exists (select 1 from jobs j where j.run_id = r.run_id and j.state in ('Queued', 'Running'));
