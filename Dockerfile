# One image for the controller, the sidecar sender and the CLI:
#   docker build -t ghcr.io/mailroom-dev/mailroom:0.1.0 .
#   docker run --rm ghcr.io/mailroom-dev/mailroom:0.1.0 probe smtp://user:pass@smtp.example.com:587/
# Runs as a non-root user and writes nothing outside /data (the sidecar's queue) and /tmp, so it
# works with readOnlyRootFilesystem.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the image already has Node 24, so the `node` dev dependency's binary is not needed.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/build.ts scripts/snapshot.ts ./scripts/
COPY src ./src
# The same build as `npm run build` (scripts/build.ts: an esbuild bundle, split by command).
RUN node scripts/build.ts \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# A small young generation and a capped old one: shorter GC pauses and less resident memory for
# the sidecar and the controller (figures in bench/; raise the cap for very large controllers).
ENV NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=256"
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY crds ./crds
# The V8 code cache the build made (scripts/build.ts, read by dist/cli/main.js) sits in a directory
# named for the user that made it (root): renamed for the user the image runs as. The sidecar's
# startup snapshot (scripts/snapshot.ts; the webhook starts the sidecar from it) is built again
# here, in place and by this image's node: a blob runs only on the binary that built it, and holds
# the paths it was built at.
RUN mkdir -p /data && chown 65532:65532 /data \
 && for d in /app/dist/compile-cache/*-0; do mv "$d" "${d%-0}-65532"; done \
 && sh /app/dist/snapshot/build.sh
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080 8081 9443 1025 8025
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
