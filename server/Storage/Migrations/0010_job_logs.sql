-- What a job's trainer and worker said about it, per attempt (issue 27): start and resume, each epoch, warnings,
-- the exception of a failure, lease loss, cancellation. Lines are written in batches by each silo's JobLogWriter
-- and kept per job up to a bound (oldest dropped first). A line is not fenced: an attempt that lost its job may
-- still say why it stopped. What it says is kept, marked superseded: it was said after a newer attempt had started.
create table job_logs (
    id          bigserial primary key,
    line_key    uuid not null unique,
    job_id      text not null references jobs (job_id) on delete cascade,
    attempt     integer not null,
    at          timestamptz not null,
    level       text not null check (level in ('Trace', 'Debug', 'Information', 'Warning', 'Error', 'Critical')),
    source      text not null,
    message     text not null,
    superseded  boolean not null default false
);
create index job_logs_job on job_logs (job_id, id);

-- How many of a job's lines were dropped to keep it within the bound, so a reader knows the log starts late.
create table job_log_dropped (
    job_id  text primary key references jobs (job_id) on delete cascade,
    lines   bigint not null
);
