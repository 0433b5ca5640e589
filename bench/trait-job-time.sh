#!/usr/bin/env bash
# Where a seed trait job's time goes, and what a change did to it, in one run. Each REF (a commit, branch or tag) is
# built in its own worktree; then the rounds alternate the refs (the order flipping each round), and in each round two
# seed jobs run at once with one torch thread each — how a 2-core machine runs a sweep (two 1-slot silos, or one with
# 2 slots). Prints a Markdown table per ref: the pair's wall time, each job's seconds and F1, and, where the ref's
# eval.json reports them, the phases (data, train, monitor, evaluate, persist).
# Usage: bench/trait-job-time.sh [--rounds N] [--color gray|rgb] [--traits A,B] REF...      (default: 2 rounds, rgb,
#        Earring,Male, REF = HEAD; PUNKGRID_DATA as for every command)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rounds=2 color=rgb traits=Earring,Male refs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --color) color=$2; shift 2 ;;
    --traits) traits=$2; shift 2 ;;
    -*) echo "trait-job-time: unknown option '$1'; allowed: --rounds N, --color gray|rgb, --traits A,B" >&2; exit 2 ;;
    *) refs+=("$1"); shift ;;
  esac
done
[[ ${#refs[@]} -gt 0 ]] || refs=(HEAD)
IFS=, read -r -a pair <<<"$traits"
[[ ${#pair[@]} -eq 2 ]] || { echo "trait-job-time: --traits takes exactly two traits, got '$traits'" >&2; exit 2; }
work=$(mktemp -d /tmp/punkgrid-jobtime-XXXXXX)
trap 'for d in "$work"/tree-*; do git -C "$root" worktree remove --force "$d" >/dev/null 2>&1 || true; done; rm -rf "$work"' EXIT

declare -A dll
for i in "${!refs[@]}"; do
  ref=${refs[$i]}
  commit=$(git -C "$root" rev-parse --short "$ref^{commit}") || { echo "trait-job-time: '$ref' is not a commit" >&2; exit 2; }
  tree=$work/tree-$i
  git -C "$root" worktree add --detach -q "$tree" "$commit"
  echo "building $ref ($commit)…" >&2
  dotnet build "$tree/silo/PunkGrid.Silo.csproj" -c Release -nologo -v quiet -tl:off -clp:ErrorsOnly >&2
  dll[$i]=$tree/silo/bin/Release/net10.0/PunkGrid.Silo.dll
done

# One round of one ref: both traits at once, one torch thread each; eval.json of each job kept under $work/out.
run_pair() {
  local i=$1 round=$2 start
  start=$(date +%s%N)
  for t in "${pair[@]}"; do
    OMP_NUM_THREADS=1 dotnet "${dll[$i]}" train trait "$t" --profile seed --color "$color" --json \
      --out "$work/out/$i/$round/$t" >"$work/out/$i/$round/$t.json" 2>"$work/out/$i/$round/$t.log" &
  done
  wait
  echo $(( ($(date +%s%N) - start) / 1000000 )) >"$work/out/$i/$round/wall"   # ms
}
for round in $(seq 1 "$rounds"); do
  order=("${!refs[@]}")
  (( round % 2 == 0 )) && order=($(printf '%s\n' "${order[@]}" | tac))
  for i in "${order[@]}"; do
    mkdir -p "$work/out/$i/$round"
    echo "round $round: ${refs[$i]}" >&2
    run_pair "$i" "$round"
  done
done

python3 - "$work/out" "$rounds" "${refs[@]}" <<'PY'
import json, os, statistics, sys
out, rounds, refs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
phases = ["data", "train", "monitor", "evaluate", "persist"]
print("| ref | pair wall s (mean) | job s (mean) | " + " | ".join(f"{p} s" for p in phases) + " | F1 per trait |")
print("| --- | ---: | ---: | " + " | ".join("---:" for _ in phases) + " | --- |")
walls = {}
for i, ref in enumerate(refs):
    jobs, wall, f1 = [], [], {}
    for r in range(1, rounds + 1):
        folder = os.path.join(out, str(i), str(r))
        wall.append(float(open(os.path.join(folder, "wall")).read()) / 1000)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                job = json.load(open(os.path.join(folder, name)))
                jobs.append(job)
                f1.setdefault(job["trait"], set()).add(round(job["f1"], 4))
    walls[ref] = statistics.mean(wall)
    cells = []
    for p in phases:
        values = [j["phases"][p] for j in jobs if "phases" in j]
        cells.append(f"{statistics.mean(values):.1f}" if values else "—")
    f1s = ", ".join(f"{t} {'/'.join(str(v) for v in sorted(vs))}" for t, vs in sorted(f1.items()))
    print(f"| {ref} | {walls[ref]:.1f} | {statistics.mean(j['seconds'] for j in jobs):.1f} | " + " | ".join(cells) + f" | {f1s} |")
if len(refs) > 1:
    print()
    base = refs[0]
    for ref in refs[1:]:
        print(f"{ref} / {base}, pair wall time: {walls[ref] / walls[base]:.3f}")
PY
