# shellcheck shell=bash disable=SC2034  # (variables used by the scripts that source it)
# Shared by deploy/kafka/start, deploy/kafka/stop and deploy/kafka/tool.
# Sourced, not run. Sets the defaults of the KAFKA_* settings (see `start --help`)
# and defines small helpers. Progress goes to stderr; start prints only the
# bootstrap address on stdout.

KAFKA_DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

: "${KAFKA_VERSION:=4.1.1}"
: "${KAFKA_HOST:=127.0.0.1}"
: "${KAFKA_PORT:=9092}"
: "${KAFKA_CONTROLLER_PORT:=9093}"
: "${KAFKA_DATA_DIR:=$KAFKA_DEPLOY_DIR/.data}"
: "${KAFKA_LIB_DIR:=$KAFKA_DEPLOY_DIR/lib}"
: "${KAFKA_NUM_PARTITIONS:=1}"
: "${KAFKA_HEAP_OPTS:=-Xms256m -Xmx512m}"
: "${KAFKA_JVM_PERFORMANCE_OPTS:=-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
: "${KAFKA_OPTS:=}"
: "${KAFKA_EXTRA_PROPERTIES:=}"
: "${KAFKA_START_TIMEOUT:=120}"
: "${KAFKA_STOP_TIMEOUT:=60}"
: "${MVN:=mvn}"

# A wildcard bind address cannot be advertised: clients then use 127.0.0.1.
if [[ -z "${KAFKA_ADVERTISED_HOST:-}" ]]; then
    case "$KAFKA_HOST" in
        0.0.0.0 | :: | "[::]") KAFKA_ADVERTISED_HOST=127.0.0.1 ;;
        *) KAFKA_ADVERTISED_HOST="$KAFKA_HOST" ;;
    esac
fi

# Absolute paths: the broker runs from the data dir, and the pid check
# matches the absolute path of server.properties on its command line.
kafka_abspath() {
    local p="$1"
    [[ "$p" == /* ]] || p="$PWD/$p"
    if command -v realpath >/dev/null 2>&1; then realpath -m -- "$p"; else printf '%s\n' "$p"; fi
}
KAFKA_DATA_DIR="$(kafka_abspath "$KAFKA_DATA_DIR")"
KAFKA_LIB_DIR="$(kafka_abspath "$KAFKA_LIB_DIR")"

KAFKA_BOOTSTRAP="$KAFKA_ADVERTISED_HOST:$KAFKA_PORT"
KAFKA_PROPS="$KAFKA_DATA_DIR/server.properties"
KAFKA_LOG_DIRS="$KAFKA_DATA_DIR/kraft-combined-logs"   # Kafka's data (log.dirs)
KAFKA_LOGS="$KAFKA_DATA_DIR/logs"                       # the broker's own logs
KAFKA_PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
KAFKA_STATE_FILE="$KAFKA_DATA_DIR/broker.env"           # what the running broker was started with

kafka_log() { echo "kafka: $*" >&2; }
kafka_die() { echo "kafka: error: $*" >&2; exit 1; }

kafka_find_java() {
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        JAVA="$JAVA_HOME/bin/java"
    elif command -v java >/dev/null 2>&1; then
        JAVA="$(command -v java)"
    else
        kafka_die "java not found (Kafka $KAFKA_VERSION needs Java 17+; set JAVA_HOME or put java on PATH)"
    fi
}

# The command line of a process, NUL separators turned into spaces.
kafka_proc_args() {
    if [[ -r "/proc/$1/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null
    else
        ps -o args= -p "$1" 2>/dev/null
    fi
}

# Alive and not a zombie (start's own child stays a zombie until start exits).
kafka_alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    st="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ -n "$st" && "$st" != Z* ]]
}

# Is PID the broker of THIS data dir (kafka.Kafka <data dir>/server.properties)?
kafka_is_ours() {
    local args
    args="$(kafka_proc_args "$1") "
    [[ "$args" == *" kafka.Kafka $KAFKA_PROPS "* ]] && kafka_alive "$1"
}

# Prints the pid of the broker of this data dir, if one runs: the pid file
# first, then (Linux) a look through /proc in case the pid file was lost.
kafka_running_pid() {
    local pid p
    if [[ -f "$KAFKA_PID_FILE" ]]; then
        pid="$(tr -dc '0-9' <"$KAFKA_PID_FILE")"
        if [[ -n "$pid" ]] && kafka_is_ours "$pid"; then
            echo "$pid"
            return 0
        fi
    fi
    if [[ -d /proc ]]; then
        for p in /proc/[0-9]*; do
            pid="${p#/proc/}"
            [[ -r "$p/cmdline" ]] || continue
            if kafka_is_ours "$pid"; then
                echo "$pid"
                return 0
            fi
        done
    fi
    return 1
}

# Does something accept TCP connections on HOST PORT?
kafka_port_open() {
    # shellcheck disable=SC2016  # $1/$2 expand in the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# The classpath is complete when lib/.resolved names this version and pom.
kafka_lib_stamp() {
    local sum
    sum="$(sha256sum "$KAFKA_DEPLOY_DIR/pom.xml" | cut -c1-16)"
    echo "org.apache.kafka:kafka_2.13:$KAFKA_VERSION pom=$sum"
}

kafka_lib_complete() {
    [[ -f "$KAFKA_LIB_DIR/.resolved" ]] && [[ "$(cat "$KAFKA_LIB_DIR/.resolved")" == "$(kafka_lib_stamp)" ]]
}

# The java command line (array KAFKA_TOOL_CMD) of a Kafka CLI class on the
# broker's classpath: small heap, quick JIT, log4j2 at WARN to stderr.
kafka_tool_cmd() {
    # shellcheck disable=SC2206  # KAFKA_TOOL_HEAP_OPTS is a word list
    KAFKA_TOOL_CMD=("$JAVA" ${KAFKA_TOOL_HEAP_OPTS:--Xmx256m} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
        "-Dlog4j2.configurationFile=$KAFKA_DEPLOY_DIR/tools-log4j2.properties"
        -cp "$KAFKA_LIB_DIR/*")
}

# kafka_tool_java CLASS ARGS...: runs a Kafka CLI class.
kafka_tool_java() {
    kafka_tool_cmd
    "${KAFKA_TOOL_CMD[@]}" "$@"
}

kafka_log_tail() {
    local f
    for f in "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"; do
        [[ -s "$f" ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n "${1:-40}" "$f" >&2
    done
}
