-- A model registry for retraining (issue 27): named models (trait/Earring, vae, gan, gan/conditional, pokemon) with
-- numbered versions, each a succeeded job's stored model; aliases (production, …) that point at a version and that
-- predict/generate follow; and the promotion decisions of runs submitted with --promote-if-better ALIAS.
create table model_versions (
    model             text not null,
    version           integer not null,
    job_id            text not null references jobs (job_id) on delete restrict, -- a registered model's job (and run) cannot be deleted
    run_id            text not null,
    metric_name       text,
    metric            double precision,
    higher_is_better  boolean not null,
    registered_at     timestamptz not null default now(),
    primary key (model, version),
    unique (model, job_id)
);

create table model_aliases (
    model     text not null,
    alias     text not null,
    version   integer not null,
    set_at    timestamptz not null default now(),
    set_by    text not null,
    primary key (model, alias),
    foreign key (model, version) references model_versions (model, version)
);

-- Every promote-if-better decision, taken or not, with both scores.
create table model_promotions (
    id                 bigserial primary key,
    run_id             text not null,
    model              text not null,
    alias              text not null,
    candidate_version  integer not null,
    candidate_metric   double precision,
    current_version    integer,
    current_metric     double precision,
    promoted           boolean not null,
    reason             text not null,
    decided_at         timestamptz not null default now(),
    unique (run_id, model, alias)
);

-- A run that should promote its better models when it ends, and when it did.
alter table runs add column promote_alias text;
alter table runs add column promoted_at timestamptz;
create index runs_to_promote on runs (created_at) where promote_alias is not null and promoted_at is null;

-- A run whose job is retried ends again: its new models are registered and judged then (decisions already taken stay).
create or replace function punkgrid_job_reopened() returns trigger language plpgsql as $$
begin
    update runs set ended_announced_at = null, promoted_at = null
     where run_id = new.run_id and (ended_announced_at is not null or promoted_at is not null);
    return null;
end $$;
