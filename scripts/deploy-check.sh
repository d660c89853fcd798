#!/usr/bin/env bash
# `make deploy-check`: validates what can be validated of deploy/ without Docker or a
# Kubernetes cluster:
#   - every deploy/nats/*.conf passes `nats-server -c FILE -t` (the config parse test)
#   - every YAML file parses, and compose.yaml / k8s/*.yaml have the parts they need: every
#     service and the web app (`web`, `ehelpdesk-web`), its env file, ports, dependencies,
#     Services and Secrets
#   - the env example files are KEY=value lines naming the variables the services and the web
#     app read (for the web app also checked against what its code reads: its
#     configuration.rs and the shared JWT, HTTP and telemetry settings it uses), and carry no
#     secret: WHATSAPP_TOKEN, WEB_SESSION_SECRET and JWT_HS256_SECRET empty, no password in
#     SMTP_URL
#   - the Dockerfiles build their binary and copy only it into a debian-slim, non-root image
#   - the systemd units start their binary with their env file, and pass
#     `systemd-analyze verify` (when systemd-analyze is present)
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
from urllib.parse import urlsplit

deploy = sys.argv[1]
root = os.path.dirname(deploy)
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
    for name in ["nats-1", "nats-2", "nats-3", "postgres", "command", "projection", "notifier", "web"]:
        if name not in services:
            err(f"compose.yaml: service {name} missing")
    # What each of ours reads its settings from, and needs up before it starts.
    compose_needs = {"command": set(), "projection": {"postgres"}, "notifier": set(),
                     "web": {"command", "projection"}}
    for name, needs in compose_needs.items():
        svc = services.get(name) or {}
        env_files = svc.get("env_file", [])
        if f"env/{name}.env.example" not in ([env_files] if isinstance(env_files, str) else env_files):
            err(f"compose.yaml: {name}: env_file should be env/{name}.env.example")
        df = (svc.get("build") or {}).get("dockerfile")
        if df != f"deploy/docker/{name}.Dockerfile":
            err(f"compose.yaml: {name}: build.dockerfile should be deploy/docker/{name}.Dockerfile, got {df!r}")
        if needs - set(svc.get("depends_on", {})):
            err(f"compose.yaml: {name}: depends_on lacks {sorted(needs - set(svc.get('depends_on', {})))}")
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
for name in ["ehelpdesk-command", "ehelpdesk-projection", "ehelpdesk-notifier", "ehelpdesk-web"]:
    if name not in deployments:
        err(f"deploy/k8s: no Deployment {name}")
# The secrets each Deployment must take from its Secret (never from the ConfigMap or a value).
k8s_secrets = {
    "ehelpdesk-projection": {"DATABASE_URL": "ehelpdesk-db"},
    "ehelpdesk-notifier": {"SMTP_URL": "ehelpdesk-notifier", "WHATSAPP_TOKEN": "ehelpdesk-notifier"},
    "ehelpdesk-web": {"WEB_SESSION_SECRET": "ehelpdesk-web"},
}
container_ports = {}  # Deployment name -> {port name or number (str) -> containerPort}
container_images = set()
pod_labels = {}  # Deployment name -> the pod template's labels
for rel, d in k8s_kinds.get("Deployment", []):
    name = d["metadata"]["name"]
    spec = d["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        err(f"{rel}: {name}: selector does not match the pod labels")
    pod_labels[name] = labels
    ports = container_ports.setdefault(name, {})
    for ctr in spec["template"]["spec"]["containers"]:
        container_images.add(ctr.get("image"))
        for port in ctr.get("ports", []):
            ports[str(port.get("containerPort"))] = port.get("containerPort")
            if port.get("name"):
                ports[port["name"]] = port.get("containerPort")
        from_secret = {
            e.get("name"): ((e.get("valueFrom") or {}).get("secretKeyRef") or {}) for e in ctr.get("env", [])
        }
        for var, secret in k8s_secrets.get(name, {}).items():
            ref = from_secret.get(var, {})
            if ref.get("name") != secret or ref.get("key") != var:
                err(f"{rel}: {name}: {var} must come from the Secret {secret} (key {var}), got {ref or 'nothing'}")
        rp = ctr.get("readinessProbe", {}).get("httpGet", {}).get("path")
        lp = ctr.get("livenessProbe", {}).get("httpGet", {}).get("path")
        if rp != "/readyz" or lp != "/healthz":
            err(f"{rel}: {name}: want readiness /readyz and liveness /healthz, got {rp} and {lp}")
        if not ctr.get("resources", {}).get("requests"):
            err(f"{rel}: {name}: no resource requests")
    scrape_port = (spec["template"]["metadata"].get("annotations") or {}).get("prometheus.io/port")
    if scrape_port is not None and str(scrape_port) not in ports:
        err(f"{rel}: {name}: prometheus.io/port {scrape_port} is no port of its containers")
# Services: the APIs (the web app calls them) and the web app (people reach it). Each selects
# a Deployment's pods and targets one of its container ports.
k8s_services = {}  # Service name -> {port number -> the Deployment's containerPort it reaches}
for rel, d in k8s_kinds.get("Service", []):
    name = d["metadata"]["name"]
    selector = (d.get("spec") or {}).get("selector") or {}
    targets = [dep for dep, labels in pod_labels.items()
               if selector and all(labels.get(k) == v for k, v in selector.items())]
    if not targets:
        err(f"{rel}: Service {name}: its selector {selector} matches no Deployment's pods")
        continue
    reach = k8s_services.setdefault(name, {})
    for port in (d.get("spec") or {}).get("ports", []):
        target = str(port.get("targetPort", port.get("port")))
        if target not in container_ports.get(targets[0], {}):
            err(f"{rel}: Service {name}: targetPort {target} is no container port of {targets[0]}")
        else:
            reach[port.get("port")] = container_ports[targets[0]][target]
for name in ["ehelpdesk-command", "ehelpdesk-projection", "ehelpdesk-web"]:
    if name not in k8s_services:
        err(f"deploy/k8s: no Service {name}")
for rel, d in k8s_kinds.get("Kustomization", []):
    for res in d.get("resources", []):
        if not os.path.exists(os.path.join(os.path.dirname(os.path.join(os.path.dirname(deploy), rel)), res)):
            err(f"{rel}: resource {res} missing")
    # Every manifest here is applied: a file left out of resources would silently not be.
    listed = {os.path.normpath(r) for r in d.get("resources", [])}
    for other in sorted(r for r in docs if r.startswith("deploy/k8s/") and r != rel):
        if os.path.basename(other) not in listed:
            err(f"{rel}: resources lacks {os.path.basename(other)}")
    images = {i.get("name") for i in d.get("images", [])}
    for image in sorted(container_images - images, key=str):
        err(f"{rel}: no images entry for the image {image}")
if "Deployment" in k8s_kinds:
    ok("k8s: kinds, names, selectors, probes, resources, secrets, Services, kustomization resources and images")

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
notifier_tuning = {"NOTIFIER_CONSUMER", "NOTIFIER_CONCURRENCY", "NOTIFIER_SMTP_CONNECTIONS", "NOTIFIER_ACK_WAIT_SECS", "NOTIFIER_LEASE_SECS",
                   "NOTIFIER_MAX_ATTEMPTS", "NOTIFIER_RETRY_BASE_MS", "NOTIFIER_RETRY_MAX_MS",
                   "NOTIFIER_SEND_TIMEOUT_SECS"}
http_limits = {"HTTP_HEADER_READ_TIMEOUT_MS", "HTTP_REQUEST_TIMEOUT_MS", "HTTP_MAX_CONNECTIONS"}
# The web app reads no NATS or database settings: its own, the JWT_* it checks portal tokens
# with (the portal's keys among them, one required in production), the HTTP limits, logs.
web_core = {"APP_ENV", "WEB_ADDR", "COMMAND_URL", "QUERY_URL", "PUBLIC_BASE_URL", "WEB_SESSION_SECRET",
            "MYPKN_SIGN_IN_URL", "WEB_API_TIMEOUT_MS", "LOG_FORMAT", "RUST_LOG"}
web_tokens = {"JWT_ISSUER", "JWT_AUDIENCE", "JWT_MAX_LIFETIME_SECONDS", "JWT_JWKS_URL", "JWT_JWKS_FILE",
              "JWT_HS256_SECRET"}
want = {  # must be set in the example files
    "command": common | {"COMMAND_ADDR", "COMMAND_ADMIN_ADDR", "AGGREGATE_CACHE_SIZE"},
    "projection": common | {"DATABASE_URL", "PROJECTION_ADDR", "PROJECTION_ADMIN_ADDR"},
    "notifier": notifier_core | notifier_providers | notifier_tuning,
    "web": web_core | web_tokens | http_limits,
}
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
    # The rest of `auth` it parses with the JWT settings but uses not (DEV_ACTOR_HEADERS is
    # refused with APP_ENV=production; the staff directory is the command service's).
    "web": want["web"] | auth,
}
env_values = {}  # service -> {KEY: value} of its example
for svc, names in want.items():
    rel = f"env/{svc}.env.example"
    path = os.path.join(deploy, rel)
    if not os.path.isfile(path):
        err(f"deploy/{rel} missing")
        continue
    seen = env_values[svc] = {}
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
    for secret in ("WHATSAPP_TOKEN", "WEB_SESSION_SECRET", "JWT_HS256_SECRET", "COMPLAINT_ID_SECRET"):
        if seen.get(secret):
            err(f"deploy/{rel}: {secret} must be empty in the example (a secret)")
    if seen.get("SMTP_URL"):
        from urllib.parse import urlsplit
        try:
            has_password = urlsplit(seen["SMTP_URL"]).password is not None
        except ValueError:
            has_password = True
        if has_password:
            err(f"deploy/{rel}: SMTP_URL must carry no password in the example (a secret)")
    ok(f"deploy/{rel}: {len(seen)} variables")


# The web app's lists above, against what its code reads: a variable added to (or dropped
# from) services/web/src/configuration.rs, or to the shared settings it takes, fails here
# until web.env.example and the lists follow.
def read_text(rel):
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        err(f"{rel}: {e}")
        return ""


def fn_body(text, signature):
    # From `signature` to the end of that function (its closing brace at 4 spaces' indent).
    start = text.find(signature)
    if start < 0:
        return None
    end = text.find("\n    }\n", start)
    return text[start:end if end >= 0 else len(text)]


var_literal = re.compile(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"')
web_src = read_text("services/web/src/configuration.rs").split("#[cfg(test)]")[0]
web_main = read_text("services/web/src/main.rs")
web_reads = set(var_literal.findall(web_src))
for dirpath, _, names in os.walk(os.path.join(root, "services/web/src")):
    for n in names:
        if n.endswith(".rs"):  # direct reads anywhere in the crate, outside its tests
            text = read_text(os.path.relpath(os.path.join(dirpath, n), root)).split("#[cfg(test)]")[0]
            web_reads |= set(re.findall(r'env::var(?:_os)?\(\s*"([A-Z][A-Z0-9_]*)"', text))
shared_parts = [  # (what the web app's code calls, file, the function that reads the variables)
    ("AuthConfig::from_env", "shared/src/auth.rs", "pub fn from_env"),
    (".http()", "shared/src/config.rs", "pub fn http("),
    (".event_log()", "shared/src/config.rs", "pub fn event_log("),
]
for call, rel, signature in shared_parts:
    if call in web_src or call in web_main:
        body = fn_body(read_text(rel), signature)
        if body is None:
            err(f"{rel}: no `{signature}` (the web app calls {call}); update deploy-check")
        else:
            web_reads |= set(var_literal.findall(body))
if "telemetry::init(" in web_main:
    telemetry = read_text("shared/src/telemetry.rs")
    web_reads |= set(re.findall(r'env::var\(\s*"([A-Z][A-Z0-9_]*)"', telemetry))
    if "try_from_default_env" in telemetry:
        web_reads.add("RUST_LOG")  # EnvFilter's variable
if len(web_reads) < 10:
    err(f"services/web: found only {sorted(web_reads)} read by the web app; update deploy-check's parsing")
if web_reads - allowed["web"]:
    err(f"services/web reads {sorted(web_reads - allowed['web'])}, unknown to deploy-check: add them to "
        "deploy/env/web.env.example (and want/allowed in scripts/deploy-check.sh)")
if allowed["web"] - web_reads:
    err(f"deploy-check lists {sorted(allowed['web'] - web_reads)} for the web app, which it no longer reads")
ok(f"services/web: reads {len(web_reads)} variables, all of them known to deploy/env/web.env.example's check")

# The env examples agree with each other and with compose.yaml: the web app reaches the APIs
# at the compose services' ports, links and cookies use one PUBLIC_BASE_URL, and each of ours
# listens where compose publishes and probes it.
def port_of(addr):
    try:
        return int(str(addr).rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


addr_var = {"command": "COMMAND_ADDR", "projection": "PROJECTION_ADDR", "notifier": "NOTIFIER_ADDR",
            "web": "WEB_ADDR"}
web_env = env_values.get("web", {})
for var, target in (("COMMAND_URL", "command"), ("QUERY_URL", "projection")):
    try:
        u = urlsplit(web_env.get(var, ""))
        host, port = u.hostname, u.port
    except ValueError:
        host = port = None
    want_port = port_of(env_values.get(target, {}).get(addr_var[target]))
    if host != target or port != want_port:
        err(f"deploy/env/web.env.example: {var}={web_env.get(var)!r} should be http://{target}:{want_port} "
            f"(the compose service and its {addr_var[target]})")
if web_env.get("PUBLIC_BASE_URL") != env_values.get("notifier", {}).get("PUBLIC_BASE_URL"):
    err("deploy/env/web.env.example and notifier.env.example: PUBLIC_BASE_URL differs "
        "(the notifier's messages link to the web app)")
if compose is not None:
    for svc, var in addr_var.items():
        port = port_of(env_values.get(svc, {}).get(var))
        entry = (compose[0].get("services") or {}).get(svc) or {}
        published = {port_of(str(p).split("/")[0]) for p in entry.get("ports", [])}
        probe = " ".join(map(str, (entry.get("healthcheck") or {}).get("test") or []))
        if port is None or port not in published:
            err(f"compose.yaml: {svc}: does not publish port {port} ({var} in env/{svc}.env.example)")
        if port is None or f"/dev/tcp/127.0.0.1/{port}" not in probe:
            err(f"compose.yaml: {svc}: healthcheck does not probe port {port} ({var})")
ok("env examples and compose.yaml: the web app's API URLs, PUBLIC_BASE_URL, ports and probes agree")

# The Kubernetes ConfigMap sets only variables the services read (secrets: Secrets), and its
# addresses agree with the Deployments' ports and the Services the web app calls.
k8s_deployment = {"command": "ehelpdesk-command", "projection": "ehelpdesk-projection",
                  "notifier": "ehelpdesk-notifier", "web": "ehelpdesk-web"}
for rel, d in k8s_kinds.get("ConfigMap", []):
    data = d.get("data") or {}
    keys = set(data)
    unknown = keys - allowed["command"] - allowed["projection"] - allowed["notifier"] - allowed["web"]
    if unknown:
        err(f"{rel}: unknown variables {sorted(unknown)}")
    for secret in ("DATABASE_URL", "JWT_HS256_SECRET", "COMPLAINT_ID_SECRET", "SMTP_URL", "WHATSAPP_TOKEN",
                   "WEB_SESSION_SECRET"):
        if secret in keys:
            err(f"{rel}: {secret} is a secret; it belongs in a Secret, not the ConfigMap")
    if rel != "deploy/k8s/configmap.yaml":
        continue
    for svc, var in addr_var.items():
        http_port = container_ports.get(k8s_deployment[svc], {}).get("http")
        if port_of(data.get(var)) != http_port:
            err(f"{rel}: {var}={data.get(var)!r} is not {k8s_deployment[svc]}'s http port {http_port}")
    for var, target in (("COMMAND_URL", "ehelpdesk-command"), ("QUERY_URL", "ehelpdesk-projection")):
        try:
            u = urlsplit(str(data.get(var, "")))
            host, port = u.hostname, u.port
        except ValueError:
            host = port = None
        if (host or "").split(".")[0] != target or port not in k8s_services.get(target, {}):
            err(f"{rel}: {var}={data.get(var)!r} should reach the Service {target} at one of its ports "
                f"{sorted(k8s_services.get(target, {}))}")

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
SERVICES=(command projection notifier web)
for svc in "${SERVICES[@]}"; do
    df="$DEPLOY/docker/$svc.Dockerfile"
    if [[ ! -f $df ]]; then
        fail "deploy/docker/$svc.Dockerfile missing"
        continue
    fi
    missing=()
    grep -qE '^FROM .+ AS builder' "$df" || missing+=("a builder stage")
    grep -qE '^FROM debian:.*slim' "$df" || missing+=("a debian-slim runtime stage")
    grep -qE '^USER [^0r]' "$df" || missing+=("a non-root USER")
    grep -qE "cargo build --release --locked -p ehelpdesk-$svc --bin ehelpdesk-$svc" "$df" ||
        missing+=("cargo build of the ehelpdesk-$svc binary")
    # The runtime stage (after the last FROM) takes the binary and nothing else: the web app's
    # templates and static files, like everything else, are compiled into it.
    runtime=$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END{printf "%s", stage}' "$df")
    copies=$(grep -E '^(COPY|ADD) ' <<<"$runtime" || true)
    [[ $copies == "COPY --from=builder /usr/local/bin/ehelpdesk-$svc /usr/local/bin/ehelpdesk-$svc" ]] ||
        missing+=("a runtime stage copying only /usr/local/bin/ehelpdesk-$svc (it copies: ${copies:-nothing})")
    grep -qx "ENTRYPOINT \[\"/usr/local/bin/ehelpdesk-$svc\"\]" <<<"$runtime" || missing+=("ENTRYPOINT the binary")
    # It listens, in the image, on the port it EXPOSEs (the one compose and k8s use).
    addr_var="${svc^^}_ADDR"
    port=$(grep -oE "$addr_var=0\.0\.0\.0:[0-9]+" <<<"$runtime" | head -n 1 | cut -d: -f2 || true)
    if [[ -z $port ]]; then
        missing+=("ENV $addr_var=0.0.0.0:<port>")
    elif ! grep -qE "^EXPOSE( [0-9]+)* $port( |\$)" <<<"$runtime"; then
        missing+=("EXPOSE $port ($addr_var)")
    fi
    # Without it the whole target/ (gigabytes) would be sent as the build context.
    if [[ ! -f $df.dockerignore ]]; then
        missing+=("deploy/docker/$svc.Dockerfile.dockerignore")
    else
        for ignored in target .data; do
            grep -qx "$ignored" "$df.dockerignore" || missing+=("$ignored in $svc.Dockerfile.dockerignore")
        done
    fi
    if ((${#missing[@]})); then
        missing=("${missing[@]//$'\n'/; }")
        fail "deploy/docker/$svc.Dockerfile lacks: ${missing[*]}"
    else
        say "ok   deploy/docker/$svc.Dockerfile: builds ehelpdesk-$svc, copies only it into a debian-slim" \
            "runtime, non-root user, EXPOSE $port, .dockerignore"
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
((${#units[@]} == ${#SERVICES[@]})) ||
    fail "expected ${#SERVICES[@]} units in deploy/systemd (ehelpdesk-{${SERVICES[*]}}.service), found ${#units[@]}"
for svc in "${SERVICES[@]}"; do
    unit="$DEPLOY/systemd/ehelpdesk-$svc.service"
    if [[ ! -f $unit ]]; then
        fail "deploy/systemd/ehelpdesk-$svc.service missing"
    elif ! grep -qx "ExecStart=/usr/local/bin/ehelpdesk-$svc" "$unit" ||
        ! grep -qx "EnvironmentFile=/etc/ehelpdesk/$svc.env" "$unit" ||
        ! grep -q "install -m 0600 deploy/env/$svc.env.example /etc/ehelpdesk/$svc.env" "$unit"; then
        fail "deploy/systemd/ehelpdesk-$svc.service: want ExecStart=/usr/local/bin/ehelpdesk-$svc and" \
            "EnvironmentFile=/etc/ehelpdesk/$svc.env, installed from deploy/env/$svc.env.example"
    fi
done
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
