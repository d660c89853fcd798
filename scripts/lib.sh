# shellcheck shell=bash
# shellcheck disable=SC2034,SC2016  # variables are used by the scripts that source this file
# Helpers shared by scripts/*.sh. Source it; it defines functions and a few variables only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
STATE_FILE="$DATA/started-by-make"
LOG_TAG="${LOG_TAG:-services}"

say() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$LOG_TAG" "$*" >&2; }
die() {
    printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2
    exit 1
}

# Runs a command as root: directly when we are root, else through sudo. Without a terminal
# (CI, no stdin) sudo must not wait for a password, so it runs non-interactively.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [[ -t 0 ]]; then
            sudo "$@"
        else
            sudo -n "$@" || die "'sudo $*' needs a password and there is no terminal; run it once by hand or as root"
        fi
    else
        die "need root for: $* (not root and sudo is not installed)"
    fi
}

APT_UPDATED=""
# apt_install PACKAGE...: installs Debian packages (apt-get update first, once per run).
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found: install $* with your system's package manager and try again"
    say "installing Debian package(s): $* (apt-get; needs root)"
    if [[ -z $APT_UPDATED ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# True when a TCP connection to HOST PORT succeeds within ~2 s (bash's /dev/tcp: no tools).
tcp_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# http_status HOST PORT PATH: the status code of a plain HTTP/1.0 GET (no curl needed).
http_status() {
    local line
    line=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
        printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$0" >&3 && head -n 1 <&3' "$1" "$2" "$3" 2>/dev/null) ||
        return 1
    line=${line#HTTP/* }
    printf '%s\n' "${line%% *}"
}

# Prints the INFO line a NATS server sends on connect; fails if none arrives in ~2 s.
nats_info() {
    local host=$1 port=$2 line
    line=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -n 1 <&3' "$host" "$port" 2>/dev/null) || return 1
    [[ $line == INFO* ]] || return 1
    printf '%s\n' "${line%$'\r'}"
}

# nats_info_field INFO KEY: a scalar value from the INFO JSON (good enough for flat keys).
nats_info_field() {
    local info=$1 key=$2 v
    v=$(grep -o "\"$key\":[^,}]*" <<<"$info" | head -n 1) || return 0
    v=${v#*:}
    v=${v#\"}
    printf '%s' "${v%\"}"
}

# parse_url URL: sets U_SCHEME U_USER U_PASS U_HOST U_PORT U_PATH (percent-decoded user and
# password; U_PATH without the leading slash and without ?query).
parse_url() {
    local url=$1 rest authority userinfo hostport
    U_SCHEME="" U_USER="" U_PASS="" U_HOST="" U_PORT="" U_PATH=""
    if [[ $url == *://* ]]; then
        U_SCHEME=${url%%://*}
        rest=${url#*://}
    else
        rest=$url
    fi
    authority=${rest%%[/?]*}
    if [[ $rest == */* ]]; then
        U_PATH=${rest#*/}
        U_PATH=${U_PATH%%\?*}
    fi
    if [[ $authority == *@* ]]; then
        userinfo=${authority%@*}
        hostport=${authority##*@}
        U_USER=$(urldecode "${userinfo%%:*}")
        [[ $userinfo == *:* ]] && U_PASS=$(urldecode "${userinfo#*:}")
    else
        hostport=$authority
    fi
    if [[ $hostport == \[* ]]; then # [::1]:5432
        U_HOST=${hostport#[}
        U_HOST=${U_HOST%%]*}
        rest=${hostport#*]}
        U_PORT=${rest#:}
    else
        U_HOST=${hostport%%:*}
        [[ $hostport == *:* ]] && U_PORT=${hostport#*:}
    fi
    U_PATH=$(urldecode "$U_PATH")
    return 0
}

urldecode() {
    local s=${1//+/ }
    printf '%b' "${s//%/\\x}"
}

# True for host names this machine can listen on without further set-up.
is_local_host() {
    case $1 in
        localhost | 127.* | ::1 | 0.0.0.0 | ::) return 0 ;;
        *) return 1 ;;
    esac
}

# Path of nats-server (PATH or the Debian location), or nothing.
find_nats_server() {
    if command -v nats-server >/dev/null 2>&1; then
        command -v nats-server
    elif [[ -x /usr/sbin/nats-server ]]; then
        echo /usr/sbin/nats-server
    fi
}

# Makes sure nats-server is installed; prints its path.
ensure_nats_server() {
    local bin
    bin=$(find_nats_server)
    if [[ -z $bin ]]; then
        apt_install nats-server >&2
        bin=$(find_nats_server)
        [[ -n $bin ]] || die "nats-server still not found after installing the Debian package"
        # On a machine with systemd the package enables and starts a system-wide
        # nats-server WITHOUT JetStream on 127.0.0.1:4222. That server did not exist before
        # this script installed it and would take the port this project needs: turn it off.
        if [[ -d /run/systemd/system ]] && systemctl is-enabled --quiet nats-server.service 2>/dev/null; then
            say "the nats-server package enabled its own system service (no JetStream, port 4222);" \
                "disabling it: this project starts a JetStream server of its own" >&2
            as_root systemctl disable --now nats-server.service >&2 || warn "could not disable nats-server.service"
        fi
    fi
    echo "$bin"
}

# Newest PostgreSQL server bin directory (/usr/lib/postgresql/<ver>/bin), or nothing.
find_pg_bindir() {
    local d
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]] && echo "$d"
    return 0
}

# Makes sure PostgreSQL's server programs are installed; prints their bin directory.
ensure_pg_server() {
    local bindir
    bindir=$(find_pg_bindir)
    if [[ -z $bindir ]]; then
        # Installing the package normally creates AND starts a system cluster "main" on
        # port 5432 with password authentication over TCP, which would then sit on the port
        # this project wants. Tell postgresql-common not to create it: this project runs its
        # own cluster under .data/. (Only done here, when no server package is installed.)
        if [[ ! -e /etc/postgresql-common/createcluster.d/50-ehelpdesk-no-main-cluster.conf ]] &&
            [[ -z $(ls -A /etc/postgresql 2>/dev/null) ]]; then
            say "telling postgresql-common not to create a system cluster on install" \
                "(/etc/postgresql-common/createcluster.d/50-ehelpdesk-no-main-cluster.conf)" >&2
            as_root mkdir -p /etc/postgresql-common/createcluster.d
            printf '%s\n' "# Written by eHelpdesk's scripts/services.sh: it runs its own cluster." \
                "create_main_cluster = false" |
                as_root tee /etc/postgresql-common/createcluster.d/50-ehelpdesk-no-main-cluster.conf >/dev/null
        fi
        apt_install postgresql >&2
        bindir=$(find_pg_bindir)
        [[ -n $bindir ]] || die "PostgreSQL server programs not found in /usr/lib/postgresql/*/bin after install"
    fi
    echo "$bindir"
}

# Makes sure psql is available (the client package alone when a server runs elsewhere).
ensure_psql() {
    command -v psql >/dev/null 2>&1 && return 0
    local bindir
    bindir=$(find_pg_bindir)
    if [[ -n $bindir && -x $bindir/psql ]]; then
        PATH="$bindir:$PATH"
        return 0
    fi
    apt_install postgresql-client
    command -v psql >/dev/null 2>&1 || die "psql not found after installing postgresql-client"
}

# Closes every file descriptor above 2 in the current (sub)shell. Call it in a subshell
# before starting a server: a daemon must not keep the pipes of whoever started it open
# (a CI runner or `| tee` waits for those), nor the lock on .data/.lock.
close_extra_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
            { eval "exec $fd>&-"; } 2>/dev/null || true
        fi
    done
}

# Serialises scripts that change .data/ (two `make` commands at once).
lock_data() {
    mkdir -p "$DATA"
    exec 9>"$DATA/.lock"
    if ! flock -w 120 9; then
        die "another services.sh holds $DATA/.lock for more than 2 minutes"
    fi
}
