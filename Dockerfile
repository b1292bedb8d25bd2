# prescale's image: `docker build -t prescale .` (used by docker-compose.yml).
# Build stage: the Rust toolchain; runtime stage: Debian slim, non-root.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY datasets datasets
RUN cargo build --release --locked --bin prescale

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/prescale prescale \
 && mkdir -p /var/lib/prescale \
 && chown prescale /var/lib/prescale
COPY --from=build /src/target/release/prescale /usr/local/bin/prescale
USER 10001
WORKDIR /var/lib/prescale
EXPOSE 8080
ENTRYPOINT ["prescale"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/prescale"]
