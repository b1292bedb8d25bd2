# syntax=docker/dockerfile:1
# prescale's container image: a Rust build stage, then a distroless runtime that runs as a
# non-root user (65532) with nothing but the binary and its C runtime.
#
#   docker build -t prescale:0.1.0 .
#
# The image serves REST and /metrics on 8080, the Kubernetes API over TLS on 6443 and (when
# deploy/ passes --keda-listen) the KEDA scaler on 9090; data lives in /var/lib/prescale.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them: build a stub crate with
# the real manifest and lock file, then the real sources.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for b in forecast store store_size; do echo 'fn main() {}' > "benches/$b.rs"; done \
    && cargo build --release --locked --bin prescale \
    && rm -rf src benches
COPY . .
# The stub's artifacts are older than the real sources: touch them so cargo rebuilds our crate.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin prescale \
    && mkdir -p /out/var/lib/prescale \
    && cp target/release/prescale /out/prescale

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/prescale /usr/local/bin/prescale
COPY --from=build --chown=65532:65532 /out/var/lib/prescale /var/lib/prescale
USER 65532:65532
EXPOSE 8080 6443 9090
ENTRYPOINT ["/usr/local/bin/prescale"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--tls-listen", "0.0.0.0:6443", "--data-dir", "/var/lib/prescale"]
