# Profile hosting server. Build: docker build -t profile-hosting-server .
# Run against PostgreSQL/Redis (see docker-compose.yml), or alone on the embedded database
# kept in the /data volume.

# --- dependencies (production only: tsx runs the TypeScript sources directly) ---
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
# the embedded database (used only without DATABASE_URL) lives in /data, owned by the non-root user
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1 and handles SIGTERM (graceful stop). A 32 MiB young generation (default 16)
# halves the garbage collector's share when thousands of events are pushed at once (BENCHMARKS.md)
CMD ["node", "--max-semi-space-size=32", "--import", "tsx", "src/main.ts"]
