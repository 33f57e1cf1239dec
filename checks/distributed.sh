#!/bin/sh
# Distributed check launcher, one per pod of the Indexed Job: torchrun starts this pod's rank of
# checks/distributed.py (node rank = the pod's completion index), rank 0 at
# $MASTER_ADDR (`<job>-0.<headless service>`). See distributed.py for the result format.
#
# When torchrun itself fails (rendezvous timed out, torch missing) rank 0 still reports, so the
# readout can quote the reason; every pod exits 0 (the readout decides what a failure means).

TERMINATION_LOG="${TERMINATION_LOG:-/dev/termination-log}"
export TERMINATION_LOG
here=$(dirname "$0")
rank="${JOB_COMPLETION_INDEX:-0}"

echo "== torchrun node rank $rank of ${NNODES:-2}, master ${MASTER_ADDR:-?}:${MASTER_PORT:-29500}"
torchrun --nnodes "${NNODES:-2}" --nproc-per-node 1 --node-rank "$rank" \
    --master-addr "${MASTER_ADDR:?MASTER_ADDR is not set}" --master-port "${MASTER_PORT:-29500}" \
    "$here/distributed.py"
rc=$?
echo "== torchrun exited $rc"

if [ "$rank" = 0 ] && [ ! -s "$TERMINATION_LOG" ]; then
    printf 'format=toe-check/1\ncheck=distributed\nstatus=failed\nexit=%s\nreason=%s\nbackend=\ntransport=\nworld=%s\nnodes=\ncount=0\ntruncated=0\n--\nend\n' \
        "$rc" "torchrun exited $rc before rank 0 reported (see the pod log)" "${NNODES:-2}" \
        >"$TERMINATION_LOG"
fi
exit 0
