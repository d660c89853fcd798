# syntax=docker/dockerfile:1
# eHelpdesk command service image. Build from the repository root:
#   docker build -f deploy/docker/command.Dockerfile -t ehelpdesk-command .
# (deploy/compose.yaml does this.) command.Dockerfile.dockerignore beside this file keeps
# target/ and .data/ out of the build context.

ARG RUST_VERSION=1.94
ARG DEBIAN_RELEASE=bookworm

# ---- build ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
# No database while the image builds: sqlx's checked queries use the committed .sqlx/ data.
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ehelpdesk-command --bin ehelpdesk-command \
 && install -m 0755 target/release/ehelpdesk-command /usr/local/bin/ehelpdesk-command

# ---- run -----------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ehelpdesk \
 && useradd --system --uid 10001 --gid ehelpdesk --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ehelpdesk
COPY --from=builder /usr/local/bin/ehelpdesk-command /usr/local/bin/ehelpdesk-command
ENV COMMAND_ADDR=0.0.0.0:8080 \
    COMMAND_ADMIN_ADDR=0.0.0.0:9080 \
    LOG_FORMAT=json \
    RUST_LOG=info
USER 10001:10001
# 8080: the API; 9080: /metrics for Prometheus (keep it off the public network).
EXPOSE 8080 9080
# Probes: GET /healthz (alive) and GET /readyz (dependencies reachable). The image has no
# curl; the compose file probes with bash's /dev/tcp, Kubernetes with httpGet.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ehelpdesk-command"]
