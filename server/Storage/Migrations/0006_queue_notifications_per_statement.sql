-- Submitting a large run (issue 14): one NOTIFY per statement and device instead of one trigger call per inserted job.
-- Transitions into Queued (requeues, retries) stay row triggers: they touch a few rows at a time.
drop trigger jobs_inserted_queued on jobs;

create function punkgrid_notify_inserted() returns trigger language plpgsql as $$
declare
    queued_device text;
begin
    for queued_device in select distinct device from inserted where state = 'Queued' loop
        perform pg_notify('punkgrid_queue', queued_device);
    end loop;
    return null;
end $$;

create trigger jobs_inserted_queued after insert on jobs
    referencing new table as inserted for each statement execute function punkgrid_notify_inserted();

