-- What the last firing of a schedule did (submitted a run, skipped an overlap, refused a bad spec).
alter table schedules add column last_outcome text;
