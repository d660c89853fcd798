# syntax=docker/dockerfile:1
# eHelpdesk web app image. Build from the repository root:
#   docker build -f deploy/docker/web.Dockerfile -t ehelpdesk-web .
# (deploy/compose.yaml does this.) web.Dockerfile.dockerignore beside this file keeps
# target/ and .data/ out of the build context.

ARG RUST_VERSION=1.94
ARG DEBIAN_RELEASE=bookworm

# ---- build ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
# No SQLX_OFFLINE here: the web app and ehelpdesk-shared check no queries at compile time.
# The askama templates (services/web/templates) are compiled in and the static files
# (services/web/static, htmx vendored) embedded with include_bytes!: no Node, no asset step.
ENV CARGO_TERM_COLOR=never
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ehelpdesk-web --bin ehelpdesk-web \
 && install -m 0755 target/release/ehelpdesk-web /usr/local/bin/ehelpdesk-web

# ---- run -----------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# The binary only: templates and static files are inside it. ca-certificates as in the other
# images (the JWKS fetch checks the portal's certificate against the roots built into the
# binary, webpki-roots).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ehelpdesk \
 && useradd --system --uid 10001 --gid ehelpdesk --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ehelpdesk
COPY --from=builder /usr/local/bin/ehelpdesk-web /usr/local/bin/ehelpdesk-web
# Production by default: portal sign-in only, no picker of invented people. WEB_SESSION_SECRET
# and the portal's keys (JWT_JWKS_URL, JWT_JWKS_FILE or JWT_HS256_SECRET) must be given at run
# time or the web app exits naming the one missing. COMMAND_URL and QUERY_URL default to
# 127.0.0.1, which in a container is the container itself: set them too.
ENV WEB_ADDR=0.0.0.0:8082 \
    APP_ENV=production \
    LOG_FORMAT=json \
    RUST_LOG=info
USER 10001:10001
# 8082: the pages, /healthz and /readyz (plain HTTP: TLS belongs to the proxy or Ingress in
# front). No admin port: the web app exports no metrics.
EXPOSE 8082
# Probes: GET /healthz (alive) and GET /readyz (both APIs answer). The image has no curl; the
# compose file probes with bash's /dev/tcp, Kubernetes with httpGet. SIGTERM: stop taking
# requests, finish the ones in flight, exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ehelpdesk-web"]
