-- PunkGrid's relational state: runs, jobs, their transitions, metrics, checkpoints, artifacts, schedules,
-- and the workers that have registered. Plain tables, queryable by dashboards with plain SQL.

create table runs (
    run_id      text primary key,
    kind        text not null,
    profile     text not null,
    spec        jsonb not null,
    priority    integer not null default 0,
    created_at  timestamptz not null default now()
);

create table jobs (
    job_id           text primary key,
    run_id           text not null references runs (run_id) on delete cascade,
    kind             text not null,
    target           text,
    profile          text not null,
    parameters       jsonb not null,
    device           text not null default 'any',
    priority         integer not null default 0,
    state            text not null check (state in ('Queued', 'Running', 'Succeeded', 'Failed', 'Cancelled')),
    attempt          integer not null default 0,
    max_attempts     integer not null default 3,
    worker_id        text,
    lease_expires_at timestamptz,
    progress         double precision not null default 0,
    epoch            integer not null default 0,
    total_epochs     integer not null default 0,
    step             bigint not null default 0,
    total_steps      bigint not null default 0,
    error            text,
    summary          jsonb,
    evaluation       jsonb,
    created_at       timestamptz not null default now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz not null default now()
);
create index jobs_run on jobs (run_id);
create index jobs_queued on jobs (priority desc, created_at) where state = 'Queued';

create table job_events (
    id          bigserial primary key,
    job_id      text not null references jobs (job_id) on delete cascade,
    attempt     integer not null,
    from_state  text,
    to_state    text not null,
    worker_id   text,
    detail      text,
    at          timestamptz not null default now()
);
create index job_events_job on job_events (job_id, id);

create table metrics (
    job_id      text not null references jobs (job_id) on delete cascade,
    attempt     integer not null,
    epoch       integer not null,
    step        bigint not null,
    name        text not null,
    value       double precision not null,
    recorded_at timestamptz not null default now()
);
create index metrics_job on metrics (job_id, name, step);

create table checkpoints (
    id          bigserial primary key,
    job_id      text not null references jobs (job_id) on delete cascade,
    attempt     integer not null,
    epoch       integer not null,
    step        bigint not null,
    score       double precision,
    size_bytes  bigint not null,
    sha256      bytea not null,
    data        bytea not null,
    created_at  timestamptz not null default now()
);
create index checkpoints_job on checkpoints (job_id, epoch desc);

create table artifacts (
    job_id        text not null references jobs (job_id) on delete cascade,
    name          text not null,
    attempt       integer not null,
    content_type  text not null,
    size_bytes    bigint not null,
    sha256        bytea not null,
    data          bytea not null,
    created_at    timestamptz not null default now(),
    primary key (job_id, name)
);

create table schedules (
    name          text primary key,
    cron          text not null,
    time_zone     text not null default 'UTC',
    spec          jsonb not null,
    paused        boolean not null default false,
    last_fired_at timestamptz,
    last_run_id   text,
    created_at    timestamptz not null default now()
);

create table workers (
    worker_id       text primary key,
    silo            text not null,
    device          text not null,
    slots           integer not null,
    memory_mb       bigint not null,
    running         integer not null default 0,
    started_at      timestamptz not null default now(),
    last_heartbeat  timestamptz not null default now()
);
