# Prometheus for the compose cluster (deploy/compose.yaml): Debian's own
# `prometheus` package on the same base as the edgekv image, with
# deploy/docker/prometheus.yml (every node of the cluster, by host name).
# Build context: the repository root (a clean export of a commit), e.g.
#   git archive HEAD | docker build -f deploy/docker/prometheus.Dockerfile -t edgekv-prometheus -
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the package's maintainer scripts must not start a daemon here.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends prometheus curl >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/sbin/policy-rc.d \
 && install -d -o prometheus -g prometheus /var/lib/prometheus/metrics2
COPY deploy/docker/prometheus.yml /etc/prometheus/prometheus.yml
USER prometheus
VOLUME ["/var/lib/prometheus"]
EXPOSE 9090
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:9090/-/ready || exit 1
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", \
     "--storage.tsdb.path=/var/lib/prometheus/metrics2", \
     "--storage.tsdb.retention.time=15d", \
     "--web.listen-address=0.0.0.0:9090"]
