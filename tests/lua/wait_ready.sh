# Sourced by the signal tests: wait_ready OUT PID waits until the process
# PID has written "ready" to the file OUT (then it is inside the work the
# test interrupts), and fails the test after 30 s without it.
wait_ready() {
    tries=0
    until grep -q ready "$1"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 300 ]; then
            echo "the script never printed 'ready'"; cat "$1"; kill -9 "$2"; exit 1
        fi
        sleep 0.1
    done
}
