-- When a running job last moved (issue 27): set when it is leased and whenever a heartbeat reports a new epoch or step,
-- so "Running without progress" is a query (the punkgrid.jobs.running.progress_age gauge and its alert), not a guess from
-- updated_at, which every heartbeat touches.
alter table jobs add column progressed_at timestamptz;
update jobs set progressed_at = updated_at where state = 'Running';
