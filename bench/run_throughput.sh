#!/bin/sh
# The figures of bench/README.md "Throughput at the floor" (issue 24), in one serial run.
# Side-by-side ratios come from bench/ab_pairs.py (A and B alternate; ratio per pair). Usage:
#   sh bench/run_throughput.sh OUT_DIR [PYTHON]
# OUT_DIR gets one file per measurement; the 1000 JPEGs are made in OUT_DIR/jpegs at run time.
set -u
OUT=${1:?output folder}
PY=${2:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
cd "$ROOT"
export PYTHONPATH="$ROOT"
M=EfficientNet_Lite0_fp32
J="$OUT/jpegs"
[ -f "$J/val.txt" ] || "$PY" bench/make_jpegs.py "$J" --count 1000 > /dev/null
note() { { echo "=== $1"; date -u; uptime; lscpu | grep 'Model name'; } >> "$OUT/$2"; }

note "bench model-only vs bare ORT loop (A = bench, B = bare loop)" bench_vs_bare.txt
"$PY" bench/ab_pairs.py -n 5 --log "$OUT/bench_vs_bare.log" \
  --a "$PY -m rdk_classifier bench --backend cpu --model $M --frames 100 --json" \
  --b "$PY bench/bare_ort_loop.py --frames 100" >> "$OUT/bench_vs_bare.txt" 2>&1

note "bench model-only vs bare loop, interleaved in one process" model_only.txt
"$PY" bench/bench_model_only.py --rounds 20 --per 10 > "$OUT/model_only.json" 2>&1

note "bench --threads 2 vs 1 (FPS in the JSON lines)" bench_threads.txt
for t in 1 2 1 2 1 2; do
  "$PY" -m rdk_classifier bench --backend cpu --model $M --frames 100 --threads $t --json \
    >> "$OUT/bench_threads.jsonl" 2>&1
done

note "overhead beyond inference vs naive code" overhead.txt
"$PY" bench/bench_overhead.py --rounds 30 --per 10 >> "$OUT/overhead.json" 2>&1

note "cameras 1 vs 4" cameras.txt
"$PY" bench/bench_cameras.py --cameras 1 --seconds 30 > "$OUT/cameras1.json" 2>&1
"$PY" bench/bench_cameras.py --cameras 4 --seconds 30 > "$OUT/cameras4.json" 2>&1

note "classify --workers 2 (A) vs 1 (B), 1000 mixed JPEGs" classify_workers.txt
"$PY" bench/ab_pairs.py -n 2 \
  --a "$PY -m rdk_classifier classify --model $M --workers 2 $J" \
  --b "$PY -m rdk_classifier classify --model $M --workers 1 $J" >> "$OUT/classify_workers.txt" 2>&1

note "evaluate --workers 2 (A) vs 1 (B), 1000 mixed JPEGs" evaluate_workers.txt
"$PY" bench/ab_pairs.py -n 2 \
  --a "$PY -m rdk_classifier evaluate --model $M --workers 2 --images $J --labels $J/val.txt" \
  --b "$PY -m rdk_classifier evaluate --model $M --workers 1 --images $J --labels $J/val.txt" \
  >> "$OUT/evaluate_workers.txt" 2>&1

note "classify --cpu-threads 2 (A) vs 1 (B), 1000 mixed JPEGs" classify_threads.txt
"$PY" bench/ab_pairs.py -n 2 \
  --a "$PY -m rdk_classifier classify --model $M --cpu-threads 2 $J" \
  --b "$PY -m rdk_classifier classify --model $M --cpu-threads 1 $J" >> "$OUT/classify_threads.txt" 2>&1
note "done" done.txt
