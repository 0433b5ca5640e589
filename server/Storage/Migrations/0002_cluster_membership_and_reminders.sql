-- Orleans cluster membership and reminders, for PunkGrid's own IMembershipTable, IGatewayListProvider and
-- IReminderTable implementations (grains/Clustering). One row per cluster holds the table version that
-- membership updates are checked against (optimistic concurrency, as Orleans requires).

create table cluster_versions (
    cluster_id  text primary key,
    version     integer not null,
    etag        bigint not null default 0
);

create table cluster_members (
    cluster_id      text not null references cluster_versions (cluster_id) on delete cascade,
    address         text not null,
    port            integer not null,
    generation      integer not null,
    silo_name       text not null,
    host_name       text not null,
    status          integer not null,
    proxy_port      integer not null,
    suspect_times   text,
    start_time      timestamptz not null,
    i_am_alive_time timestamptz not null,
    etag            bigint not null default 0,
    primary key (cluster_id, address, port, generation)
);

create table cluster_reminders (
    service_id     text not null,
    grain_id       text not null,
    reminder_name  text not null,
    grain_hash     bigint not null,
    start_time     timestamptz not null,
    period_ms      bigint not null,
    etag           bigint not null default 0,
    primary key (service_id, grain_id, reminder_name)
);
create index cluster_reminders_hash on cluster_reminders (service_id, grain_hash);
