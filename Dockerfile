# syntax=docker/dockerfile:1
# Build stage: native addon (node-gyp over libgmp), wasm core (clang/lld), TypeScript.
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgmp-dev libsecp256k1-dev g++ make python3 clang lld \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp ./
COPY scripts ./scripts
COPY native ./native
RUN npm ci
COPY . .
RUN node scripts/build-native.mjs --strict && node scripts/build-wasm.mjs --strict && npm run build \
 && npm prune --omit=dev

# Runtime: slim image with the GMP and libsecp256k1 shared libraries, openssl (used by `setup` for the NATS PKI) and
# nats-server (the demo runs one; production parties point their config at their NATS cluster).
# A party: docker run -v /srv/party-0:/data IMAGE party --config /data/config.json
FROM node:20-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgmp10 libsecp256k1-1 openssl nats-server \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/Release/mpc_math.node ./build/Release/mpc_math.node
COPY --from=build /app/build/Release/mpc_secp256k1.node ./build/Release/mpc_secp256k1.node
COPY --from=build /app/wasm/build/mpc_math.wasm ./wasm/build/mpc_math.wasm
USER node
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["demo"]
