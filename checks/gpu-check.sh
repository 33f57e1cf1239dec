#!/bin/sh
# GPU check: runs nvidia-smi, prints its full output to the log and writes a compact result to
# the container's termination message file ($TERMINATION_LOG, default /dev/termination-log).
#
# Run in the validation Job as `sh /checks/gpu-check.sh` (mounted from a ConfigMap). POSIX sh and
# awk/sed/grep/wc only: the CUDA `base` images have no bash guarantees worth relying on.
#
# Termination message format (toe-check/1), at most 4096 bytes, parsed by components/results.py:
#
#   format=toe-check/1          first line, always
#   check=gpu
#   status=passed|failed        failed: nvidia-smi missing or failing, or no GPU listed
#   exit=<int>                  exit status of the failing nvidia-smi call (0 when passed)
#   reason=<one line>           human-readable, at most 200 bytes
#   cuda=<X.Y>                  "CUDA Version" from the nvidia-smi header (empty when unknown)
#   count=<int>                 number of GPU data lines nvidia-smi printed
#   truncated=<int>             data lines left out to stay under 4096 bytes
#   --                          end of the header
#   <name>, <driver_version>, <memory.total MiB>, <count>     one line per GPU, from
#       nvidia-smi --query-gpu=name,driver_version,memory.total,count --format=csv,noheader,nounits
#   end                         last line: a message without it was cut short
#
# Exit status: 0 once a result is written, passed or failed: the stack's readout turns a failed
# check into a failed `pulumi up` that quotes the reason (a failing Job would only say
# BackoffLimitExceeded). Non-zero (3) only when the termination message cannot be written.

LC_ALL=C
export LC_ALL
TERMINATION_LOG="${TERMINATION_LOG:-/dev/termination-log}"
MAX_BYTES=4096
# shellcheck source=message.sh
. "${0%/*}/message.sh"

# write_result STATUS EXIT REASON CUDA DATA: format the message, trimming data lines to fit.
write_result() {
    _reason=$(printf '%s' "$3" | tr '\n' ' ' | cut -c1-200)
    _total=$(line_count "$5")
    _head="format=toe-check/1
check=gpu
status=$1
exit=$2
reason=$_reason
cuda=$4
count=$_total"
    # Room left for data lines: the header, "truncated=NNNNNNNNNN", "--" and "end" lines.
    _budget=$((MAX_BYTES - ${#_head} - 32))
    _kept=""
    if [ "$_total" -gt 0 ]; then
        _kept=$(printf '%s\n' "$5" | awk -v max="$_budget" \
            '{ n += length($0) + 1; if (n > max) exit; print }')
    fi
    write_message "$_head" "$_total" "$_kept"
}

echo "== nvidia-smi"
full=$(nvidia-smi 2>&1)
rc=$?
printf '%s\n' "$full"
if [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 127 ]; then
        reason="nvidia-smi not found: the NVIDIA container toolkit did not inject it (no GPU requested?)"
    else
        reason="nvidia-smi exited $rc: $(printf '%s\n' "$full" | head -n 1)"
    fi
    write_result failed "$rc" "$reason" "" "" || exit 3
    echo "== result: failed ($reason)"
    exit 0
fi

cuda=$(printf '%s\n' "$full" |
    sed -n 's/.*CUDA Version[[:space:]]*:[[:space:]]*\([0-9][0-9.]*\).*/\1/p' | head -n 1)

echo "== nvidia-smi --query-gpu=name,driver_version,memory.total,count --format=csv,noheader,nounits"
query=$(nvidia-smi --query-gpu=name,driver_version,memory.total,count \
    --format=csv,noheader,nounits 2>&1)
rc=$?
printf '%s\n' "$query"
if [ "$rc" -ne 0 ]; then
    reason="nvidia-smi --query-gpu exited $rc: $(printf '%s\n' "$query" | head -n 1)"
    write_result failed "$rc" "$reason" "$cuda" "" || exit 3
    echo "== result: failed ($reason)"
    exit 0
fi

gpus=$(printf '%s\n' "$query" | grep -v '^[[:space:]]*$')
if [ -z "$gpus" ]; then
    write_result failed 1 "nvidia-smi listed no GPU" "$cuda" "" || exit 3
    echo "== result: failed (nvidia-smi listed no GPU)"
    exit 0
fi

count=$(printf '%s\n' "$gpus" | wc -l | tr -d ' ')
write_result passed 0 "$count GPU(s) visible" "$cuda" "$gpus" || exit 3
echo "== result: passed ($count GPU(s), CUDA ${cuda:-unknown})"
exit 0
