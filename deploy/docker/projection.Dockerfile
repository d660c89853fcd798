# syntax=docker/dockerfile:1
# eHelpdesk projection service image. Build from the repository root:
#   docker build -f deploy/docker/projection.Dockerfile -t ehelpdesk-projection .
# (deploy/compose.yaml does this.) projection.Dockerfile.dockerignore beside this file keeps
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
    cargo build --release --locked -p ehelpdesk-projection --bin ehelpdesk-projection \
 && install -m 0755 target/release/ehelpdesk-projection /usr/local/bin/ehelpdesk-projection

# ---- run -----------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ehelpdesk \
 && useradd --system --uid 10001 --gid ehelpdesk --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ehelpdesk
COPY --from=builder /usr/local/bin/ehelpdesk-projection /usr/local/bin/ehelpdesk-projection
ENV PROJECTION_ADDR=0.0.0.0:8081 \
    PROJECTION_ADMIN_ADDR=0.0.0.0:9081 \
    LOG_FORMAT=json \
    RUST_LOG=info
USER 10001:10001
# 8081: the API; 9081: /metrics for Prometheus (keep it off the public network).
EXPOSE 8081 9081
# Probes: GET /healthz (alive) and GET /readyz (dependencies reachable). The image has no
# curl; the compose file probes with bash's /dev/tcp, Kubernetes with httpGet.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ehelpdesk-projection"]
