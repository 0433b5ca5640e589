#!/usr/bin/env bash
# The Pokémon table of docs/RESULTS.md: MobileNetV3-Small from scratch on the duplicate-aware split vs a naive
# image-by-image split (same seed, same fractions), with the seed profile's settings and EPOCHS epochs.
# Usage: docs/scripts/pokemon-results.sh [EPOCHS] [OUT.jsonl]
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs=${1:-25}
out=${2:-.punkgrid/results/pokemon.jsonl}
mkdir -p "$(dirname "$out")"
: > "$out"
dotnet build silo -c Release -v quiet -nologo >/dev/null
for split in aware naive; do
  dotnet silo/bin/Release/net10.0/PunkGrid.Silo.dll train pokemon --profile seed --epochs "$epochs" --set split=$split --json \
    --out ".punkgrid/results/runs/pokemon-$split" 2>/dev/null >> "$out"
  echo "done: $split" >&2
done
python3 - "$out" <<'PY'
import json, sys
print("| split | test top-1 | test top-5 | best validation top-1 (epoch) | near-duplicate pairs across splits | classes | train / val / test |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
for line in open(sys.argv[1]):
    r = json.loads(line); d = r["duplicates"]
    print(f"| {d['split_used']} | {r['top1']:.4f} | {r['top5']:.4f} | {r['best_validation_accuracy']:.4f} ({r['best_epoch']}) | "
          f"{d['cross_split_pairs']} of {d['near_duplicate_pairs']} | {r['classes']} | {r['train_count']} / {r['validation_count']} / {r['test_count']} |")
PY
