#!/bin/sh
# EFA check: runs `fi_info -p efa`, prints its full output to the log and writes a compact result
# to the container's termination message file ($TERMINATION_LOG, default /dev/termination-log).
#
# Run in the validation Job as `sh /checks/efa-check.sh` (mounted from a ConfigMap). POSIX sh.
# Environment:
#   EFA_REQUESTED  "true" when the stack asked for an EFA-capable GPU node; otherwise fi_info still
#                  runs for information, but the result says "not requested".
#
# fi_info exits 61 (ENODATA, "fi_getinfo: -61") on a host without an EFA device, and the shell
# exits 127 when libfabric's fi_info is missing. Exit status 0 alone proves little: only
# `provider: efa` entries count (a listing of `shm` or `tcp` providers is not EFA).
#
# Termination message format (toe-check/1), at most 4096 bytes, parsed by components/results.py:
#
#   format=toe-check/1          first line, always
#   check=efa
#   requested=true|false        EFA_REQUESTED as seen by the check
#   status=passed|failed|unavailable
#                               passed: >= 1 `provider: efa` entry (and requested)
#                               unavailable: no EFA device (exit 61), no libfabric (exit 127),
#                                            or not requested
#                               failed: any other fi_info failure, or a listing without efa
#   exit=<int>                  exit status of fi_info
#   reason=<one line>           human-readable, at most 200 bytes
#   count=<int>                 number of data lines fi_info printed (before truncation)
#   truncated=<int>             data lines left out to stay under 4096 bytes
#   --                          end of the header
#   provider: <p>               the provider/fabric/domain/type lines of the listing, in order,
#   fabric: <f>                 unindented; each `provider:` line starts an entry
#   domain: <d>
#   type: <t>
#   end                         last line: a message without it was cut short
#
# Exit status: 0 once a result is written; the stack's readout decides whether a missing EFA
# fails `pulumi up` (config efaRequired). Non-zero (3) only when the result cannot be written.

LC_ALL=C
export LC_ALL
TERMINATION_LOG="${TERMINATION_LOG:-/dev/termination-log}"
MAX_BYTES=4096
# shellcheck source=message.sh
. "${0%/*}/message.sh"
if [ "${EFA_REQUESTED:-}" = "true" ]; then requested=true; else requested=false; fi

# write_result STATUS EXIT REASON DATA: format the message, trimming data lines to fit.
write_result() {
    _reason=$(printf '%s' "$3" | tr '\n' ' ' | cut -c1-200)
    _total=$(line_count "$4")
    _head="format=toe-check/1
check=efa
requested=$requested
status=$1
exit=$2
reason=$_reason
count=$_total"
    # Room left for data lines: the header, "truncated=NNNNNNNNNN", "--" and "end" lines.
    _budget=$((MAX_BYTES - ${#_head} - 32))
    _kept=""
    if [ "$_total" -gt 0 ]; then
        # Cut at an entry boundary where possible: never keep a partial last entry.
        _kept=$(printf '%s\n' "$4" | awk -v max="$_budget" '
            /^provider:/ { if (block != "") { out = out block; block = "" } }
            { line = $0 "\n"; if (n + length(line) > max) { over = 1; exit } }
            { n += length(line); block = block line }
            END { if (!over) out = out block; printf "%s", out }')
    fi
    write_message "$_head" "$_total" "$_kept"
}

echo "== fi_info -p efa (EFA_REQUESTED=$requested)"
listing=$(fi_info -p efa 2>&1)
rc=$?
printf '%s\n' "$listing"
data=$(printf '%s\n' "$listing" |
    sed -n -E 's/^[[:space:]]*(provider|fabric|domain|type):[[:space:]]*/\1: /p')
efa=$(printf '%s\n' "$data" | grep -c '^provider: efa$')

if [ "$rc" -eq 0 ] && [ "$efa" -gt 0 ]; then
    status=passed
    reason="$efa efa provider entries"
elif [ "$rc" -eq 61 ]; then
    status=unavailable
    reason="no EFA device (fi_info exit 61: $(printf '%s\n' "$listing" | head -n 1))"
elif [ "$rc" -eq 127 ]; then
    status=unavailable
    reason="libfabric is missing (fi_info not found, exit 127)"
elif [ "$rc" -eq 0 ]; then
    status=failed
    reason="fi_info exited 0 but listed no efa provider"
else
    status=failed
    reason="fi_info exited $rc: $(printf '%s\n' "$listing" | head -n 1)"
fi

if [ "$requested" != "true" ]; then
    reason="not requested (fi_info: $reason)"
    write_result unavailable "$rc" "$reason" "$data" || exit 3
    echo "== result: unavailable ($reason)"
    exit 0
fi

write_result "$status" "$rc" "$reason" "$data" || exit 3
echo "== result: $status ($reason)"
exit 0
