# syntax=docker/dockerfile:1
# Thin on purpose: the build stage runs the same scripts/setup.sh that CI runs.
# GHOSTTALK_WORKER=system builds the mediasoup worker against Debian's libraries
# (no download but apt and npm); =prebuilt uses mediasoup's own prebuilt worker.

FROM node:24-bookworm-slim AS build
ARG GHOSTTALK_WORKER=system
ENV GHOSTTALK_WORKER=${GHOSTTALK_WORKER}
WORKDIR /app
COPY . .
RUN bash scripts/setup.sh \
 && npm prune --omit=dev --omit=optional --no-audit --no-fund

FROM node:24-bookworm-slim
# Shared libraries the system-built worker links against (libsrtp2 only when its OpenSSL
# build fell back to Debian's; all harmless with a prebuilt worker).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libuv1 libssl3 libsrtp2-1 libabsl20220623 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/src ./src
COPY --from=build /app/config ./config
COPY --from=build /app/scripts/healthcheck.ts ./scripts/
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080 \
    RTC_UDP_PORT=50000
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# Worker i (one per core by default, RTC_WORKERS at most 256) takes RTC_UDP_PORT + i.
EXPOSE 8080/tcp 50000-50255/udp 50000-50255/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "scripts/healthcheck.ts"]
ENTRYPOINT ["node", "src/main.ts"]
