#!/usr/bin/env bash
# `make run`: NATS and PostgreSQL up, release build, the services in the foreground: the
# command and projection services, the notifier (which, with no SMTP server or WhatsApp
# token configured, writes e-mails to .data/mail and WhatsApp messages to .data/whatsapp) and
# the web app (http://127.0.0.1:8082, with a picker of invented people to sign in as).
# Ctrl-C (or SIGTERM) stops the services and whatever this run had to start.
#
# Environment: NATS_URL, DATABASE_URL, COMMAND_ADDR (127.0.0.1:8080), PROJECTION_ADDR
# (127.0.0.1:8081), NOTIFIER_ADDR (127.0.0.1:8083), WEB_ADDR (127.0.0.1:8082), COMMAND_ADMIN_ADDR (127.0.0.1:9080),
# PROJECTION_ADMIN_ADDR (127.0.0.1:9081) and NOTIFIER_ADMIN_ADDR (127.0.0.1:9083; /metrics),
# and every other setting of the services, passed through unchanged.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=run

export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ehelpdesk}
export COMMAND_ADDR=${COMMAND_ADDR:-127.0.0.1:8080}
export PROJECTION_ADDR=${PROJECTION_ADDR:-127.0.0.1:8081}
export COMMAND_ADMIN_ADDR=${COMMAND_ADMIN_ADDR:-127.0.0.1:9080}
export PROJECTION_ADMIN_ADDR=${PROJECTION_ADMIN_ADDR:-127.0.0.1:9081}
export NOTIFIER_ADDR=${NOTIFIER_ADDR:-127.0.0.1:8083}
export NOTIFIER_ADMIN_ADDR=${NOTIFIER_ADMIN_ADDR:-127.0.0.1:9083}
export WEB_ADDR=${WEB_ADDR:-127.0.0.1:8082}
export MAIL_DIR=${MAIL_DIR:-$DATA/mail}
export WHATSAPP_DIR=${WHATSAPP_DIR:-$DATA/whatsapp}
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"

# host and port a client uses to reach a listen address (0.0.0.0 and [::] mean this machine)
split_addr() {
    local addr=$1
    ADDR_PORT=${addr##*:}
    ADDR_HOST=${addr%:*}
    ADDR_HOST=${ADDR_HOST#[}
    ADDR_HOST=${ADDR_HOST%]}
    case $ADDR_HOST in 0.0.0.0 | "" | "::") ADDR_HOST=127.0.0.1 ;; esac
    URL_HOST=$ADDR_HOST
    [[ $URL_HOST == *:* ]] && URL_HOST="[$URL_HOST]"
    return 0
}

mkdir -p "$DATA"
session=$(mktemp "$DATA/session.XXXXXX")
cmd_pid="" proj_pid="" notifier_pid="" web_pid="" build_pid=""

stop_child() { # NAME PID
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do # 15 s to finish requests in flight
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name (pid $pid) still runs after 15 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    trap '' INT # a second Ctrl-C must not cut the clean-up short
    if [[ -n $build_pid ]]; then # cargo and its rustc processes: their own process group
        say "stopping cargo build"
        kill -TERM -- "-$build_pid" 2>/dev/null || kill -TERM "$build_pid" 2>/dev/null || true
        wait "$build_pid" 2>/dev/null || true
    fi
    [[ -n $web_pid ]] && stop_child ehelpdesk-web "$web_pid"
    [[ -n $notifier_pid ]] && stop_child ehelpdesk-notifier "$notifier_pid"
    [[ -n $proj_pid ]] && stop_child ehelpdesk-projection "$proj_pid"
    [[ -n $cmd_pid ]] && stop_child ehelpdesk-command "$cmd_pid"
    "$ROOT/scripts/services.sh" down --session "$session" || rc=1
    rm -f "$session"
    say "stopped"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; exit 130' INT
trap 'exit 143' TERM

for addr in "$COMMAND_ADDR" "$PROJECTION_ADDR" "$NOTIFIER_ADDR" "$WEB_ADDR" "$COMMAND_ADMIN_ADDR" \
    "$PROJECTION_ADMIN_ADDR" "$NOTIFIER_ADMIN_ADDR"; do
    split_addr "$addr"
    if tcp_open "$ADDR_HOST" "$ADDR_PORT"; then
        die "something already listens on $ADDR_HOST:$ADDR_PORT (an eHelpdesk service from another 'make run'?);" \
            "stop it, or choose other addresses with COMMAND_ADDR / PROJECTION_ADDR /" \
            "NOTIFIER_ADDR / WEB_ADDR / COMMAND_ADMIN_ADDR / PROJECTION_ADMIN_ADDR / NOTIFIER_ADMIN_ADDR"
    fi
done

# Tokens: the services and `make token` / `make demo` share one development secret.
export JWT_HS256_SECRET=${JWT_HS256_SECRET:-$("$ROOT/scripts/dev-secret.sh")}
say "development token secret (JWT_HS256_SECRET, kept in .data/jwt-secret): $JWT_HS256_SECRET"
say "mint a token with: make token ID=pic-aminah ROLE=pic NAME='Aminah binti Yusof'"
# Staff act only as the staff directory says; this (invented) admin may act before anyone
# is registered, to register the rest (and herself).
export BOOTSTRAP_ADMIN_IDS=${BOOTSTRAP_ADMIN_IDS:-admin-siti}
say "bootstrap admin (BOOTSTRAP_ADMIN_IDS): $BOOTSTRAP_ADMIN_IDS"

"$ROOT/scripts/services.sh" up --session "$session"

say "building the services (cargo build --release --bins -p ehelpdesk-command -p ehelpdesk-projection -p ehelpdesk-notifier -p ehelpdesk-web)"
# In the background (its own process group) and waited for, so that Ctrl-C or SIGTERM
# is acted on at once: bash runs traps only between foreground commands.
setsid cargo build --release --bins -p ehelpdesk-command -p ehelpdesk-projection -p ehelpdesk-notifier -p ehelpdesk-web </dev/null &
build_pid=$!
rc=0
wait "$build_pid" || rc=$?
build_pid=""
((rc == 0)) || die "cargo build failed (status $rc)"

say "starting ehelpdesk-command on $COMMAND_ADDR"
"$BIN_DIR/ehelpdesk-command" </dev/null &
cmd_pid=$!
say "starting ehelpdesk-projection on $PROJECTION_ADDR"
"$BIN_DIR/ehelpdesk-projection" </dev/null &
proj_pid=$!
if [[ -z ${SMTP_URL:-} && ${MAIL_DELIVERY:-files} == files ]]; then
    say "no SMTP server configured (SMTP_URL): e-mails are written to $MAIL_DIR as .eml files"
fi
if [[ -z ${WHATSAPP_TOKEN:-} && ${WHATSAPP_DELIVERY:-files} == files ]]; then
    say "no WhatsApp Cloud API token configured (WHATSAPP_TOKEN): WhatsApp messages are written to $WHATSAPP_DIR"
fi
say "starting ehelpdesk-notifier on $NOTIFIER_ADDR"
"$BIN_DIR/ehelpdesk-notifier" </dev/null &
notifier_pid=$!
split_addr "$COMMAND_ADDR"
export COMMAND_URL=${COMMAND_URL:-http://$URL_HOST:$ADDR_PORT}
split_addr "$PROJECTION_ADDR"
export QUERY_URL=${QUERY_URL:-http://$URL_HOST:$ADDR_PORT}
say "starting ehelpdesk-web on $WEB_ADDR"
"$BIN_DIR/ehelpdesk-web" </dev/null &
web_pid=$!

# Each service listens within seconds (the command service also when NATS is slow: it
# then answers 503 until the stream is set up). A service that exits is reported, and
# the projection exiting does not stop the run.
proj_note=""
projection_exited() {
    local rc=0
    wait "$proj_pid" || rc=$?
    proj_pid=""
    proj_note="not running: ehelpdesk-projection exited with status $rc (see its output above)"
    if ((rc == 2)); then proj_note+="; today it is a placeholder, the read side is not built yet"; fi
    warn "$proj_note. The command service keeps running."
}

wait_listening() { # NAME PID ADDR -> 0 listening, 1 exited, 2 timed out
    local name=$1 pid=$2 deadline=$((SECONDS + 90))
    split_addr "$3"
    until tcp_open "$ADDR_HOST" "$ADDR_PORT"; do
        kill -0 "$pid" 2>/dev/null || return 1
        if ((SECONDS >= deadline)); then
            warn "$name does not listen on $ADDR_HOST:$ADDR_PORT after 90 s; still waiting for it"
            return 2
        fi
        sleep 0.3
    done
}

cmd_state=0
wait_listening ehelpdesk-command "$cmd_pid" "$COMMAND_ADDR" || cmd_state=$?
if ((cmd_state == 1)); then
    rc=0
    wait "$cmd_pid" || rc=$?
    cmd_pid=""
    die "ehelpdesk-command exited with status $rc (see its output above)"
fi
proj_state=0
wait_listening ehelpdesk-projection "$proj_pid" "$PROJECTION_ADDR" || proj_state=$?
((proj_state == 1)) && projection_exited
# service_exited NAME PID_VAR NOTE_VAR CONSEQUENCE: reaps a service that stopped, and notes it
# for the summary; the run goes on without it.
service_exited() {
    local name=$1 pid_var=$2 note_var=$3 consequence=$4 rc=0
    wait "${!pid_var}" || rc=$?
    printf -v "$pid_var" '%s' ""
    printf -v "$note_var" '%s' "not running: $name exited with status $rc (see its output above)"
    warn "${!note_var}. $consequence"
}
notifier_note=""
notifier_exited() {
    service_exited ehelpdesk-notifier notifier_pid notifier_note \
        "The other services keep running; nobody is notified meanwhile."
}
notifier_state=0
wait_listening ehelpdesk-notifier "$notifier_pid" "$NOTIFIER_ADDR" || notifier_state=$?
((notifier_state == 1)) && notifier_exited
web_note=""
web_exited() { service_exited ehelpdesk-web web_pid web_note "The APIs keep running."; }
web_state=0
wait_listening ehelpdesk-web "$web_pid" "$WEB_ADDR" || web_state=$?
((web_state == 1)) && web_exited

split_addr "$COMMAND_ADDR"
cmd_url="http://$URL_HOST:$ADDR_PORT"
cmd_ready=$(http_status "$ADDR_HOST" "$ADDR_PORT" /readyz || echo "no answer")
split_addr "$PROJECTION_ADDR"
proj_url="http://$URL_HOST:$ADDR_PORT"
{
    echo
    echo "  eHelpdesk is running. Ctrl-C stops it (and the servers this run started)."
    echo
    split_addr "$WEB_ADDR"
    if [[ -n $web_note ]]; then
        echo "  web app       http://$URL_HOST:$ADDR_PORT          $web_note"
    else
        echo "  web app       http://$URL_HOST:$ADDR_PORT          open it in a browser; sign in as any invented person"
    fi
    echo "  command API   $cmd_url          GET /readyz: $cmd_ready"
    echo "     OpenAPI    $cmd_url/openapi.json"
    if [[ -n $proj_note ]]; then
        echo "  query API     $proj_url          $proj_note"
    else
        echo "  query API     $proj_url          GET /readyz: $(http_status "$ADDR_HOST" "$ADDR_PORT" /readyz || echo "no answer")"
    fi
    echo "     OpenAPI    $proj_url/openapi.json"
    split_addr "$NOTIFIER_ADDR"
    if [[ -n $notifier_note ]]; then
        echo "  notifier      http://$URL_HOST:$ADDR_PORT          $notifier_note"
    else
        echo "  notifier      http://$URL_HOST:$ADDR_PORT          GET /readyz: $(http_status "$ADDR_HOST" "$ADDR_PORT" /readyz || echo "no answer")"
    fi
    echo "     e-mail     ${SMTP_URL:+SMTP (SMTP_URL)}${SMTP_URL:-files in $MAIL_DIR}"
    echo "     WhatsApp   ${WHATSAPP_TOKEN:+the Cloud API}${WHATSAPP_TOKEN:-files in $WHATSAPP_DIR}; quiet hours ${WHATSAPP_QUIET_HOURS:-22:00-07:00} (Malaysian time)"
    split_addr "$COMMAND_ADMIN_ADDR"
    echo "  metrics       http://$URL_HOST:$ADDR_PORT/metrics (command)"
    split_addr "$PROJECTION_ADMIN_ADDR"
    echo "                http://$URL_HOST:$ADDR_PORT/metrics (projection)"
    split_addr "$NOTIFIER_ADMIN_ADDR"
    echo "                http://$URL_HOST:$ADDR_PORT/metrics (notifier)"
    echo
    echo "  NATS_URL=$NATS_URL"
    echo "  DATABASE_URL=$(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$DATABASE_URL")"
    echo
}

while :; do
    if ! kill -0 "$cmd_pid" 2>/dev/null; then
        rc=0
        wait "$cmd_pid" || rc=$?
        cmd_pid=""
        warn "ehelpdesk-command exited with status $rc; stopping"
        exit "$rc"
    fi
    if [[ -n $proj_pid ]] && ! kill -0 "$proj_pid" 2>/dev/null; then
        projection_exited
    fi
    if [[ -n $notifier_pid ]] && ! kill -0 "$notifier_pid" 2>/dev/null; then
        notifier_exited
    fi
    if [[ -n $web_pid ]] && ! kill -0 "$web_pid" 2>/dev/null; then
        web_exited
    fi
    sleep 1 &
    wait $! || true
done
