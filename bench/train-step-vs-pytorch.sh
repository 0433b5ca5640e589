#!/usr/bin/env bash
# One training step of each PunkGrid model: TorchSharp (bench/TrainStepBench, the classes the trainers use) against
# the same architectures in PyTorch (bench/train_step_pytorch.py), alternating the two ROUNDS times in one run, and a
# markdown table of medians and ratios. Parameter counts must match, or the comparison is refused.
# Usage: bench/train-step-vs-pytorch.sh [--threads N] [--rounds N] [--steps N] [--repeats N] [--models trait,vae,...]
# Each round: per model one warm-up step, then REPEATS timings of STEPS steps; the table gives medians over all timings.
# Needs the PyTorch reference: apt-get install python3-torch (run with /usr/bin/python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=$(nproc) rounds=2 steps=3 repeats=2 models=trait,vae,vae-torch-dropout,gan,cgan,pokemon
while [[ $# -gt 0 ]]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    *) echo "unknown option '$1'; allowed: --threads N --rounds N --steps N --repeats N --models LIST" >&2; exit 2 ;;
  esac
done
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "the PyTorch reference needs python3-torch: apt-get install python3-torch" >&2
  exit 2
fi
# The PyTorch side has one VAE: both TorchSharp VAE variants are compared with it.
py_models=$(tr ',' '\n' <<<"$models" | sed 's/^vae-torch-dropout$/vae/' | awk '!seen[$0]++' | paste -sd,)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet build "$root/bench/TrainStepBench" -c Release -nologo -v q -o "$out/bin" >&2
for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds" >&2
  # Alternate which side goes first, so drift in the machine's load does not favour one.
  if ((r % 2)); then order="cs py"; else order="py cs"; fi
  for side in $order; do
    if [[ $side == cs ]]; then
      dotnet "$out/bin/PunkGrid.TrainStepBench.dll" --models "$models" --steps "$steps" --warmup 1 --repeats "$repeats" --threads "$threads" >>"$out/results.jsonl"
    else
      /usr/bin/python3 "$root/bench/train_step_pytorch.py" --models "$py_models" --steps "$steps" --warmup 1 --repeats "$repeats" --threads "$threads" >>"$out/results.jsonl"
    fi
  done
done
/usr/bin/python3 - "$out/results.jsonl" "$models" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
models = sys.argv[2].split(",")
def times(impl, model):
    picked = [r for r in rows if r["impl"] == impl and r["model"] == model]
    return picked, [t for r in picked for t in r["ms_per_step"]]
print(f"| model | parameters | TorchSharp ms/step | PyTorch ms/step | TorchSharp / PyTorch |")
print(f"| --- | ---: | ---: | ---: | ---: |")
failed = False
for model in models:
    cs, cs_t = times("torchsharp", model)
    py, py_t = times("pytorch", "vae" if model.startswith("vae") else model)
    if cs[0]["parameters"] != py[0]["parameters"]:
        print(f"{model}: parameter counts differ (TorchSharp {cs[0]['parameters']}, PyTorch {py[0]['parameters']}): not the same architecture", file=sys.stderr)
        failed = True
        continue
    a, b = statistics.median(cs_t), statistics.median(py_t)
    print(f"| {model} | {cs[0]['parameters']:,} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
sys.exit(1 if failed else 0)
PY
