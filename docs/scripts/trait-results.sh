#!/usr/bin/env bash
# Reproduces the trait table of docs/RESULTS.md: the seed profile for the 5 types and 10 colour-heavy
# accessories, grayscale (the seed) vs rgb (--color rgb), each on the held-out 20% of the punks.
# Usage: docs/scripts/trait-results.sh [OUT.jsonl]   (30 runs of about a minute each on 2 idle CPU cores)
# Runs already in OUT.jsonl are kept, so an interrupted run continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.punkgrid/results/trait-seed.jsonl}
mkdir -p "$(dirname "$out")"
touch "$out"
dotnet build silo -c Release -v quiet -nologo >/dev/null
traits=("Male" "Female" "Zombie" "Ape" "Alien"
        "Blue Eye Shadow" "Green Eye Shadow" "Purple Eye Shadow" "Hot Lipstick" "Purple Lipstick"
        "Black Lipstick" "Red Mohawk" "Blonde Bob" "Clown Hair Green" "Purple Hair")
for trait in "${traits[@]}"; do
  for color in gray rgb; do
    if grep -q "\"trait\":\"$trait\",\"color\":\"$color\"" "$out"; then continue; fi
    dotnet silo/bin/Release/net10.0/PunkGrid.Silo.dll train trait "$trait" --profile seed --color "$color" --json \
      --out ".punkgrid/results/runs/$(echo "$trait" | tr ' A-Z' '-a-z')-$color" 2>/dev/null >> "$out"
    echo "done: $trait $color" >&2
  done
done
dotnet silo/bin/Release/net10.0/PunkGrid.Silo.dll report traits "$out"   # the Markdown table
