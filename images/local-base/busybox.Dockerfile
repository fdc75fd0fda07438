# A local stand-in for busybox:1.36, the image of the chart's `helm test` pod,
# for machines without an image registry: Debian bookworm's busybox (1.35) with
# every applet (sh, nc, ...) linked on PATH, except wget: Debian's busybox wget
# segfaults whenever it is given a timeout (-T, which the chart's test uses; on
# the host too, not only in a container), so wget is GNU wget, which takes the
# same -q -T -O options. Made and tagged by images/local-base/build.sh.
FROM debian:bookworm-slim
ARG INPUTS
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox wget \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /opt/busybox/bin \
 && busybox --install -s /opt/busybox/bin \
 && rm /opt/busybox/bin/wget
ENV PATH=/opt/busybox/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL dev.floodgate.stand-in="busybox:1.36" \
      dev.floodgate.stand-in.inputs="${INPUTS}"
CMD ["sh"]
