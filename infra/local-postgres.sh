#!/usr/bin/env bash
# A local PostgreSQL for the demo and the tests, kept under one folder.
#   infra/local-postgres.sh start DIR [DATABASE] [--no-fsync] [--listen ADDRESS]
#                                                               start (or reuse) the server of DIR; prints its connection string
#   infra/local-postgres.sh stop DIR                            stop it (the data stays in DIR)
#   infra/local-postgres.sh status DIR                          exit 0 when running
#   infra/local-postgres.sh pid DIR                             the postmaster's process id
#   infra/local-postgres.sh standby DIR --primary PRIMARY_DIR --listen ADDRESS [--name NAME] [--synchronous] [--no-fsync]
#                                                               make DIR a streaming-replication standby of the server of
#                                                               PRIMARY_DIR (reached at its --listen address), start it;
#                                                               --synchronous: the primary then waits for it at every commit
#   infra/local-postgres.sh promote DIR                         promote the standby of DIR to a primary (pg_ctl promote)
# Binds 127.0.0.1 only (and ADDRESS with --listen, accepting password logins from ADDRESS's /24: a host of
# infra/hosts.sh, whose connection string then names ADDRESS), on a free port (remembered in DIR/port and used again on the next start when still free,
# so a restarted server is back on the same address). Durable by default (fsync on); --no-fsync is for throwaway
# test servers only. Password authentication (SCRAM-SHA-256) for every TCP connection: a random password is made
# at initdb, kept in DIR/password (mode 0600) and put in the printed connection string — keep that string out of
# command lines and world-readable files. A server made by an older version (trust authentication) is switched to a
# password on its next start. As root, initdb and postgres refuse to run, so they run as the `postgres` user, which
# then owns DIR. Installs Debian's postgresql if no server binaries are found and we are root.
set -euo pipefail
verb=${1:?usage: local-postgres.sh start|stop|status|pid|standby|promote DIR [DATABASE] [--no-fsync] [--listen ADDRESS]}
dir=$(mkdir -p "${2:?a folder is required}" && cd "$2" && pwd)
database=punkgrid fsync=on listen= primary= standby_name=standby synchronous=false
args=("${@:3}")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --no-fsync) fsync=off ;;
    --listen)
      i=$((i + 1)); listen=${args[i]:-}
      [[ $listen =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || { echo "local-postgres: --listen needs an IPv4 address, not '$listen'" >&2; exit 2; }
      ;;
    --primary) i=$((i + 1)); primary=${args[i]:-} ;;
    --name)
      i=$((i + 1)); standby_name=${args[i]:-}
      [[ $standby_name =~ ^[a-z][a-z0-9_]{0,30}$ ]] || { echo "local-postgres: --name needs 1-31 lower-case letters, digits or '_', not '$standby_name'" >&2; exit 2; }
      ;;
    --synchronous) synchronous=true ;;
    -*) echo "local-postgres: unknown option '${args[i]}'; allowed: --no-fsync, --listen ADDRESS, --primary DIR, --name NAME, --synchronous" >&2; exit 2 ;;
    *) database=${args[i]} ;;
  esac
done

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}
bindir=$(find_bindir) || {
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "local-postgres: installing PostgreSQL server binaries (apt-get install postgresql)…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
    bindir=$(find_bindir)
  else
    echo "local-postgres: no PostgreSQL server binaries found (install postgresql, or set PUNKGRID__Postgres)" >&2
    exit 1
  fi
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { [[ -f $dir/data/postmaster.pid ]] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for p in $(seq 54320 54999); do
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

own() { if [[ $(id -u) -eq 0 ]]; then chown postgres: "$@"; fi; }

# A password only the owner can read: made once, then reused.
password_file=$dir/password
make_password() {
  if [[ ! -s $password_file ]]; then
    (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$password_file")
    own "$password_file"
  fi
}

# Starts the server of DIR/data on its remembered port (or a free one), listening on 127.0.0.1 and $listen.
launch() {
  if [[ -f $dir/port ]] && port_free "$(cat "$dir/port")"; then port=$(cat "$dir/port"); else port=$(free_port); fi
  echo "$port" > "$dir/port"
  own "$dir/port"
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1${listen:+,$listen} -c max_connections=200 -c fsync=$fsync" start >/dev/null \
    || { tail -20 "$dir/server.log" >&2; exit 1; }
}

# psql as the superuser on this machine's server of folder $1 (by its Unix socket), password from the folder.
psql_at() {
  local folder=$1; shift
  as_owner env PGPASSWORD="$(cat "$folder/password")" "$bindir/psql" -h "$folder" -p "$(cat "$folder/port")" -U postgres -d postgres -qtA "$@"
}

case "$verb" in
  start)
    own "$dir"
    if [[ ! -f $dir/data/PG_VERSION ]]; then
      make_password
      as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth-host=scram-sha-256 --auth-local=scram-sha-256 \
        --pwfile="$password_file" -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    upgrade_trust=false
    if grep -qE '^[^#].*[[:space:]]trust[[:space:]]*$' "$dir/data/pg_hba.conf" 2>/dev/null; then upgrade_trust=true; make_password; fi
    if [[ -n $listen ]]; then
      network="${listen%.*}.0/24"
      for kind in all replication; do
        grep -q "^host $kind all $network scram-sha-256" "$dir/data/pg_hba.conf" \
          || echo "host $kind all $network scram-sha-256" | as_owner tee -a "$dir/data/pg_hba.conf" >/dev/null
      done
      echo "$listen" > "$dir/listen"
    fi
    if ! running; then launch; fi
    port=$(cat "$dir/port")
    password=$(cat "$password_file")
    if $upgrade_trust; then
      # Made by an older version with trust authentication: set the password, then require it.
      as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtAc "alter user postgres password '$password'" >/dev/null
      as_owner sed -i -E 's/[[:space:]]trust[[:space:]]*$/ scram-sha-256/' "$dir/data/pg_hba.conf"
      as_owner "$bindir/pg_ctl" -D "$dir/data" reload >/dev/null
    fi
    if ! as_owner env PGPASSWORD="$password" "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "select 1 from pg_database where datname = '$database'" | grep -q 1; then
      as_owner env PGPASSWORD="$password" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$database"
    fi
    echo "Host=${listen:-127.0.0.1};Port=$port;Username=postgres;Password=$password;Database=$database"
    ;;
  standby)
    [[ -n $primary && -f $primary/port && -s $primary/password ]] || { echo "local-postgres: standby needs --primary DIR, the folder of a running server of this script" >&2; exit 2; }
    [[ -s $primary/listen && -n $listen ]] || { echo "local-postgres: a standby replicates over the network: start the primary with --listen ADDRESS and give the standby --listen ADDRESS" >&2; exit 2; }
    primary=$(cd "$primary" && pwd)
    own "$dir"
    if [[ ! -f $dir/data/PG_VERSION ]]; then
      cp "$primary/password" "$dir/password"
      own "$dir/password"
      # A copy of the primary streamed over the network; -R writes standby.signal and the primary's conninfo.
      as_owner env PGPASSWORD="$(cat "$dir/password")" "$bindir/pg_basebackup" -h "$(cat "$primary/listen")" -p "$(cat "$primary/port")" \
        -U postgres -D "$dir/data" -R -X stream --checkpoint=fast >"$dir/basebackup.log" 2>&1 \
        || { cat "$dir/basebackup.log" >&2; exit 1; }
      # The walreceiver reports cluster_name as its application_name: the name synchronous_standby_names lists.
      echo "cluster_name = '$standby_name'" | as_owner tee -a "$dir/data/postgresql.auto.conf" >/dev/null
      echo "$listen" > "$dir/listen"
    fi
    if ! running; then launch; fi
    if $synchronous; then
      psql_at "$primary" -c "alter system set synchronous_standby_names = '\"$standby_name\"'" -c "select pg_reload_conf()" >/dev/null
      for _ in $(seq 1 60); do
        [[ $(psql_at "$primary" -c "select sync_state from pg_stat_replication where application_name = '$standby_name'") == sync ]] && break
        sleep 0.5
      done
      [[ $(psql_at "$primary" -c "select sync_state from pg_stat_replication where application_name = '$standby_name'") == sync ]] \
        || { echo "local-postgres: the standby '$standby_name' did not become synchronous in 30 s" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    echo "Host=$listen;Port=$(cat "$dir/port");Username=postgres;Password=$(cat "$dir/password");Database=$database"
    ;;
  promote)
    running || { echo "local-postgres: no server runs in $dir" >&2; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
    ;;
  stop)
    if running; then as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; fi
    ;;
  status)
    running
    ;;
  pid)
    running && head -1 "$dir/data/postmaster.pid"
    ;;
  *)
    echo "local-postgres: unknown verb '$verb'; allowed: start, stop, status, pid, standby, promote" >&2
    exit 2
    ;;
esac
