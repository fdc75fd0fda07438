# A local stand-in for busybox:1.36, the image of the chart's `helm test` pod,
# for machines without an image registry: Debian bookworm's busybox (1.35) with
# every applet (sh, wget, ...) linked on PATH. Made and tagged by
# images/local-base/build.sh.
FROM debian:bookworm-slim
ARG INPUTS
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /opt/busybox/bin \
 && busybox --install -s /opt/busybox/bin
ENV PATH=/opt/busybox/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL dev.floodgate.stand-in="busybox:1.36" \
      dev.floodgate.stand-in.inputs="${INPUTS}"
CMD ["sh"]
