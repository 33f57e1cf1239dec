# The toe-check/1 termination message's shared half, sourced by gpu-check.sh and efa-check.sh
# (`. "${0%/*}/message.sh"`: the ConfigMap mounts every check file in one folder). POSIX sh.

# line_count TEXT: how many lines TEXT has (0 when empty).
line_count() {
    if [ -n "$1" ]; then
        printf '%s\n' "$1" | wc -l | tr -d ' '
    else
        echo 0
    fi
}

# write_message HEAD TOTAL KEPT: HEAD, then how many of TOTAL data lines were left out, "--",
# the KEPT data lines and "end", into $TERMINATION_LOG; non-zero when it cannot be written.
write_message() {
    _nkept=$(line_count "$3")
    {
        printf '%s\ntruncated=%s\n--\n' "$1" "$(($2 - _nkept))"
        if [ -n "$3" ]; then
            printf '%s\n' "$3"
        fi
        printf 'end\n'
    } >"$TERMINATION_LOG"
}
