# syntax=docker/dockerfile:1
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN cargo build --release --locked --bin tessera

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/tessera --create-home tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
COPY config/example.toml /etc/tessera/example.toml
WORKDIR /var/lib/tessera
RUN mkdir -p data keys && chown -R tessera:tessera /var/lib/tessera
USER tessera
ENV TESSERA_SERVER__BIND=0.0.0.0:8080 \
    TESSERA_ENV=production
VOLUME ["/var/lib/tessera/data", "/var/lib/tessera/keys"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tessera"]
CMD ["serve"]
