# Build stage: a release binary with SQLite and libpq compiled in (no system libraries needed).
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config make perl && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked || true
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin clientbase

# Runtime stage: a small image, an unprivileged user, the data directory as a volume.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data clientbase \
    && mkdir -p /data && chown clientbase /data
COPY --from=build /src/target/release/clientbase /usr/local/bin/clientbase
USER clientbase
ENV CLIENTBASE_BIND=0.0.0.0:8080 \
    CLIENTBASE_DATA_DIR=/data \
    CLIENTBASE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["clientbase"]
CMD ["serve"]
