#!/usr/bin/env bash
# The GPU check, for the day a machine with a GPU is at hand (#28): the
# book's protocol (resnet_v2_152, batch 32, 224x224) on the GPU in NHWC and
# NCHW x fp32/fp16/bf16, fp16 with XLA, mirrored over every visible GPU,
# then the fp32 parity tests against the official tf_slim network, run on
# the GPU. One line per case; exit 1 if any case failed, 0 with "no GPU"
# where TensorFlow sees none, 2 where the package or TensorFlow does not
# import. Each case gets at most CASE_TIMEOUT seconds
# (default 300); short protocol (5 burn-in + 20 timed steps) to fit in a
# few minutes in all.
#
#     bash benchmarks/gpu_check.sh            # from the repository root
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
CASE_TIMEOUT=${CASE_TIMEOUT:-300}
export TF_CPP_MIN_LOG_LEVEL=2

if ! gpus=$($PY -c "
import resnet_v2_slim, tensorflow as tf
print(len(tf.config.list_physical_devices('GPU')))" 2>/dev/null | tail -1); then
  # Not "no GPU": the check itself cannot run here.
  echo "gpu_check: resnet_v2_slim or TensorFlow does not import with $PY: install them first (README's set-up), then run this again (exit 2)"
  exit 2
fi
if [ "${gpus:-0}" = "0" ]; then
  echo "gpu_check: no GPU visible to TensorFlow: nothing to check (exit 0)"
  exit 0
fi
echo "gpu_check: $gpus GPU(s) visible; the book's protocol, 5 burn-in + 20 timed steps per case"

failed=0
case_line() {   # name, then time-forward's flags
  local name=$1; shift
  local out
  if out=$(timeout "$CASE_TIMEOUT" $PY scripts/time_forward.py \
      --num_burn_in 5 --num_batches 20 "$@" 2>&1); then
    echo "ok    $name: $(echo "$out" | grep 'sec / batch' | tail -1)"
  else
    echo "FAIL  $name (exit $?): $(echo "$out" | tail -1)"
    failed=1
  fi
}

for format in NHWC NCHW; do
  for precision in fp32 fp16 bf16; do
    case_line "$format $precision" --data_format "$format" --precision "$precision"
  done
done
case_line "NCHW fp16 XLA" --data_format NCHW --precision fp16 --xla
if [ "$gpus" -gt 1 ]; then
  case_line "mirrored x$gpus NCHW fp16" --strategy mirrored \
      --data_format NCHW --precision fp16
else
  case_line "mirrored x1 NCHW fp32" --strategy mirrored --data_format NCHW
fi

if timeout "$CASE_TIMEOUT" $PY -m pytest -q -n 0 -p no:cacheprovider \
    tests/test_nets_resnet_v2.py -k \
    "logits_equal_the_reference or small_net_equals_the_reference or nchw_equals_nhwc" \
    > /tmp/gpu_check_parity.log 2>&1; then
  echo "ok    fp32 parity with tf_slim's resnet_v2 on the GPU: $(tail -1 /tmp/gpu_check_parity.log)"
else
  echo "FAIL  fp32 parity with tf_slim's resnet_v2 on the GPU: $(tail -1 /tmp/gpu_check_parity.log)"
  failed=1
fi
exit $failed
