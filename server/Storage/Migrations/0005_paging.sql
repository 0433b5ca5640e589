-- Paging and history at scale (issues 13 and 14): runs newest first by a (created_at, run_id) cursor; a run's jobs by
-- job id (the primary key serves it); metrics by (job, name, step) through the unique index of 0004.
create index runs_newest on runs (created_at desc, run_id desc);
create index jobs_run_page on jobs (run_id, job_id);
