-- Whose fault was a lost lease (issue 12): a lost-lease event keeps when its worker last renewed (its time of death, to
-- within a heartbeat) and whether it counted towards the job's quarantine, so that deaths of several silos at once are
-- recognised as the cluster's, and a worker that turns out to have been frozen, not dead, takes its count back.
alter table job_events add column lease_renewed_at timestamptz, add column counted_crash boolean not null default false;
create index job_events_deaths on job_events (lease_renewed_at) where lease_renewed_at is not null;
