#!/usr/bin/env bash
# The per-epoch tables of docs/RESULTS.md for the generative runs, read from a run's metrics.csv (the output folder
# of `punkgrid silo train vae|gan ... --out DIR`; the runs themselves are the commands in RESULTS.md).
# Usage: docs/scripts/generative-tables.sh vae|gan DIR [FROM_EPOCH] [EVERY]  (EVERY: one row per that many epochs, and the last)
set -euo pipefail
kind=${1:?usage: generative-tables.sh vae|gan DIR}
[[ $kind == vae || $kind == gan ]] || { echo "unknown kind '$kind'; allowed: vae, gan" >&2; exit 2; }
metrics=${2:?usage: generative-tables.sh vae|gan DIR}/metrics.csv
[[ -f $metrics ]] || { echo "no metrics.csv in ${2}" >&2; exit 2; }
from=${3:-1}
[[ $from =~ ^[1-9][0-9]*$ ]] || { echo "FROM_EPOCH must be a positive whole number, not '$from'" >&2; exit 2; }
every=${4:-1}
[[ $every =~ ^[1-9][0-9]*$ ]] || { echo "EVERY must be a positive whole number, not '$every'" >&2; exit 2; }
case $kind in
  vae)
    echo "| epoch | test MSE | per-pixel MSE | test KL | test loss (MSE + 3.4·KL) | Punk-FID (prior samples) |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F, -v from="$from" -v every="$every" '$3=="test_mse"{m[$1]=$4} $3=="test_kl"{k[$1]=$4} $3=="test_loss"{l[$1]=$4} $3=="punk_fid"{f[$1]=$4; n=$1}
      END{for (e = from; e <= n; e++) if ((e in f) && ((e - from) % every == 0 || e == n)) printf "| %d | %.1f | %.4f | %.2f | %.1f | %.0f |\n", e, m[e], m[e] / 49152, k[e], l[e], f[e]}' "$metrics"
    ;;
  gan)
    echo "| epoch | D loss | G loss | Punk-FID (500 samples) | sample spread | trait agreement | asked-trait recall | seconds |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F, -v from="$from" -v every="$every" '$3=="epoch_d_loss"{d[$1]=$4} $3=="epoch_g_loss"{g[$1]=$4} $3=="epoch_seconds"{s[$1]=$4}
      $3=="punk_fid"{f[$1]=$4; n=$1} $3=="trait_agreement"{a[$1]=$4} $3=="sample_spread"{v[$1]=$4} $3=="asked_trait_recall"{r[$1]=$4}
      END{for (e = from; e <= n; e++) if ((e in f) && ((e - from) % every == 0 || e == n)) printf "| %d | %.3f | %.3f | %.0f | %s | %s | %s | %.0f |\n", e, d[e], g[e], f[e],
        (e in v) ? sprintf("%.2f", v[e]) : "–", (e in a) ? sprintf("%.3f", a[e]) : "–", (e in r) ? sprintf("%.3f", r[e]) : "–", s[e]}' "$metrics"
    ;;
esac
