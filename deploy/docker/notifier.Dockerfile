# syntax=docker/dockerfile:1
# eHelpdesk notifier image. Build from the repository root:
#   docker build -f deploy/docker/notifier.Dockerfile -t ehelpdesk-notifier .
# (deploy/compose.yaml does this.) notifier.Dockerfile.dockerignore beside this file keeps
# target/ and .data/ out of the build context.

ARG RUST_VERSION=1.94
ARG DEBIAN_RELEASE=bookworm

# ---- build ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
# No SQLX_OFFLINE here: the notifier and ehelpdesk-shared check no queries at compile time.
ENV CARGO_TERM_COLOR=never
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ehelpdesk-notifier --bin ehelpdesk-notifier \
 && install -m 0755 target/release/ehelpdesk-notifier /usr/local/bin/ehelpdesk-notifier

# ---- run -----------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates: SMTP over TLS checks the mail server's certificate against the system's CA
# store (add a treasury CA here if its mail server uses one); the Cloud API's is checked against
# the roots built into the binary (webpki-roots).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ehelpdesk \
 && useradd --system --uid 10001 --gid ehelpdesk --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ehelpdesk
COPY --from=builder /usr/local/bin/ehelpdesk-notifier /usr/local/bin/ehelpdesk-notifier
# Production by default: real SMTP and Cloud API delivery (the `files` modes would need a
# writable directory this image does not have), so SMTP_URL, WHATSAPP_PHONE_NUMBER_ID and
# WHATSAPP_TOKEN must be given at run time or the notifier exits naming the one missing.
ENV NOTIFIER_ADDR=0.0.0.0:8083 \
    NOTIFIER_ADMIN_ADDR=0.0.0.0:9083 \
    APP_ENV=production \
    LOG_FORMAT=json \
    RUST_LOG=info
USER 10001:10001
# 8083: /healthz and /readyz only (no API for people); 9083: /metrics for Prometheus. Keep
# both off the public network.
EXPOSE 8083 9083
# Probes: GET /healthz (alive) and GET /readyz (NATS, NOTIFY, the delivery records and the
# SMTP server answer). The image has no curl; the compose file probes with bash's /dev/tcp,
# Kubernetes with httpGet. SIGTERM: stop pulling, finish the notifications in hand, exit;
# give it 60 s (a send may take NOTIFIER_SEND_TIMEOUT_SECS, 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ehelpdesk-notifier"]
