#!/usr/bin/env bash
# What an epoch of the PunkVAE costs with the seed profile's settings and with other settings (by default the `tuned`
# profile: what the VAE search found, trial 3 of `bench/search.sh vae`), measured in one run: the two sides alternate ROUNDS times (the order
# flipping each round), one training process at a time with the machine to itself, each for EPOCHS epochs of the seed's
# data. An epoch's seconds are the trainer's own `epoch_seconds` (the training pass and the held-out losses); the
# Punk-FID judge is off (judge_epochs=0): scoring 500 samples costs the same whatever the settings.
# Usage: bench/vae-cost.sh [--rounds N] [--epochs E] [--profile P] [--set key=value]...
#        (default 2 rounds of 1 epoch; the other side is --profile P with the --set overrides: tuned when neither is
#        given, seed when only --set is; PUNKGRID_DATA as for every command)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rounds=2 epochs=1 profile="" other=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --set) other+=(--set "$2"); shift 2 ;;
    *) echo "vae-cost: unknown argument '$1'; allowed: --rounds N, --epochs E, --profile P, --set key=value" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "vae-cost: --rounds takes a positive whole number, got '$rounds'" >&2; exit 2; }
[[ $epochs =~ ^[1-9][0-9]*$ ]] || { echo "vae-cost: --epochs takes a positive whole number, got '$epochs'" >&2; exit 2; }
[[ -n $profile ]] || { [[ ${#other[@]} -gt 0 ]] && profile=seed || profile=tuned; }
label=$(printf '%s ' "$profile" "${other[@]}" | sed 's/--set //g; s/ $//')
work=$(mktemp -d /tmp/punkgrid-vaecost-XXXXXX)
trap 'rm -rf "$work"' EXIT

"$root/punkgrid" silo --help >/dev/null   # builds (Release) once, if sources changed
dll=$root/silo/bin/Release/net10.0/PunkGrid.Silo.dll

# One side, one round: EPOCHS epochs of the side's profile and overrides; its epoch_seconds go to $work/NAME.
train() {
  local name=$1 round=$2; shift 2
  echo "round $round: $name…" >&2
  dotnet "$dll" train vae --epochs "$epochs" --set judge_epochs=0 "$@" --out "$work/out-$name-$round" --json \
    >"$work/$name-$round.json" 2>"$work/$name-$round.log" || { tail -20 "$work/$name-$round.log" >&2; exit 1; }
  awk -F, -v r="$round" '$3 == "epoch_seconds" { print r "," $1 "," $4 }' "$work/out-$name-$round/metrics.csv" >>"$work/$name"
}
for round in $(seq 1 "$rounds"); do
  if (( round % 2 == 1 )); then train seed "$round" --profile seed; train other "$round" --profile "$profile" "${other[@]}"
  else train other "$round" --profile "$profile" "${other[@]}"; train seed "$round" --profile seed; fi
done

echo "| settings | epochs measured | seconds an epoch (each) | mean | ratio to seed |"
echo "| --- | ---: | --- | ---: | ---: |"
seed_mean=$(awk -F, '{ s += $3; n++ } END { printf "%.1f", s / n }' "$work/seed")
for name in seed other; do
  awk -F, -v label="$([[ $name == seed ]] && echo seed || echo "$label")" -v base="$seed_mean" '
    { s += $3; n++; each = each (n > 1 ? ", " : "") sprintf("%.0f", $3) }
    END { printf "| %s | %d | %s | %.1f | %.2f |\n", label, n, each, s / n, (s / n) / base }' "$work/$name"
done
