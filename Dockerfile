# routereflector: BIRD + BIRD6 configured from etcd by the agent, supervised by s6.
#
#   docker build -t routereflector .
#   docker run --net=host --privileged -e IP=10.0.0.1 -e ETCD_ENDPOINTS=http://etcd:2379 routereflector
#
# Build stage: compile the TypeScript agent and keep only production modules.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: same base, Debian's bird and s6 (image/install.sh, the same
# script `npm run test:image` runs in a debootstrapped bookworm root).
FROM node:20-bookworm-slim
COPY image/install.sh /tmp/install.sh
RUN sh /tmp/install.sh && rm /tmp/install.sh
WORKDIR /app
COPY package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY templates ./templates
COPY s6 ./s6
RUN chmod +x dist/src/main.js && ln -s /app/dist/src/main.js /usr/local/bin/routereflector

ENV CONFIG_DIR=/config \
    BIRD_SOCKET=/sockets/bird.ctl \
    BIRD6_SOCKET=/sockets/bird6.ctl \
    LOG_FORMAT=json \
    LOG_LEVEL=info
VOLUME ["/config", "/sockets"]

# Healthy when the agent is up and has installed both configs (s6 readiness)
# and both daemons answer on their control sockets.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/app/s6/.lib/healthcheck"]

# s6-svscan is PID 1: reaps zombies, supervises agent, bird, bird6 and their
# loggers; SIGTERM (docker stop) runs s6/.s6-svscan/SIGTERM: agent first, then
# BIRD and BIRD6, loggers drain, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/s6-svscan", "/app/s6"]
