#!/usr/bin/env bash
# What tuning glibc's malloc for libtorch does to training (training/Native/NativeMemoryTuning.cs): each kind's short
# seed-shaped run through `silo train`, with the tuning (the default: the silo executes itself again with GLIBC_TUNABLES)
# and without it (PUNKGRID_MALLOC_TUNING=off), alternating in each round (the order flipping each round). Prints a
# Markdown table: per kind, the median epoch seconds (metrics.csv's epoch_seconds: training steps and the held-out
# evaluation) each way, the ratio, and the share of CPU time spent in the kernel.
# Usage: bench/native-memory.sh [--rounds N] [--threads N] [--kinds vae,gan,trait]    (default: 2 rounds, 2 threads,
#        all three; PUNKGRID_DATA as for every command; builds silo Release first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rounds=2 threads=2 kinds=vae,gan,trait
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --kinds) kinds=$2; shift 2 ;;
    *) echo "native-memory: unknown option '$1'; allowed: --rounds N, --threads N, --kinds vae,gan,trait" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "native-memory: --rounds must be a positive whole number, not '$rounds'" >&2; exit 2; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "native-memory: --threads must be a positive whole number, not '$threads'" >&2; exit 2; }
IFS=, read -r -a kind_list <<<"$kinds"
for kind in "${kind_list[@]}"; do
  [[ $kind == vae || $kind == gan || $kind == trait ]] || { echo "native-memory: unknown kind '$kind'; allowed: vae, gan, trait" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "native-memory: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
work=$(mktemp -d /tmp/punkgrid-native-memory-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "building silo (Release)…" >&2
dotnet build "$root/silo/PunkGrid.Silo.csproj" -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
silo=$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll

# The seed profiles' shapes on a few hundred punks, one epoch, no judge: the step is what is measured.
arguments() {
  case $1 in
    vae) echo "train vae --profile seed --set epochs=1 --set train_limit=512 --set test_limit=128 --set judge_epochs=0" ;;
    gan) echo "train gan --profile seed --set epochs=1 --set train_limit=512 --set judge_epochs=0" ;;
    trait) echo "train trait Earring --profile seed --color rgb --epochs 1" ;;
  esac
}

# One run: prints "epoch_seconds user_seconds system_seconds".
run_one() {
  local kind=$1 mode=$2 out=$work/$1-$2-$3
  local switch=on
  [[ $mode == default ]] && switch=off
  # shellcheck disable=SC2046
  /usr/bin/time -f "%U %S" -o "$out.time" env PUNKGRID_MALLOC_TUNING=$switch OMP_NUM_THREADS="$threads" \
    dotnet "$silo" $(arguments "$kind") --out "$out" >"$out.log" 2>&1 \
    || { echo "native-memory: $kind ($mode) failed; its log:" >&2; tail -20 "$out.log" >&2; exit 1; }
  local seconds
  seconds=$(awk -F, '$3=="epoch_seconds"{s=$4} END{print s}' "$out/metrics.csv")
  echo "$seconds $(cat "$out.time")"
}

declare -A results
for ((r = 1; r <= rounds; r++)); do
  for kind in "${kind_list[@]}"; do
    modes=(default tuned)
    ((r % 2 == 0)) && modes=(tuned default)
    for mode in "${modes[@]}"; do
      echo "round $r: $kind, $mode malloc…" >&2
      results[$kind,$mode]+="$(run_one "$kind" "$mode" "$r");"
    done
  done
done

# Both read one kind's runs, "epoch user system;" each: the median epoch seconds, and system / (user + system) CPU time.
median() { tr ';' '\n' | awk 'NF{print $1}' | sort -n | awk '{v[NR]=$1} END{print (NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2)}'; }
kernel_share() { tr ';' '\n' | awk 'NF{u+=$2; s+=$3} END{printf "%.0f %%", 100 * s / (u + s)}'; }
echo "| kind | epoch s, glibc defaults | epoch s, tuned | defaults / tuned | kernel share of CPU, defaults | kernel share, tuned |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for kind in "${kind_list[@]}"; do
  d=$(median <<<"${results[$kind,default]}")
  t=$(median <<<"${results[$kind,tuned]}")
  printf "| %s | %.1f | %.1f | %.2f | %s | %s |\n" "$kind" "$d" "$t" "$(echo "$d / $t" | bc -l)" \
    "$(kernel_share <<<"${results[$kind,default]}")" "$(kernel_share <<<"${results[$kind,tuned]}")"
done
echo "($rounds rounds, $threads torch threads, $(nproc) cores; $(date -u +%F))"
