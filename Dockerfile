# Builds eopf-geozarr, geozarr-scheduler and geozarr-worker.
FROM rust:1.91-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --workspace --bins \
    && cp target/release/eopf-geozarr target/release/geozarr-scheduler \
          target/release/geozarr-worker /usr/local/bin/

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/eopf-geozarr /usr/local/bin/geozarr-scheduler \
     /usr/local/bin/geozarr-worker /usr/local/bin/
WORKDIR /data
CMD ["eopf-geozarr", "--help"]
