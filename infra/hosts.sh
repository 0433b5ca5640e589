#!/usr/bin/env bash
# Hosts on one machine: Linux network namespaces joined by a bridge, each with an address of its own, for running the
# cluster as it runs on several machines (docs/OPERATIONS.md, "Hosts on one machine"). Needs root, `ip` and `nft`.
#   infra/hosts.sh up NAME HOST...       make the hosts NAME-HOST (and the switch NAME-switch); prints "HOST ADDRESS" lines
#   infra/hosts.sh address NAME HOST     a host's address
#   infra/hosts.sh exec NAME HOST CMD…   run CMD inside HOST's namespace (its network only: its own address and loopback)
#   infra/hosts.sh cut NAME HOST [PEER…] drop every packet between HOST and each PEER (every other host when none), both ways
#   infra/hosts.sh heal NAME HOST [PEER…] undo cut (every PEER when none)
#   infra/hosts.sh down NAME             kill every process inside NAME's hosts and remove them (idempotent)
#   infra/hosts.sh reap                  remove every harness whose owner process is gone (up does this first)
#   infra/hosts.sh check                 exit 0 when hosts can be made here, else say why and exit 3
# Addresses are 10.88.0.(10 + i) for the i-th HOST of `up`: every harness has its own bridge in its own namespace, so
# several harnesses (and the machine's own network) never see each other's addresses. A cut drops packets (a black hole,
# as a dead link or a firewall does), so connections time out instead of being refused. The owner (--owner PID, default
# the caller) is recorded: when it dies without `down`, the next `up` or `reap` removes what it left.
set -euo pipefail
state_root=${PUNKGRID_HOSTS_STATE:-/run/punkgrid-hosts}
subnet=10.88.0

die() { echo "hosts: $*" >&2; exit 2; }

check() {
  [[ $(id -u) -eq 0 ]] || { echo "hosts: needs root to make network namespaces (running as $(id -un))" >&2; return 3; }
  command -v ip >/dev/null || { echo "hosts: the ip command (iproute2) is missing" >&2; return 3; }
  command -v nft >/dev/null || { echo "hosts: the nft command is missing (apt-get install nftables)" >&2; return 3; }
  local probe="pgh-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "hosts: this kernel or container refuses new network namespaces" >&2
    return 3
  fi
  ip netns delete "$probe"
}

valid_name() { [[ $1 =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "'$1' is not a valid name: 1-10 lower-case letters and digits, starting with a letter"; }

hosts_of() { [[ -f $state_root/$1/hosts ]] && cat "$state_root/$1/hosts"; }

address_of() {
  local name=$1 host=$2 line
  line=$(hosts_of "$name" | awk -v h="$host" '$1 == h {print $2}')
  [[ -n $line ]] || die "no host '$host' in harness '$name' (hosts: $(hosts_of "$name" | awk '{print $1}' | paste -sd, -))"
  echo "$line"
}

# Whether process $1 still runs (a zombie, dead but not yet reaped by its parent, does not).
alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

down() {
  local name=$1 ns pids=() pid
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$name-" || true); do
    # Every process inside goes first (postgres, silos, the CLI): a namespace is gone only when nothing holds it.
    pids+=($(ip netns pids "$ns" 2>/dev/null || true))
  done
  if ((${#pids[@]} > 0)); then
    kill -9 "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      local left=0
      for pid in "${pids[@]}"; do alive "$pid" && left=1; done
      ((left == 0)) && break
      sleep 0.1
    done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$name-" || true); do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      ip netns delete "$ns" 2>/dev/null && break
      sleep 0.2
    done
  done
  rm -rf "${state_root:?}/$name"
}

reap() {
  [[ -d $state_root ]] || return 0
  local dir name owner
  for dir in "$state_root"/*/; do
    [[ -d $dir ]] || continue
    name=$(basename "$dir")
    owner=$(cat "$dir/owner" 2>/dev/null || echo 0)
    if ! kill -0 "$owner" 2>/dev/null; then
      echo "hosts: removing harness '$name' (its owner $owner is gone)" >&2
      down "$name"
    fi
  done
}

up() {
  local owner=$PPID name
  if [[ ${1:-} == --owner ]]; then owner=${2:?--owner needs a process id}; shift 2; fi
  name=${1:?usage: hosts.sh up [--owner PID] NAME HOST...}; shift
  valid_name "$name"
  (($# > 0)) || die "up needs at least one host"
  (($# <= 40)) || die "at most 40 hosts"
  local seen=" " host
  for host in "$@"; do
    valid_name "$host"
    [[ $seen == *" $host "* ]] && die "host '$host' given twice"
    [[ $host == switch ]] && die "'switch' is the harness's own namespace; name the host otherwise"
    seen+="$host "
  done
  check || exit 3
  reap
  [[ -d $state_root/$name ]] && die "harness '$name' exists (hosts.sh down $name first)"
  mkdir -p "$state_root/$name"
  echo "$owner" > "$state_root/$name/owner"
  : > "$state_root/$name/hosts"
  trap 'down "$name"' ERR
  ip netns add "$name-switch"
  ip -n "$name-switch" link add br0 type bridge
  ip -n "$name-switch" link set br0 up
  local i=10
  for host in "$@"; do
    local ns="$name-$host" address="$subnet.$i"
    ip netns add "$ns"
    # The veth's switch end is made in the switch's namespace, its host end moved into the host's namespace as eth0.
    ip -n "$name-switch" link add name "$host" type veth peer name eth0 netns "$ns"
    ip -n "$name-switch" link set dev "$host" master br0 up
    ip -n "$ns" addr add "$address/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip netns exec "$ns" nft -f - <<NFT
table inet punkgrid {
  set cut { type ipv4_addr; }
  chain input { type filter hook input priority 0; policy accept; ip saddr @cut drop; }
  chain output { type filter hook output priority 0; policy accept; ip daddr @cut drop; }
}
NFT
    echo "$host $address" >> "$state_root/$name/hosts"
    echo "$host $address"
    i=$((i + 1))
  done
  trap - ERR
}

# cut|heal NAME HOST [PEER...]: both directions, in both hosts' filters.
filter() {
  local verb=$1 name=${2:?usage: hosts.sh $1 NAME HOST [PEER...]} host=${3:?usage: hosts.sh $1 NAME HOST [PEER...]}
  shift 3
  local peers=("$@") self peer other
  self=$(address_of "$name" "$host")
  if ((${#peers[@]} == 0)); then
    mapfile -t peers < <(hosts_of "$name" | awk -v h="$host" '$1 != h {print $1}')
  fi
  for peer in "${peers[@]}"; do
    other=$(address_of "$name" "$peer")
    if [[ $verb == cut ]]; then
      ip netns exec "$name-$host" nft add element inet punkgrid cut "{ $other }"
      ip netns exec "$name-$peer" nft add element inet punkgrid cut "{ $self }"
    else
      ip netns exec "$name-$host" nft delete element inet punkgrid cut "{ $other }" 2>/dev/null || true
      ip netns exec "$name-$peer" nft delete element inet punkgrid cut "{ $self }" 2>/dev/null || true
    fi
  done
}

verb=${1:-}
shift || true
case "$verb" in
  up) up "$@" ;;
  down) down "${1:?usage: hosts.sh down NAME}" ;;
  reap) reap ;;
  check) check ;;
  address) address_of "${1:?usage: hosts.sh address NAME HOST}" "${2:?usage: hosts.sh address NAME HOST}" ;;
  exec)
    name=${1:?usage: hosts.sh exec NAME HOST CMD...} host=${2:?usage: hosts.sh exec NAME HOST CMD...}
    shift 2
    address_of "$name" "$host" >/dev/null
    exec ip netns exec "$name-$host" "$@"
    ;;
  cut | heal) filter "$verb" "$@" ;;
  *) echo "hosts: unknown verb '$verb'; allowed: up, address, exec, cut, heal, down, reap, check" >&2; exit 2 ;;
esac
