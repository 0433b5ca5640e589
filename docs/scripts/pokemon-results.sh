#!/usr/bin/env bash
# The Pokémon tables of docs/RESULTS.md: a backbone on the duplicate-aware split vs a naive image-by-image split (same seed,
# same fractions), with the seed profile's settings and EPOCHS epochs.
# Usage: docs/scripts/pokemon-results.sh [EPOCHS] [OUT.jsonl] [BACKBONE] [IMAGE_SIZE] [SPLITS]
#   BACKBONE: mobilenetv3-small (default: from scratch, 96x96) or resnet18-imagenet (ImageNet weights, a classifier on
#   its frozen features; IMAGE_SIZE 224 by default). SPLITS: "aware naive" (default) or one of them.
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs=${1:-25}
out=${2:-.punkgrid/results/pokemon.jsonl}
backbone=${3:-mobilenetv3-small}
size=${4:-$([[ $backbone == resnet18-imagenet ]] && echo 224 || echo 96)}
splits=${5:-aware naive}
mkdir -p "$(dirname "$out")"
: > "$out"
dotnet build silo -c Release -v quiet -nologo >/dev/null
for split in $splits; do
  dotnet silo/bin/Release/net10.0/PunkGrid.Silo.dll train pokemon --profile seed --epochs "$epochs" --set split=$split \
    --set backbone="$backbone" --set image_size="$size" --json --out ".punkgrid/results/runs/pokemon-$backbone-$split" 2>/dev/null >> "$out"
  echo "done: $backbone $split" >&2
done
python3 - "$out" <<'PY'
import json, sys
print("| backbone | split | input | test top-1 | test top-5 | best validation top-1 (epoch) | near-duplicate pairs across splits | classes | train / val / test | seconds |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
for line in open(sys.argv[1]):
    r = json.loads(line); d = r["duplicates"]
    backbone = r.get("backbone", "mobilenetv3-small") + ("" if r.get("train_backbone", True) else " (frozen)")
    print(f"| {backbone} | {d['split_used']} | {r['image_size']} | {r['top1']:.4f} | {r['top5']:.4f} | {r['best_validation_accuracy']:.4f} ({r['best_epoch']}) | "
          f"{d['cross_split_pairs']} of {d['near_duplicate_pairs']} | {r['classes']} | {r['train_count']} / {r['validation_count']} / {r['test_count']} | {r['seconds']:.0f} |")
PY
