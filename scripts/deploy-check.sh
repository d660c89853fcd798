#!/usr/bin/env bash
# `make deploy-check`: validates what can be validated of deploy/ without Docker or a
# Kubernetes cluster:
#   - every deploy/nats/*.conf passes `nats-server -c FILE -t` (the config parse test)
#   - every YAML file parses, and compose.yaml / k8s/*.yaml have the parts they need
#   - the env example files are KEY=value lines naming the variables the services read (and
#     the notifier's carries no secret: WHATSAPP_TOKEN empty, no password in SMTP_URL)
#   - the systemd units pass `systemd-analyze verify` (when systemd-analyze is present)
#   - the alert rules pass `promtool check rules` and their unit tests `promtool test rules`
#     (when promtool is present)
#   - `docker compose config` accepts compose.yaml (when the compose plugin is present)
# Installs what it needs (nats-server; PyYAML) when missing.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=deploy-check
DEPLOY="$ROOT/deploy"
failures=0
fail() {
    printf '[%s] FAIL: %s\n' "$LOG_TAG" "$*" >&2
    failures=$((failures + 1))
}

# --- NATS cluster configs ---------------------------------------------------------------
nats_bin=$(ensure_nats_server)
shopt -s nullglob
confs=("$DEPLOY"/nats/*.conf)
((${#confs[@]} == 3)) || fail "expected 3 files deploy/nats/nats-{1,2,3}.conf, found ${#confs[@]}"
for conf in "${confs[@]}"; do
    # -t only parses: the route hosts (nats-1..3) need not resolve and nothing is created.
    if out=$("$nats_bin" -c "$conf" -t 2>&1); then
        say "ok   ${conf#"$ROOT"/}: $out"
    else
        fail "${conf#"$ROOT"/}: $out"
    fi
done

# --- YAML (PyYAML) ----------------------------------------------------------------------
python_with_yaml() {
    if command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
        PY=(python3)
        return 0
    fi
    local pylib="$DATA/pylib"
    if command -v python3 >/dev/null 2>&1 && PYTHONPATH=$pylib python3 -c 'import yaml' 2>/dev/null; then
        PY=(env "PYTHONPATH=$pylib" python3)
        return 0
    fi
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
        say "PyYAML missing: pip install --target .data/pylib pyyaml"
        mkdir -p "$pylib"
        if python3 -m pip install --quiet --disable-pip-version-check --target "$pylib" pyyaml; then
            PY=(env "PYTHONPATH=$pylib" python3)
            return 0
        fi
        warn "pip could not install PyYAML; trying the Debian package"
    fi
    apt_install python3-yaml
    PY=(/usr/bin/python3)
    "${PY[@]}" -c 'import yaml' || die "python3 cannot import yaml even after installing python3-yaml"
}
python_with_yaml

if ! "${PY[@]}" - "$DEPLOY" <<'PYTHON'; then
import os
import re
import sys

import yaml

deploy = sys.argv[1]
errors = []


def err(msg):
    errors.append(msg)
    print(f"[deploy-check] FAIL: {msg}", file=sys.stderr)


def ok(msg):
    print(f"[deploy-check] ok   {msg}")


docs = {}
for dirpath, _, files in os.walk(deploy):
    for name in sorted(files):
        if name.endswith((".yaml", ".yml")):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, os.path.dirname(deploy))
            try:
                with open(path, encoding="utf-8") as f:
                    docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
                ok(f"{rel}: YAML parses ({len(docs[rel])} document(s))")
            except yaml.YAMLError as e:
                err(f"{rel}: {e}")
if not docs:
    err("no YAML files under deploy/")

# compose.yaml: the services, their build files, env files, mounted files, healthchecks.
compose = docs.get("deploy/compose.yaml")
if compose is None:
    err("deploy/compose.yaml missing")
else:
    c = compose[0]
    services = c.get("services", {})
    for name in ["nats-1", "nats-2", "nats-3", "postgres", "command", "projection", "notifier"]:
        if name not in services:
            err(f"compose.yaml: service {name} missing")
    for name, svc in services.items():
        hc = svc.get("healthcheck", {}).get("test")
        if not (isinstance(hc, list) and hc and all(isinstance(x, str) for x in hc)):
            err(f"compose.yaml: {name}: healthcheck.test must be a list of strings, got {hc!r}")
        build = svc.get("build")
        if build:
            ctx = os.path.normpath(os.path.join(deploy, build.get("context", ".")))
            df = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
            if not os.path.isfile(df):
                err(f"compose.yaml: {name}: dockerfile {df} missing")
        env_files = svc.get("env_file", [])
        for ef in [env_files] if isinstance(env_files, str) else env_files:
            if not os.path.isfile(os.path.join(deploy, ef)):
                err(f"compose.yaml: {name}: env_file {ef} missing")
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0] if isinstance(vol, str) else ""
            if src.startswith("./") and not os.path.exists(os.path.join(deploy, src)):
                err(f"compose.yaml: {name}: mounted file {src} missing")
        for dep in svc.get("depends_on", {}):
            if dep not in services:
                err(f"compose.yaml: {name}: depends on unknown service {dep}")
    ok("compose.yaml: services, build files, env files, mounts and healthchecks")

# Kubernetes manifests.
k8s_kinds = {}
for rel, ds in docs.items():
    if not rel.startswith("deploy/k8s/"):
        continue
    for d in ds:
        kind = d.get("kind")
        if not d.get("apiVersion") or not kind:
            err(f"{rel}: a document without apiVersion/kind")
            continue
        if kind != "Kustomization" and not d.get("metadata", {}).get("name"):
            err(f"{rel}: {kind} without metadata.name")
        k8s_kinds.setdefault(kind, []).append((rel, d))
for kind in ["Namespace", "ConfigMap", "Deployment", "Service"]:
    if kind not in k8s_kinds:
        err(f"deploy/k8s: no {kind}")
deployments = {d["metadata"]["name"] for _, d in k8s_kinds.get("Deployment", [])}
for name in ["ehelpdesk-command", "ehelpdesk-projection", "ehelpdesk-notifier"]:
    if name not in deployments:
        err(f"deploy/k8s: no Deployment {name}")
for rel, d in k8s_kinds.get("Deployment", []):
    name = d["metadata"]["name"]
    spec = d["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        err(f"{rel}: {name}: selector does not match the pod labels")
    for ctr in spec["template"]["spec"]["containers"]:
        rp = ctr.get("readinessProbe", {}).get("httpGet", {}).get("path")
        lp = ctr.get("livenessProbe", {}).get("httpGet", {}).get("path")
        if rp != "/readyz" or lp != "/healthz":
            err(f"{rel}: {name}: want readiness /readyz and liveness /healthz, got {rp} and {lp}")
        if not ctr.get("resources", {}).get("requests"):
            err(f"{rel}: {name}: no resource requests")
for rel, d in k8s_kinds.get("Kustomization", []):
    for res in d.get("resources", []):
        if not os.path.exists(os.path.join(os.path.dirname(os.path.join(os.path.dirname(deploy), rel)), res)):
            err(f"{rel}: resource {res} missing")
if "Deployment" in k8s_kinds:
    ok("k8s: kinds, names, selectors, probes, resources, kustomization resources")

# Env example files: KEY=value lines, known names, what each service needs.
common = {"NATS_URL", "STREAM_NAME", "SUBJECT_PREFIX", "STREAM_REPLICAS", "DUPLICATE_WINDOW_SECS",
          "LOG_FORMAT", "RUST_LOG"}
optional_common = {"OTEL_EXPORTER_OTLP_ENDPOINT"}
# The notifier reads NATS_URL and STREAM_REPLICAS of `common` (it creates NOTIFY and its
# delivery-record bucket with those replicas); the rest of `common` it parses but uses not.
notifier_core = {"APP_ENV", "NATS_URL", "STREAM_REPLICAS", "NOTIFY_STREAM", "NOTIFY_SUBJECT_PREFIX",
                 "NOTIFIER_ADDR", "NOTIFIER_ADMIN_ADDR", "LOG_FORMAT", "RUST_LOG"}
notifier_providers = {"MAIL_DELIVERY", "SMTP_URL", "MAIL_FROM", "PUBLIC_BASE_URL", "WHATSAPP_DELIVERY",
                      "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_TOKEN"}
notifier_tuning = {"NOTIFIER_CONSUMER", "NOTIFIER_CONCURRENCY", "NOTIFIER_ACK_WAIT_SECS", "NOTIFIER_LEASE_SECS",
                   "NOTIFIER_MAX_ATTEMPTS", "NOTIFIER_RETRY_BASE_MS", "NOTIFIER_RETRY_MAX_MS",
                   "NOTIFIER_SEND_TIMEOUT_SECS"}
want = {  # must be set in the example files
    "command": common | {"COMMAND_ADDR", "COMMAND_ADMIN_ADDR", "AGGREGATE_CACHE_SIZE"},
    "projection": common | {"DATABASE_URL", "PROJECTION_ADDR", "PROJECTION_ADMIN_ADDR"},
    "notifier": notifier_core | notifier_providers | notifier_tuning,
}
http_limits = {"HTTP_HEADER_READ_TIMEOUT_MS", "HTTP_REQUEST_TIMEOUT_MS", "HTTP_MAX_CONNECTIONS"}
auth = optional_common | {"APP_ENV", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_JWKS_URL", "JWT_JWKS_FILE", "JWT_HS256_SECRET",
        "DEV_ACTOR_HEADERS", "JWT_MAX_LIFETIME_SECONDS", "BOOTSTRAP_ADMIN_IDS", "STAFF_CACHE_SECONDS"}
allowed = {  # may be set: every other variable the services read (README's table)
    "command": want["command"] | auth | http_limits | {"RATE_LIMIT_PER_SECOND", "RATE_LIMIT_BURST", "COMPLAINT_ID_SECRET",
        "NOTIFY_STREAM", "NOTIFY_SUBJECT_PREFIX"},
    "projection": want["projection"] | auth | http_limits | {
        "READ_MODEL_SCHEMA", "CONSUMER_NAME", "BATCH_SIZE", "NOTIFY_STREAM", "NOTIFY_SUBJECT_PREFIX",
        "OUTBOX_RELAY", "WEEKEND_DAYS", "HOLIDAYS_FILE", "RESOLUTION_TARGET_DAYS", "MIN_SEQ_WAIT_MS",
        "DATABASE_MAX_CONNECTIONS", "EXPORT_MAX_CONCURRENT", "EXPORT_WRITE_TIMEOUT_SECS",
        "MIN_SEQ_WAITERS", "PROJECTOR", "RECEIPTS", "RECEIPTS_CONSUMER"},
    # Not NOTIFIER_FAULT: a test hook (refused with APP_ENV=production) has no place here.
    "notifier": want["notifier"] | common | optional_common | http_limits | {
        "MAIL_REPLY_TO", "MAIL_DIR", "WHATSAPP_API_BASE", "WHATSAPP_API_VERSION", "WHATSAPP_LANGUAGE",
        "WHATSAPP_DIR"},
}
for svc, names in want.items():
    rel = f"env/{svc}.env.example"
    path = os.path.join(deploy, rel)
    if not os.path.isfile(path):
        err(f"deploy/{rel} missing")
        continue
    seen = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            # Spaces inside a value (MAIL_FROM's display name) read the same in compose and
            # systemd; quotes, spaces at either end and " #" (compose cuts a comment there)
            # do not.
            m = re.fullmatch(r"([A-Z][A-Z0-9_]*)=((?:[^\s\"']|[^\s\"'][^\"']*[^\s\"'])?)", line)
            if not m or " #" in m.group(2):
                err(f"deploy/{rel}:{n}: not KEY=value without quotes or outer spaces: {line!r}")
                continue
            seen[m.group(1)] = m.group(2)
    if seen.keys() - allowed[svc]:
        err(f"deploy/{rel}: unknown variables {sorted(seen.keys() - allowed[svc])}")
    if names - seen.keys():
        err(f"deploy/{rel}: missing {sorted(names - seen.keys())}")
    # An example is committed and copied around: it must not carry a real secret.
    if seen.get("WHATSAPP_TOKEN"):
        err(f"deploy/{rel}: WHATSAPP_TOKEN must be empty in the example (a secret)")
    if seen.get("SMTP_URL"):
        from urllib.parse import urlsplit
        try:
            has_password = urlsplit(seen["SMTP_URL"]).password is not None
        except ValueError:
            has_password = True
        if has_password:
            err(f"deploy/{rel}: SMTP_URL must carry no password in the example (a secret)")
    ok(f"deploy/{rel}: {len(seen)} variables")

# The Kubernetes ConfigMap sets only variables the services read (secrets: Secrets).
for rel, d in k8s_kinds.get("ConfigMap", []):
    keys = set(d.get("data", {}))
    unknown = keys - allowed["command"] - allowed["projection"] - allowed["notifier"]
    if unknown:
        err(f"{rel}: unknown variables {sorted(unknown)}")
    for secret in ("DATABASE_URL", "JWT_HS256_SECRET", "COMPLAINT_ID_SECRET", "SMTP_URL", "WHATSAPP_TOKEN"):
        if secret in keys:
            err(f"{rel}: {secret} is a secret; it belongs in a Secret, not the ConfigMap")

# Observability: alert rules and the dashboard name only metrics the services export.
known_metrics = {
    "up", "http_requests_total", "http_problems_total", "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_count",
    "http_request_duration_seconds_sum", "ehelpdesk_commands_total", "ehelpdesk_append_duration_seconds_bucket",
    "ehelpdesk_append_duration_seconds_count", "ehelpdesk_append_duration_seconds_sum",
    "ehelpdesk_projection_events_applied_total", "ehelpdesk_projection_batch_size_bucket",
    "ehelpdesk_projection_batch_size_count", "ehelpdesk_projection_batch_size_sum", "ehelpdesk_projection_lag_events",
    "ehelpdesk_projection_lag_seconds", "ehelpdesk_outbox_pending", "ehelpdesk_outbox_published_total",
    "ehelpdesk_rebuild_applied_events", "ehelpdesk_min_seq_waiters",
    "ehelpdesk_complaint_number_faults_total", "ehelpdesk_projection_skipped_events",
    "ehelpdesk_projection_consecutive_failures", "ehelpdesk_projection_stalled_seconds",
    "ehelpdesk_notifier_sent_total", "ehelpdesk_notifier_failed_total", "ehelpdesk_notifier_retried_total",
    "ehelpdesk_notifier_dead_lettered_total", "ehelpdesk_notifier_resent_after_crash_total",
    "ehelpdesk_notifier_send_seconds_bucket", "ehelpdesk_notifier_send_seconds_count",
    "ehelpdesk_notifier_send_seconds_sum", "ehelpdesk_notifier_delivery_delay_seconds_bucket",
    "ehelpdesk_notifier_delivery_delay_seconds_count", "ehelpdesk_notifier_delivery_delay_seconds_sum",
    "ehelpdesk_notifier_backlog", "ehelpdesk_notifier_undecodable_total",
}
# External metrics: exported by something other than the services, allowed by name here
# and nowhere else (node_exporter's filesystem space, for the NATS volume alerts).
external_metrics = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes"}
known_metrics |= external_metrics
promql_words = {"sum", "by", "rate", "or", "and", "histogram_quantile", "le", "job", "route", "status", "command",
                "outcome", "instance", "increase", "without", "on", "max", "min", "avg", "code", "delta",
                "channel", "absent", "deriv", "min_over_time", "max_over_time", "clamp_min", "unless", "bool"}


def metric_names(expr):
    expr = re.sub(r'"[^"]*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\boffset\s+-?[0-9][0-9smhdwy]*", "", expr)  # offsets (their unit is no metric)
    return {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if w not in promql_words}


rules_rel = "deploy/observability/prometheus-alerts.yaml"
rules = docs.get(rules_rel)
if not rules:
    err(f"{rules_rel} missing")
else:
    count = 0
    for group in rules[0].get("groups", []):
        for rule in group.get("rules", []):
            count += 1
            name = rule.get("alert", "?")
            for key in ("alert", "expr", "for"):
                if key not in rule:
                    err(f"{rules_rel}: rule {name} has no {key}")
            if rule.get("labels", {}).get("severity") not in ("warning", "critical"):
                err(f"{rules_rel}: rule {name} needs severity warning or critical")
            if "summary" not in rule.get("annotations", {}):
                err(f"{rules_rel}: rule {name} needs a summary")
            for metric in metric_names(rule.get("expr", "")) - known_metrics:
                err(f"{rules_rel}: rule {name} uses unknown metric {metric}")
    if count < 5:
        err(f"{rules_rel}: expected lag, outbox, 5xx, unreachable and down rules, found {count}")
    ok(f"{rules_rel}: {count} rules with known metrics")

import json
dash_rel = "observability/grafana-dashboard.json"
try:
    with open(os.path.join(deploy, dash_rel), encoding="utf-8") as f:
        dashboard = json.load(f)
    panels = dashboard.get("panels", [])
    if not panels:
        err(f"deploy/{dash_rel}: no panels")
    for panel in panels:
        for target in panel.get("targets", []):
            for metric in metric_names(target.get("expr", "")) - known_metrics:
                err(f"deploy/{dash_rel}: panel {panel.get('title')} uses unknown metric {metric}")
    ok(f"deploy/{dash_rel}: {len(panels)} panels with known metrics")
except (OSError, json.JSONDecodeError) as e:
    err(f"deploy/{dash_rel}: {e}")

sys.exit(1 if errors else 0)
PYTHON
    failures=$((failures + 1))
fi

# --- Dockerfiles (no linter here: the essentials) ---------------------------------------
for svc in command projection notifier; do
    df="$DEPLOY/docker/$svc.Dockerfile"
    if [[ ! -f $df ]]; then
        fail "deploy/docker/$svc.Dockerfile missing"
        continue
    fi
    missing=()
    grep -qE '^FROM .+ AS builder' "$df" || missing+=("a builder stage")
    grep -qE '^FROM debian:.*slim' "$df" || missing+=("a debian-slim runtime stage")
    grep -qE '^USER [^0r]' "$df" || missing+=("a non-root USER")
    grep -qE '^EXPOSE [0-9]+' "$df" || missing+=("EXPOSE")
    grep -q "ehelpdesk-$svc" "$df" || missing+=("the ehelpdesk-$svc binary")
    # Without it the whole target/ (gigabytes) would be sent as the build context.
    [[ -f $df.dockerignore ]] || missing+=("deploy/docker/$svc.Dockerfile.dockerignore")
    if ((${#missing[@]})); then
        fail "deploy/docker/$svc.Dockerfile lacks: ${missing[*]}"
    else
        say "ok   deploy/docker/$svc.Dockerfile: builder, debian-slim runtime, non-root user, EXPOSE"
    fi
done

# --- promtool (when installed) --------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
    promtool check rules "$DEPLOY/observability/prometheus-alerts.yaml" >/dev/null ||
        fail "promtool check rules deploy/observability/prometheus-alerts.yaml"
    say "ok   promtool check rules: deploy/observability/prometheus-alerts.yaml"
    # Which alerts fire on which series: "projection behind" is not "unreachable".
    (cd "$DEPLOY/observability" && promtool test rules prometheus-alerts-test.yaml >/dev/null) ||
        fail "promtool test rules deploy/observability/prometheus-alerts-test.yaml"
    say "ok   promtool test rules: deploy/observability/prometheus-alerts-test.yaml"
else
    say "skip promtool check and test rules: promtool is not installed (the structure and metric names were checked)"
fi

# --- systemd units ----------------------------------------------------------------------
units=("$DEPLOY"/systemd/*.service)
((${#units[@]} == 3)) || fail "expected 3 units in deploy/systemd, found ${#units[@]}"
if command -v systemd-analyze >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for unit in "${units[@]}"; do
        # verify insists that ExecStart's program exists; the binaries are installed
        # only on the target machine, so check a copy that starts /bin/true instead.
        sed -E 's#^(ExecStart=)/usr/local/bin/(ehelpdesk-[a-z]+)#\1/bin/true \2#' "$unit" >"$tmp/${unit##*/}"
        if out=$(systemd-analyze verify "$tmp/${unit##*/}" 2>&1) && [[ -z $out ]]; then
            say "ok   ${unit#"$ROOT"/}: systemd-analyze verify is silent"
        else
            fail "${unit#"$ROOT"/}: systemd-analyze verify: ${out//$tmp\//}"
        fi
    done
else
    say "skip deploy/systemd/*.service: systemd-analyze is not installed here"
fi

# --- docker compose ---------------------------------------------------------------------
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    if out=$(docker compose -f "$DEPLOY/compose.yaml" config --quiet 2>&1); then
        say "ok   deploy/compose.yaml: docker compose config accepts it"
    else
        fail "deploy/compose.yaml: docker compose config: $out"
    fi
else
    say "skip docker compose config: the docker compose plugin is not installed here"
fi

if ((failures)); then
    die "$failures group(s) of checks failed; see the FAIL lines above"
fi
say "all deploy checks passed"
