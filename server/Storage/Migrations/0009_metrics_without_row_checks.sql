-- Metric ingestion without a check per point (issue 14).
--
-- Points are written only by TrainingOutputStore.WriteMetricsAsync, whose statement first locks the job's row
-- (FOR KEY SHARE, the fence: this job, this attempt, Running) and inserts only if that row was found. The foreign key's
-- trigger then looked the same row up and locked it again once per point: about a third of an insert's cost
-- (docs/BENCHMARKS.md, "Metrics ingestion"). The fence proves it once per batch, so the key goes. What its ON DELETE
-- CASCADE did stays: deleting jobs deletes their points, in the same statement's transaction.
alter table metrics drop constraint if exists metrics_job_id_fkey;

create function punkgrid_delete_job_metrics() returns trigger language plpgsql as $$
begin
    delete from metrics m using deleted_jobs d where m.job_id = d.job_id;
    return null;
end $$;

create trigger jobs_metrics_deleted after delete on jobs
    referencing old table as deleted_jobs for each statement execute function punkgrid_delete_job_metrics();
