#!/usr/bin/env bash
# The Pokémon tables of docs/RESULTS.md: a backbone on the duplicate-aware split vs a naive image-by-image split (same seed,
# same fractions), with the seed profile's settings and EPOCHS epochs.
# Usage: docs/scripts/pokemon-results.sh [EPOCHS] [OUT.jsonl] [BACKBONE] [IMAGE_SIZE] [SPLITS] [PROFILE] [FINE_TUNE]
#   BACKBONE: mobilenetv3-small (default: from scratch, 96x96) or resnet18-imagenet (ImageNet weights; IMAGE_SIZE 224 by
#   default; FINE_TUNE none (default: a classifier on its frozen features), last-stage or all). SPLITS: "aware naive"
#   (default) or one of them. PROFILE: seed (default) or tuned (the last stage fine-tuned).
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs=${1:-25}
out=${2:-.punkgrid/results/pokemon.jsonl}
backbone=${3:-mobilenetv3-small}
size=${4:-$([[ $backbone == resnet18-imagenet ]] && echo 224 || echo 96)}
splits=${5:-aware naive}
profile=${6:-seed}
fine_tune=${7:-$([[ $backbone == resnet18-imagenet && $profile == seed ]] && echo none || echo "")}
mkdir -p "$(dirname "$out")"
: > "$out"
dotnet build silo -c Release -v quiet -nologo >/dev/null
for split in $splits; do
  dotnet silo/bin/Release/net10.0/PunkGrid.Silo.dll train pokemon --profile "$profile" --epochs "$epochs" --set split=$split \
    --set backbone="$backbone" --set image_size="$size" ${fine_tune:+--set fine_tune="$fine_tune"} --json --out ".punkgrid/results/runs/pokemon-$profile-$backbone-$split" 2>/dev/null >> "$out"
  echo "done: $backbone $split" >&2
done
dotnet silo/bin/Release/net10.0/PunkGrid.Silo.dll report pokemon "$out"   # the Markdown table
