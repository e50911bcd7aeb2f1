# The "tally" image used by deploy/docker-compose.yml: tallyd and the tally
# admin tool on Debian 12. Build from the repository root:
#   docker build -t tally .
FROM debian:12 AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc make pkg-config libbson-dev libmongoc-dev liblmdb-dev libuv1-dev libssl-dev libzstd-dev \
      libyaml-dev libpcre2-dev libhiredis-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY src ./src
COPY tools ./tools
RUN make -j"$(nproc)" bin/tallyd bin/tally

FROM debian:12-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libbson-1.0-0 libmongoc-1.0-0 liblmdb0 libuv1 libssl3 libzstd1 libyaml-0-2 libpcre2-8-0 libhiredis0.14 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data tally && install -d -o tally -g tally /data /backups /state
COPY --from=build /src/bin/tallyd /src/bin/tally /usr/local/bin/
USER tally
EXPOSE 27017
CMD ["tallyd", "--dbpath", "/data", "--bind_ip", "0.0.0.0", "--port", "27017"]
