# SPDX-License-Identifier: Apache-2.0
# Waits that end, for the bash tools (. tools/lib/proc.sh), as
# t/lib/WxServer.pm has them for the Perl ones: each is bounded, knows the
# pid it waits for, and says on stderr what it waited for when it gives up.

# wx_alive PID: PID is a process that runs (not a zombie: an orphan's may
# linger where PID 1 reaps nothing).
wx_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case ${stat%% *} in Z|X|'') return 1 ;; esac
}

# wx_pidfile FILE: the pid FILE names, if it names one.
wx_pidfile() {
    local pid
    pid=$(head -n 1 "$1" 2>/dev/null) || return 1
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    echo "$pid"
}

# wx_answers PORT: a connection to 127.0.0.1:PORT is taken.
wx_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wx_until SECONDS CMD...: CMD every 0.1 s until it succeeds (true), or
# fails with 2 (false at once); false after SECONDS.
wx_until() {
    local secs=$1 i rc
    shift
    for ((i = 0; i <= secs * 10; i++)); do
        rc=0
        "$@" || rc=$?
        [ "$rc" = 0 ] && return 0
        [ "$rc" = 2 ] && return 1
        sleep 0.1
    done
    return 1
}

# wx_none_alive PID...: none of them runs.
wx_none_alive() {
    local p
    for p in "$@"; do ! wx_alive "$p" || return 1; done
}

# wx_gone SECONDS PID...: true once none of the PIDs runs; false after
# SECONDS.
wx_gone() {
    local secs=$1
    shift
    wx_until "$secs" wx_none_alive "$@"
}

# wx_running PIDFILE: the pid PIDFILE names runs; it is printed.
wx_running() {
    local pid
    pid=$(wx_pidfile "$1") && wx_alive "$pid" && echo "$pid"
}

# wx_children PID: the pids of its children, if any.
wx_children() {
    ps -o pid= --ppid "$1" 2>/dev/null | tr '\n' ' ' || true
}

# wx_ready PID PIDFILE PORT: PID runs (or 2), PIDFILE names it, PORT
# answers.
wx_ready() {
    wx_alive "$1" || return 2
    [ "$(wx_pidfile "$2")" = "$1" ] && wx_answers "$3"
}

# wx_wait_ready WHAT SECONDS PID PIDFILE PORT: until PID runs, PIDFILE
# names it and PORT answers; false, naming WHAT, at once if PID ends, and
# after SECONDS.
wx_wait_ready() {
    local what=$1 secs=$2 pid=$3 pidfile=$4 port=$5
    wx_until "$secs" wx_ready "$pid" "$pidfile" "$port" && return 0
    if wx_alive "$pid"; then
        echo "$what (pid $pid): not ready after $secs s (its pid file $pidfile, port $port)" >&2
    else
        echo "$what (pid $pid): ended before it was ready" >&2
    fi
    return 1
}

# wx_stop WHAT PID [SECONDS]: SIGTERM; SECONDS (20) for PID and its
# children to go; then SIGKILL to them, with a message, and 10 s more.
# Reaps PID if it is a child of this shell.  Fails if SIGKILL was needed.
wx_stop() {
    local what=$1 pid=$2 secs=${3:-20} procs
    procs="$pid $(wx_children "$pid")"
    kill -TERM "$pid" 2>/dev/null || true
    # shellcheck disable=SC2086
    if wx_gone "$secs" $procs; then
        wait "$pid" 2>/dev/null || true
        return 0
    fi
    procs="$procs $(wx_children "$pid")"
    echo "$what (pid $pid): still there $secs s after SIGTERM; SIGKILL" >&2
    # shellcheck disable=SC2086
    kill -KILL $procs 2>/dev/null || true
    # shellcheck disable=SC2086
    if wx_gone 10 $procs; then
        wait "$pid" 2>/dev/null || true
    else
        echo "$what (pid $pid): still there 10 s after SIGKILL" >&2
    fi
    return 1
}
