# syntax=docker/dockerfile:1
# prescale's container image: a Rust build stage, then a distroless runtime that runs as a
# non-root user (65532) with nothing but the binary and its C runtime. Used by deploy/ and by
# docker-compose.yml.
#
#   docker build -t prescale:0.1.0 .
#
# The image serves REST and /metrics on 8080, the Kubernetes API over TLS on 6443 and (when
# deploy/ passes --keda-listen) the KEDA scaler on 9090; data lives in /var/lib/prescale.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and the build directory between builds, so a source
# change recompiles only prescale itself (no stub-crate trick that must list every target).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin prescale \
    && mkdir -p /out/var/lib/prescale \
    && cp target/release/prescale /out/prescale

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/prescale /usr/local/bin/prescale
COPY --from=build --chown=65532:65532 /out/var/lib/prescale /var/lib/prescale
USER 65532:65532
WORKDIR /var/lib/prescale
EXPOSE 8080 6443 9090
ENTRYPOINT ["/usr/local/bin/prescale"]
# Off loopback, writes need tokens: mount a `TOKEN ROLE` file at /etc/prescale-tokens/tokens
# (README, "Authentication").
CMD ["serve", "--listen", "0.0.0.0:8080", "--tls-listen", "0.0.0.0:6443", "--data-dir", "/var/lib/prescale", "--auth-tokens-file", "/etc/prescale-tokens/tokens"]
