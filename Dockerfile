# syntax=docker/dockerfile:1
# maaslab-operator: build with `docker build -t maaslab-operator .` (or podman/buildah).
# The runtime stage holds what hack/stage-image.sh stages and nothing else; the tests run
# that staged tree against a real kube-apiserver (test/integration/deploy/image.test.ts).

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
# node-gyp's toolchain and libvirt's headers, for the N-API addon.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 pkg-config libvirt-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json binding.gyp ./
COPY src ./src
COPY hack/stage-image.sh ./hack/
# The addon is built against the image's own node (its headers ship in /usr/local).
RUN npm run build \
 && npx node-gyp rebuild --nodedir=/usr/local --jobs=max \
 && hack/stage-image.sh /stage

FROM ${NODE_IMAGE} AS runtime
# libvirt0: the client library the addon links; openssh-client: the qemu+ssh transport.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt0 openssh-client \
 && rm -rf /var/lib/apt/lists/*
# A named user with a home: OpenSSH looks the user up (getpwuid) and reads ~/.ssh from
# the passwd entry, not from $HOME. Numeric, so Kubernetes can verify runAsNonRoot.
RUN groupadd --gid 65532 maaslab \
 && useradd --uid 65532 --gid 65532 --home-dir /home/maaslab --create-home \
      --shell /usr/sbin/nologin maaslab
WORKDIR /app
COPY --from=build /stage/ /app/
ENV NODE_ENV=production
# Memory: V8's young generation at 4 MiB semi-spaces (its default is 16) and two glibc malloc
# arenas (one per thread otherwise: libuv's pool and libvirt's event loop) keep the RSS near
# what is live. bench/scale.ts runs the operator with these same lines; bench/RESULTS.md has
# the figures with and without them.
ENV NODE_OPTIONS=--max-semi-space-size=4
ENV MALLOC_ARENA_MAX=2
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
