#!/usr/bin/env bash
# The per-trait tables of docs/RESULTS.md from finished sweeps on the cluster: `punkgrid results RUN --json` for each run
# given, one row per trait (accuracy, precision, recall, F1, test positives, seconds), the runs side by side when
# there are several (F1 of each and the change from the first), then a summary line per run: traits scored, mean F1,
# traits at F1 ≥ THRESHOLD, the lowest five.
# Usage: docs/scripts/sweep-table.sh [--threshold 0.95] RUN [RUN...]    (the cluster as for every `punkgrid` command)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
threshold=0.95
if [[ ${1:-} == --threshold ]]; then threshold=$2; shift 2; fi
[[ $# -ge 1 ]] || { echo "usage: docs/scripts/sweep-table.sh [--threshold F1] RUN [RUN...]" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for run in "$@"; do
  "$root/punkgrid" results "$run" --json >"$work/$run.json"
done
python3 - "$threshold" "$work" "$@" <<'PY'
import json, os, sys
threshold, work, runs = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = {run: {r["trait"]: r for r in json.load(open(os.path.join(work, run + ".json"))) if r.get("f1") is not None} for run in runs}
traits = sorted(set().union(*[set(r) for r in results.values()]), key=str.lower)
fmt = lambda v, d=4: "" if v is None else f"{v:.{d}f}"
if len(runs) == 1:
    run = runs[0]
    print("| trait | accuracy | precision | recall | F1 | test positives | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in traits:
        r = results[run][t]
        print(f"| {t} | {fmt(r['accuracy'])} | {fmt(r['precision'])} | {fmt(r['recall'])} | {fmt(r['f1'])} | {r['test_positives']} | {fmt(r['seconds'], 1)} |")
else:
    first = runs[0]
    head = ["trait", "test positives"]
    for run in runs:
        head += [f"{run} P", f"{run} R", f"{run} F1"]
    head += [f"ΔF1 {run}" for run in runs[1:]]
    print("| " + " | ".join(head) + " |")
    print("| --- | " + " | ".join("---:" for _ in head[1:]) + " |")
    for t in traits:
        rows = [results[run].get(t) for run in runs]
        positives = next((r["test_positives"] for r in rows if r), "")
        cells = [t, str(positives)]
        for r in rows:
            cells += [fmt(r and r["precision"]), fmt(r and r["recall"]), fmt(r and r["f1"])]
        base = rows[0]
        for r in rows[1:]:
            cells.append(f"{r['f1'] - base['f1']:+.4f}" if r and base else "")
        print("| " + " | ".join(cells) + " |")
print()
for run in runs:
    rows = list(results[run].values())
    mean = sum(r["f1"] for r in rows) / max(len(rows), 1)
    passing = sum(r["f1"] >= threshold for r in rows)
    low = ", ".join(f"{r['trait']} {r['f1']:.3f}" for r in sorted(rows, key=lambda r: r["f1"])[:5])
    print(f"- `{run}`: {len(rows)} traits, mean F1 {mean:.4f}, {passing} at F1 ≥ {threshold}; lowest: {low}")
PY
