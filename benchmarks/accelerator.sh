#!/usr/bin/env bash
# The whole speed table on whatever device JAX finds (GPU, TPU or CPU), as JSON lines:
#   - WaveGAN and SpecGAN at their reference size: f32 and bf16, conv_impl phase and xla,
#     each with train-step, D/G-step and generation times, MFU against the device's matmul
#     peak, and the 200k-step wall-clock estimate (preset_run_h);
#   - GANSynth's stages 0-12 in f32 with the full-schedule estimate (full_schedule_h), and
#     stages 0, 6, 12 in bf16, each with generation throughput.
#
#   benchmarks/accelerator.sh [--smoke] [--out FILE]   (default FILE: accelerator-<date>.jsonl)
#
# --smoke runs the same table at toy sizes (a minute or two on a 2-core CPU), to check the
# script itself. Full size needs an accelerator: about 8 minutes on one modern GPU.
# Needs jax, flax, optax and orbax, not librosa. Uses `uv run python` when uv is present,
# else $PYTHON or python3.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
out="accelerator-$(date +%Y-%m-%d).jsonl"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --out) out="$2"; shift ;;
    *) echo "usage: $0 [--smoke] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "${PYTHON:-}" ]; then py=($PYTHON)
elif command -v uv >/dev/null 2>&1; then py=(uv run python)
else py=(python3); fi

if [ "$smoke" = 1 ]; then
  size=(--preset small --batch 2 --repeats 1 model.dim=2)
  gansynth=(--preset small --repeats 1 --gen-batch 2 model.num_resolutions=3 model.slice_len=320
            model.fmap_base=16 model.fmap_max=8 model.pitch_min=60 model.pitch_max=63
            model.stable_stage_num_images=16 model.transition_stage_num_images=16
            model.total_num_images=96 data.embedded_per_class=2)
  stages_f32=0,1,2,3,4 stages_bf16=0,4
else
  size=(--preset reference)
  gansynth=(--preset reference)
  stages_f32=0,1,2,3,4,5,6,7,8,9,10,11,12 stages_bf16=0,6,12
fi

: > "$out"
for model in wavegan specgan; do
  "${py[@]}" benchmarks/bench_models.py --model "$model" --impl phase xla --precision f32 bf16 \
    "${size[@]}" | tee -a "$out"
done
"${py[@]}" benchmarks/bench_gansynth.py --stages "$stages_f32" "${gansynth[@]}" | tee -a "$out"
"${py[@]}" benchmarks/bench_gansynth.py --stages "$stages_bf16" --precision bf16 "${gansynth[@]}" \
  | tee -a "$out"
echo "wrote $out" >&2
