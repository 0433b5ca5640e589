-- Hyperparameter searches (issue 28). A search owns one run, whose jobs are its trials; for traits it is one search per
-- trait (a search_targets row each), run side by side. Every decision (a result recorded, a new trial, a promotion, the
-- end) is taken by one silo's search pass holding the target's row lock, in the transaction that carries it out, and is
-- numbered: a decision is never lost (it commits with its effect) nor taken twice (the next pass sees it).
create table searches (
    search_id         text primary key,
    run_id            text not null unique references runs (run_id) on delete cascade,
    kind              text not null,
    profile           text not null,
    spec              jsonb not null,
    parameters        jsonb not null,
    space             jsonb not null,
    searcher          text not null check (searcher in ('grid', 'random', 'asha')),
    metric            text not null,
    higher_is_better  boolean not null,
    min_epochs        integer not null,
    max_epochs        integer not null,
    reduction_factor  integer not null,
    max_trials        integer not null,
    max_concurrent    integer not null,
    seed              integer not null,
    state             text not null default 'Running' check (state in ('Running', 'Finished', 'Cancelled')),
    created_at        timestamptz not null default now(),
    finished_at       timestamptz
);

create table search_targets (
    search_id    text not null references searches (search_id) on delete cascade,
    target       text not null,
    state        text not null default 'Running' check (state in ('Running', 'Finished', 'Failed', 'Cancelled')),
    decisions    integer not null default 0,
    detail       text,
    finished_at  timestamptz,
    primary key (search_id, target)
);
create index search_targets_open on search_targets (search_id, target) where state = 'Running';

create table search_trials (
    search_id   text not null,
    target      text not null,
    trial       integer not null,
    job_id      text not null unique references jobs (job_id) on delete cascade,
    parameters  jsonb not null,
    rung        integer not null,
    created_at  timestamptz not null default now(),
    primary key (search_id, target, trial),
    foreign key (search_id, target) references search_targets (search_id, target) on delete cascade
);

-- A trial's metric when it completed a rung (null: its job stored no value of the metric at that epoch).
create table search_results (
    search_id    text not null,
    target       text not null,
    trial        integer not null,
    rung         integer not null,
    epochs       integer not null,
    value        double precision,
    attempt      integer not null,
    recorded_at  timestamptz not null default now(),
    primary key (search_id, target, trial, rung),
    foreign key (search_id, target, trial) references search_trials (search_id, target, trial) on delete cascade
);

create table search_decisions (
    search_id   text not null,
    target      text not null,
    sequence    integer not null,
    action      text not null check (action in ('result', 'trial', 'promote', 'finish', 'fail', 'cancel')),
    trial       integer,
    rung        integer,
    epochs      integer,
    value       double precision,
    detail      text not null,
    decided_at  timestamptz not null default now(),
    primary key (search_id, target, sequence),
    foreign key (search_id, target) references search_targets (search_id, target) on delete cascade
);

-- A run ends when no job of it is open and no search of it is still deciding (a search's run looks ended for a moment
-- between a trial's result and the next decision). The check is shared by the jobs' trigger and the search pass that
-- ends a search.
create function punkgrid_announce_run_end(ended_run text) returns void language plpgsql as $$
begin
    perform 1 from runs where run_id = ended_run for no key update;
    if exists (select 1 from jobs where run_id = ended_run and state in ('Queued', 'Running'))
       or exists (select 1 from searches s join search_targets t on t.search_id = s.search_id
                  where s.run_id = ended_run and t.state = 'Running') then
        return;
    end if;
    update runs set ended_announced_at = now() where run_id = ended_run and ended_announced_at is null;
    if found then
        perform punkgrid_emit(
            case when exists (select 1 from jobs where run_id = ended_run and state = 'Failed') then 'run.failed' else 'run.finished' end,
            (select jsonb_build_object('run_id', r.run_id, 'kind', r.kind, 'profile', r.profile, 'created_at', r.created_at,
                     'jobs', (select jsonb_object_agg(state, n) from (select state, count(*) as n from jobs where run_id = r.run_id group by state) s))
             from runs r where r.run_id = ended_run));
    end if;
end $$;

create or replace function punkgrid_job_ended() returns trigger language plpgsql as $$
begin
    if new.state = 'Failed' and new.error like 'quarantined:%' then
        perform punkgrid_emit('job.quarantined', jsonb_build_object('job_id', new.job_id, 'run_id', new.run_id,
            'attempt', new.attempt, 'error', new.error));
    end if;
    perform punkgrid_announce_run_end(new.run_id);
    return null;
end $$;
