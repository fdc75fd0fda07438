# A local stand-in for the official node:24-bookworm-slim image, for machines
# that reach the npm registry and Debian's archive but no image registry
# (images/local-base/build.sh makes it and tags it node:24-bookworm-slim, so the
# project's Dockerfiles build unchanged). Like the official image: Debian
# bookworm slim, the official Node.js 24 Linux x64 build in /usr/local (binary
# and headers), npm, `node` as the command. Unlike it: no yarn or corepack, and
# two settings for these machines only, which never go into the project's
# Dockerfiles: the host's CA store (its TLS proxy signs registry.npmjs.org) and
# npm_config_nodedir (node-gyp cannot download headers here; the package ships them).
FROM debian:bookworm-slim
ARG NODE_VERSION
ARG NPM_VERSION
ARG INPUTS
COPY node/bin/node /usr/local/bin/node
COPY node/include/node /usr/local/include/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Also where update-ca-certificates looks, in case a build installs ca-certificates.
COPY ca-certificates.crt /usr/local/share/ca-certificates/floodgate-host-store.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV NODE_VERSION=${NODE_VERSION} \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    npm_config_nodedir=/usr/local
LABEL dev.floodgate.stand-in="node:24-bookworm-slim" \
      dev.floodgate.stand-in.inputs="${INPUTS}" \
      dev.floodgate.stand-in.npm="${NPM_VERSION}"
CMD ["node"]
