#!/usr/bin/env bash
# The images of a sweep's trait errors for docs/RESULTS.md: for each trait given, the job's false-negatives.png and
# false-positives.png (the held-out punks its model misses / calls wrongly at its threshold, most confidently wrong
# first) saved as OUT_DIR/RUN-TRAIT-false-negatives.png etc., and the counts and ids from its eval.json printed.
# Usage: docs/scripts/trait-errors.sh RUN OUT_DIR TRAIT [TRAIT...]    (the cluster as for every `punkgrid` command)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[[ $# -ge 3 ]] || { echo "usage: docs/scripts/trait-errors.sh RUN OUT_DIR TRAIT [TRAIT...]" >&2; exit 2; }
run=$1 out=$2; shift 2
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for trait in "$@"; do
  slug=$(tr '[:upper:] _' '[:lower:]--' <<<"$trait")
  "$root/punkgrid" artifacts "$run.$slug" --out "$work/$slug" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  for kind in false-negatives false-positives; do
    if [[ -f $work/$slug/$kind.png ]]; then cp "$work/$slug/$kind.png" "$out/$run-$slug-$kind.png"; fi
  done
  python3 - "$trait" "$work/$slug/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]}: F1 {e['f1']:.4f}, threshold {e['threshold']:.3f}, {e['false_negatives']} missed of {e['test_positives']}"
      f" {e.get('false_negative_ids', [])}, {e['false_positives']} false calls {e.get('false_positive_ids', [])}")
PY
done
