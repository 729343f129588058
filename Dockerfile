# syntax=docker/dockerfile:1
# balance-alert container image: one static (musl) binary on an empty base, non-root.
#
#   docker build -t balance-alert .
#   docker run -d --name balance-alert \
#     -v /srv/balance-alert/config.toml:/etc/balance-alert/config.toml:ro \
#     -v balance-alert-state:/var/lib/balance-alert \
#     -e EXOTEL_API_KEY=... -e EXOTEL_API_TOKEN=... balance-alert
#
# With buildah: `buildah bud --format docker ...` (the OCI format has no HEALTHCHECK).
# `--build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD)` puts the commit into
# `--version` and the revision label (.git is not part of the build context).

FROM rust:1.95-bookworm AS build
# The official image has only the gnu target and no musl C toolchain (ring builds C):
# add both. Its own layer, before the sources, so Docker caches it across rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# Cargo.toml names the bench target, so its file must exist for the manifest to load.
COPY benches ./benches
# The build is one RUN step: every layer is a full copy on some storage drivers (vfs),
# and the cache mounts make rebuilds on the same machine incremental without extra
# layers.
# The root filesystem the final stage needs (user, group, a state directory owned by
# that user) is prepared here because scratch has no shell to do it at runtime.
ARG GIT_COMMIT=""
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    BALANCE_ALERT_GIT_COMMIT="$GIT_COMMIT" \
    cargo build --release --locked --target x86_64-unknown-linux-musl \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/balance-alert /rootfs/balance-alert \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/etc/balance-alert /rootfs/var/lib /state \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'balance-alert:x:65532:65532:balance-alert:/var/lib/balance-alert:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'balance-alert:x:65532:' > /rootfs/etc/group

FROM scratch
ARG GIT_COMMIT=""
# tests/packaging.rs checks the version against Cargo.toml.
LABEL org.opencontainers.image.title="balance-alert" \
      org.opencontainers.image.description="Watches Exotel account balances and alerts before the money runs out" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="$GIT_COMMIT" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
# Everything root-owned and read-only to the daemon except its state directory.
COPY --from=build /rootfs/ /
COPY --from=build --chown=65532:65532 /state /var/lib/balance-alert
# Private CAs (a corporate proxy) can also be given per account or channel as ca_file.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    BALANCE_ALERT_CONFIG=/etc/balance-alert/config.toml
USER 65532:65532
# state_file = "/var/lib/balance-alert/state.db" (the default) lives here.
VOLUME ["/var/lib/balance-alert"]
# /metrics and /healthz when the config sets listen = "0.0.0.0:9184".
EXPOSE 9184
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/balance-alert", "health"]
# `docker run IMAGE` runs the daemon; `docker run IMAGE validate` (or check, test-notify)
# runs a one-shot command with the same config and secrets.
ENTRYPOINT ["/balance-alert"]
CMD ["run"]
