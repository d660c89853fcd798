#!/usr/bin/env bash
# Local NATS JetStream and PostgreSQL for eHelpdesk, with nothing to set up by hand.
#
#   scripts/services.sh up     [--session FILE]   use what answers, start (and install) the rest
#   scripts/services.sh down   [--session FILE]   stop what `up` started, nothing else
#   scripts/services.sh status                    what answers where
#
# Reads NATS_URL (default nats://127.0.0.1:4222) and DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/ehelpdesk). A server that already answers on the
# requested port is used as it is and never stopped. Otherwise the script starts its own,
# with its files under .data/ in the repository (git-ignored):
#   .data/nats/            JetStream storage     .data/nats.log, .data/nats.pid
#   .data/pg/data          PostgreSQL cluster    .data/pg/postgres.log, .data/pg/socket/
#   .data/started-by-make  what `up` started, so that `down` stops exactly that
# Missing programs are installed from Debian packages (nats-server, postgresql), with sudo
# when not root. --session FILE also lists what this call started in FILE, so that
# `down --session FILE` stops only those (used by `make run` and `make test`).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=services

NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ehelpdesk}
SESSION_FILE=""

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

# ---------------------------------------------------------------------------------------
# Settings from the URLs

parse_nats_url() {
    local first=${NATS_URL%%,*}
    [[ $first == "$NATS_URL" ]] || say "NATS_URL lists several servers; checking the first, $first"
    parse_url "$first"
    case ${U_SCHEME:-nats} in
        nats) ;;
        tls) TLS_NATS=1 ;;
        *) die "NATS_URL=$NATS_URL: expected nats://host:port" ;;
    esac
    NATS_HOST=${U_HOST:-127.0.0.1}
    NATS_PORT=${U_PORT:-4222}
    [[ $NATS_PORT =~ ^[0-9]+$ ]] || die "NATS_URL=$NATS_URL: bad port '$NATS_PORT'"
}

parse_database_url() {
    parse_url "$DATABASE_URL"
    case $U_SCHEME in
        postgres | postgresql) ;;
        *) die "DATABASE_URL=$DATABASE_URL: expected postgres://user@host:port/database" ;;
    esac
    [[ -n $U_HOST ]] || die "DATABASE_URL=$DATABASE_URL: give a TCP host (e.g. 127.0.0.1); unix-socket URLs are not handled here"
    PG_HOST=$U_HOST
    PG_PORT=${U_PORT:-5432}
    PG_USER=${U_USER:-postgres}
    PG_PASS=$U_PASS
    PG_DB=${U_PATH:-$PG_USER}
    [[ $PG_PORT =~ ^[0-9]+$ ]] || die "DATABASE_URL: bad port '$PG_PORT'"
    [[ -n $PG_DB && $PG_DB != */* ]] || die "DATABASE_URL=$DATABASE_URL: bad database name '$PG_DB'"
}

# ---------------------------------------------------------------------------------------
# What this script started (.data/started-by-make: one tab-separated line per server)
#   nats      HOST PORT PIDFILE STORE_DIR
#   postgres  HOST PORT DATA_DIR BIN_DIR RUN_AS

record_started() {
    local line
    line=$(printf '%s\t' "$@")
    line=${line%$'\t'}
    printf '%s\n' "$line" >>"$STATE_FILE"
    if [[ -n $SESSION_FILE ]]; then printf '%s\n' "$line" >>"$SESSION_FILE"; fi
}

# started_entry KIND PORT: the recorded line for a server this script started, if any.
started_entry() {
    [[ -f $STATE_FILE ]] || return 1
    awk -F '\t' -v k="$1" -v p="$2" '$1 == k && $3 == p { print; found = 1 } END { exit !found }' "$STATE_FILE"
}

forget_entry() {
    local line=$1 tmp
    [[ -f $STATE_FILE ]] || return 0
    tmp=$(mktemp "$DATA/.state.XXXXXX")
    grep -vxF -- "$line" "$STATE_FILE" >"$tmp" || true
    mv "$tmp" "$STATE_FILE"
    [[ -s $STATE_FILE ]] || rm -f "$STATE_FILE"
}

# ---------------------------------------------------------------------------------------
# NATS

nats_up() {
    parse_nats_url
    local info
    if info=$(nats_info "$NATS_HOST" "$NATS_PORT"); then
        local js version how="already running"
        js=$(nats_info_field "$info" jetstream)
        version=$(nats_info_field "$info" version)
        started_entry nats "$NATS_PORT" >/dev/null && how="started earlier by services.sh"
        if [[ $js != true ]]; then
            die "nats-server $version answers on $NATS_HOST:$NATS_PORT but JetStream is OFF, and eHelpdesk needs it." \
                "Restart that server with -js (or jetstream {} in its config), or set NATS_URL to a free port" \
                "(e.g. nats://127.0.0.1:14222) and services.sh starts one with JetStream there."
        fi
        say "NATS: using nats-server $version on $NATS_HOST:$NATS_PORT, JetStream on ($how)"
        return 0
    fi
    if [[ -n ${TLS_NATS:-} ]]; then
        die "NATS_URL=$NATS_URL (tls://) does not answer; services.sh only starts plain local servers"
    fi
    if tcp_open "$NATS_HOST" "$NATS_PORT"; then
        die "something answers on $NATS_HOST:$NATS_PORT but it is not a NATS server; free the port or change NATS_URL"
    fi
    is_local_host "$NATS_HOST" ||
        die "nothing answers at $NATS_HOST:$NATS_PORT (NATS_URL) and that is not this machine; start it there or use 127.0.0.1"

    local bin pidfile="$DATA/nats.pid" store="$DATA/nats" log="$DATA/nats.log" pid
    if [[ -s $pidfile ]] && pid=$(<"$pidfile") && nats_pid_is_ours "$pid"; then
        die "this project's nats-server (pid $pid, storage $store) already runs on another port;" \
            "stop it with 'make services-down' first (one JetStream store, one server)"
    fi
    say "NATS: nothing answers on $NATS_HOST:$NATS_PORT; starting a nats-server with JetStream"
    bin=$(ensure_nats_server)
    mkdir -p "$store"
    rm -f "$pidfile"
    printf '\n--- %s: %s -a %s -p %s -js -sd %s\n' "$(date -Is)" "$bin" "$NATS_HOST" "$NATS_PORT" "$store" >>"$log"
    # setsid: its own session, so a Ctrl-C meant for `make run` does not hit it; `down` stops it.
    # shellcheck disable=SC2094  # the server writes its log; nothing reads it here
    (
        close_extra_fds
        exec setsid "$bin" -a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$store" -n "ehelpdesk-dev-$NATS_PORT" \
            -l "$log" -P "$pidfile"
    ) </dev/null >>"$log" 2>&1 &
    local deadline=$((SECONDS + 20))
    until info=$(nats_info "$NATS_HOST" "$NATS_PORT"); do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$log" >&2 || true
            die "nats-server did not answer on $NATS_HOST:$NATS_PORT within 20 s (log: $log)"
        fi
        sleep 0.3
    done
    pid=$(<"$pidfile")
    record_started nats "$NATS_HOST" "$NATS_PORT" "$pidfile" "$store"
    say "NATS: nats-server $(nats_info_field "$info" version) (pid $pid) answers on $NATS_HOST:$NATS_PORT," \
        "JetStream $( [[ $(nats_info_field "$info" jetstream) == true ]] && echo on || echo OFF), storage $store, log $log"
}

nats_pid_is_ours() {
    local pid=$1 cmdline
    [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *nats-server* && $cmdline == *"$DATA/nats"* ]]
}

nats_down() { # HOST PORT PIDFILE STORE
    local host=$1 port=$2 pidfile=$3 pid=""
    [[ -s $pidfile ]] && pid=$(<"$pidfile")
    if [[ -z $pid ]] || ! nats_pid_is_ours "$pid"; then
        say "NATS on $host:$port: already stopped"
        return 0
    fi
    say "NATS: stopping the nats-server services.sh started (pid $pid, $host:$port)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while nats_pid_is_ours "$pid"; do
        if ((SECONDS >= deadline)); then
            warn "nats-server (pid $pid) still runs after 15 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    rm -f "$pidfile"
}

# ---------------------------------------------------------------------------------------
# PostgreSQL

# 0: accepting connections; 1: something else (or a server still starting); 2: nothing.
pg_probe() {
    local host=$1 port=$2 rc=0
    if command -v pg_isready >/dev/null 2>&1 && pg_isready --version >/dev/null 2>&1; then
        pg_isready -q -h "$host" -p "$port" -t 3 || rc=$?
        case $rc in
            0) return 0 ;;
            1) return 1 ;;
            *) tcp_open "$host" "$port" && return 1 || return 2 ;;
        esac
    fi
    tcp_open "$host" "$port" && return 0 || return 2
}

# Runs a PostgreSQL server program as the cluster's owner (postgres when we are root:
# initdb and postgres refuse to run as root).
pg_run() {
    local runas=$1
    shift
    # In a subshell without extra file descriptors: pg_ctl start leaves a server behind.
    (
        close_extra_fds
        if [[ -n $runas ]]; then
            cd /
            exec runuser -u "$runas" -- "$@"
        else
            exec "$@"
        fi
    )
}

pg_up() {
    parse_database_url
    local rc=0
    pg_probe "$PG_HOST" "$PG_PORT" || rc=$?
    if ((rc == 1)); then # maybe starting up: give it a moment
        local deadline=$((SECONDS + 20))
        while ((rc == 1 && SECONDS < deadline)); do
            sleep 1
            rc=0
            pg_probe "$PG_HOST" "$PG_PORT" || rc=$?
        done
        ((rc != 1)) || die "something answers on $PG_HOST:$PG_PORT but does not accept PostgreSQL connections; free the port or change DATABASE_URL"
    fi
    if ((rc == 0)); then
        local how="already running"
        started_entry postgres "$PG_PORT" >/dev/null && how="started earlier by services.sh"
        say "PostgreSQL: using the server on $PG_HOST:$PG_PORT ($how)"
    else
        pg_start
    fi
    ensure_database
}

pg_start() {
    is_local_host "$PG_HOST" ||
        die "nothing answers at $PG_HOST:$PG_PORT (DATABASE_URL) and that is not this machine; start it there or use 127.0.0.1"
    say "PostgreSQL: nothing answers on $PG_HOST:$PG_PORT; starting a project-local server"
    local bindir runas="" base="$DATA/pg"
    bindir=$(ensure_pg_server)
    mkdir -p "$DATA"
    if [[ $(id -u) -eq 0 ]]; then
        # initdb and postgres refuse to run as root: run them as the package's postgres user.
        id postgres >/dev/null 2>&1 || die "no 'postgres' system user (the Debian postgresql package creates it)"
        runas=postgres
        mkdir -p "$base"
        chown postgres:postgres "$base"
        chmod 0700 "$base"
        if ! runuser -u postgres -- test -w "$base" 2>/dev/null; then
            # A parent directory of the repository is closed to other users (a home
            # directory, /root). Rather than open it up, keep the cluster where postgres
            # can reach it, named after this checkout.
            base="/var/lib/postgresql/ehelpdesk-$(printf '%s' "$ROOT" | cksum | cut -d ' ' -f 1)"
            say "PostgreSQL: user postgres cannot reach $DATA (a parent directory is closed to it);" \
                "keeping this checkout's cluster in $base instead"
            mkdir -p "$base"
            chown postgres:postgres "$base"
            chmod 0700 "$base"
            runuser -u postgres -- test -w "$base" || die "user postgres cannot write $base"
        fi
    else
        mkdir -p "$base"
        chmod 0700 "$base"
    fi
    local data="$base/data" sockdir="$base/socket" log="$base/postgres.log"
    # Unix socket paths are limited to 107 bytes.
    if ((${#sockdir} + 20 > 107)); then sockdir=/tmp; fi
    pg_run "$runas" mkdir -p "$sockdir"

    if [[ ! -s $data/PG_VERSION ]]; then
        say "PostgreSQL: creating a cluster in $data ($bindir/initdb, trust authentication for local" \
            "connections, superuser postgres${runas:+, owned by OS user $runas})"
        if ! pg_run "$runas" "$bindir/initdb" -D "$data" --auth=trust -U postgres -E UTF8 --no-locale \
            >"$DATA/pg-initdb.log" 2>&1; then
            tail -n 20 "$DATA/pg-initdb.log" >&2 || true
            die "initdb failed (log: $DATA/pg-initdb.log)"
        fi
    else
        # The cluster must be run by the major version that created it.
        local have want
        have=$(<"$data/PG_VERSION")
        want=$(basename "$(dirname "$bindir")")
        if [[ $have != "$want" ]]; then
            [[ -x /usr/lib/postgresql/$have/bin/pg_ctl ]] ||
                die "the cluster in $data is PostgreSQL $have but only $want is installed; remove $data to start afresh"
            bindir=/usr/lib/postgresql/$have/bin
        fi
    fi
    if pg_run "$runas" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        local other
        other=$(pg_run "$runas" sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
        die "this project's PostgreSQL cluster ($data) already runs on port ${other:-?}; stop it with" \
            "'make services-down' first, or use that port in DATABASE_URL"
    fi
    local listen=$PG_HOST
    [[ $listen == "::" ]] && listen='*'
    # pg_ctl starts the server in its own session (no Ctrl-C from `make run`) and waits.
    if ! pg_run "$runas" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
        -o "-c listen_addresses='$listen' -p $PG_PORT -c unix_socket_directories='$sockdir'" \
        start >/dev/null; then
        pg_run "$runas" tail -n 20 "$log" >&2 || true
        die "PostgreSQL did not start on $PG_HOST:$PG_PORT (log: $log)"
    fi
    local deadline=$((SECONDS + 20))
    until pg_probe "$PG_HOST" "$PG_PORT"; do
        ((SECONDS < deadline)) || die "PostgreSQL started but does not answer on $PG_HOST:$PG_PORT (log: $log)"
        sleep 0.3
    done
    record_started postgres "$PG_HOST" "$PG_PORT" "$data" "$bindir" "$runas"
    say "PostgreSQL: $(basename "$(dirname "$bindir")") answers on $PG_HOST:$PG_PORT (cluster $data, log $log)"
}

# psql against the server of DATABASE_URL: pg_sql USER PASSWORD DATABASE [psql options] < SQL
pg_sql() {
    local user=$1 pass=$2 db=$3
    shift 3
    PGPASSWORD=$pass PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 -t -A \
        -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d "$db" "$@"
}

# Creates the database named in DATABASE_URL (and its user, when it is not postgres).
ensure_database() {
    ensure_psql
    if pg_sql "$PG_USER" "$PG_PASS" "$PG_DB" -c 'select 1' >/dev/null 2>&1; then
        say "PostgreSQL: database '$PG_DB' is there (user $PG_USER)"
        return 0
    fi
    # Connect as the superuser postgres to create what is missing.
    local admin_pass="" err
    [[ $PG_USER == postgres ]] && admin_pass=$PG_PASS
    if ! err=$(pg_sql postgres "$admin_pass" postgres -c 'select 1' 2>&1 >/dev/null); then
        die "cannot connect to PostgreSQL on $PG_HOST:$PG_PORT as $PG_USER (database $PG_DB), nor as postgres" \
            "to create it: ${err:-no answer}. Create the database yourself or fix DATABASE_URL."
    fi
    if [[ $PG_USER != postgres ]]; then
        local exists
        exists=$(pg_sql postgres "$admin_pass" postgres -v u="$PG_USER" <<<"select 1 from pg_roles where rolname = :'u';")
        if [[ -z $exists ]]; then
            say "PostgreSQL: creating role '$PG_USER' (LOGIN CREATEDB)"
            if [[ -n $PG_PASS ]]; then
                pg_sql postgres "$admin_pass" postgres -v u="$PG_USER" -v p="$PG_PASS" \
                    <<<"create role :\"u\" login createdb password :'p';"
            else
                pg_sql postgres "$admin_pass" postgres -v u="$PG_USER" <<<"create role :\"u\" login createdb;"
            fi
        fi
    fi
    local exists
    exists=$(pg_sql postgres "$admin_pass" postgres -v d="$PG_DB" <<<"select 1 from pg_database where datname = :'d';")
    if [[ -z $exists ]]; then
        say "PostgreSQL: creating database '$PG_DB' (owner $PG_USER)"
        pg_sql postgres "$admin_pass" postgres -v d="$PG_DB" -v u="$PG_USER" \
            <<<"create database :\"d\" owner :\"u\";"
    fi
    err=$(pg_sql "$PG_USER" "$PG_PASS" "$PG_DB" -c 'select 1' 2>&1 >/dev/null) ||
        die "database '$PG_DB' exists but user $PG_USER cannot connect to it: $err"
    say "PostgreSQL: database '$PG_DB' is ready (user $PG_USER)"
}

pg_down() { # HOST PORT DATA BINDIR RUNAS
    local host=$1 port=$2 data=$3 bindir=$4 runas=$5
    if ! pg_run "$runas" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        say "PostgreSQL on $host:$port: already stopped"
        return 0
    fi
    say "PostgreSQL: stopping the server services.sh started ($host:$port, cluster $data)"
    pg_run "$runas" "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
        die "pg_ctl stop failed for $data"
}

# ---------------------------------------------------------------------------------------
# Commands

cmd_up() {
    lock_data
    if [[ -n $SESSION_FILE ]]; then : >>"$SESSION_FILE"; fi
    nats_up
    pg_up
    say "ready: NATS_URL=$NATS_URL DATABASE_URL=$(mask_password "$DATABASE_URL")"
}

cmd_down() {
    lock_data
    local lines=() line
    if [[ -n $SESSION_FILE ]]; then
        [[ -f $SESSION_FILE ]] || die "no session file $SESSION_FILE"
        while IFS= read -r line; do [[ -n $line ]] && lines+=("$line"); done <"$SESSION_FILE"
        if ((${#lines[@]} == 0)); then
            say "nothing to stop: this session started no server (it used ones already running)"
            return 0
        fi
    else
        if [[ -f $STATE_FILE ]]; then
            while IFS= read -r line; do [[ -n $line ]] && lines+=("$line"); done <"$STATE_FILE"
        fi
        if ((${#lines[@]} == 0)); then
            say "nothing to stop: no server started by services.sh is recorded in $STATE_FILE"
            return 0
        fi
    fi
    local kind f
    for line in "${lines[@]}"; do
        IFS=$'\t' read -r -a f <<<"$line"
        kind=${f[0]}
        case $kind in
            nats) nats_down "${f[1]}" "${f[2]}" "${f[3]}" "${f[4]}" ;;
            postgres) pg_down "${f[1]}" "${f[2]}" "${f[3]}" "${f[4]}" "${f[5]:-}" ;;
            *) warn "unknown entry in $STATE_FILE: $line" ;;
        esac
        forget_entry "$line"
    done
    say "stopped what services.sh had started"
}

cmd_status() {
    parse_nats_url
    parse_database_url
    local info
    if info=$(nats_info "$NATS_HOST" "$NATS_PORT"); then
        local js
        js=$(nats_info_field "$info" jetstream)
        say "NATS       $NATS_HOST:$NATS_PORT  answers: nats-server $(nats_info_field "$info" version)," \
            "JetStream $([[ $js == true ]] && echo on || echo 'OFF (eHelpdesk needs it)')$(started_note nats "$NATS_PORT")"
    elif tcp_open "$NATS_HOST" "$NATS_PORT"; then
        say "NATS       $NATS_HOST:$NATS_PORT  something answers, but not NATS"
    else
        say "NATS       $NATS_HOST:$NATS_PORT  nothing answers ('make services-up' starts one)"
    fi
    local rc=0
    pg_probe "$PG_HOST" "$PG_PORT" || rc=$?
    case $rc in
        0)
            local db="database '$PG_DB': not checked (no psql)"
            if command -v psql >/dev/null 2>&1 && psql --version >/dev/null 2>&1; then
                if pg_sql "$PG_USER" "$PG_PASS" "$PG_DB" -c 'select 1' >/dev/null 2>&1; then
                    db="database '$PG_DB' reachable as $PG_USER"
                else
                    db="database '$PG_DB' NOT reachable as $PG_USER ('make services-up' creates it)"
                fi
            fi
            say "PostgreSQL $PG_HOST:$PG_PORT  accepts connections; $db$(started_note postgres "$PG_PORT")"
            ;;
        1) say "PostgreSQL $PG_HOST:$PG_PORT  something answers, but does not accept PostgreSQL connections" ;;
        *) say "PostgreSQL $PG_HOST:$PG_PORT  nothing answers ('make services-up' starts one)" ;;
    esac
    if [[ -s $STATE_FILE ]]; then
        say "started by services.sh (stopped by 'make services-down'):"
        local kind host port rest
        while IFS=$'\t' read -r kind host port rest; do
            say "  $kind on $host:$port"
        done <"$STATE_FILE"
    else
        say "started by services.sh: nothing"
    fi
}

started_note() {
    if started_entry "$1" "$2" >/dev/null; then
        echo " [started by services.sh]"
    else
        echo " [not started by services.sh; left alone]"
    fi
}

mask_password() {
    sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$1"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    while [[ $# -gt 0 ]]; do
        case $1 in
            --session)
                [[ $# -ge 2 ]] || usage 2
                SESSION_FILE=$2
                shift 2
                ;;
            -h | --help) usage 0 ;;
            *)
                echo "unknown argument: $1" >&2
                usage 2
                ;;
        esac
    done
    case $cmd in
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
        -h | --help | help) usage 0 ;;
        *) usage 2 ;;
    esac
}

main "$@"
