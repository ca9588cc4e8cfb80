# The vod-orchestrator daemon.
#
#   docker build -t vod-orchestrator .
#   docker run -d --name vod -v vod-data:/data --stop-timeout 30 \
#     -e ALIBABA_CLOUD_ACCESS_KEY_ID -e ALIBABA_CLOUD_ACCESS_KEY_SECRET vod-orchestrator
#
# Queue, dead letters, store and events live in the /data volume; producers append to
# /data/queue.jsonl (`docker exec vod vod-orchestrator enqueue ...` or any writer that appends
# whole lines). The configuration is /etc/vod-orchestrator/orchestrator.toml; override a key
# with ORCHESTRATOR_<SECTION>_<KEY> or mount another file there.
#
# BASE_IMAGE needs python3 >= 3.11 with its venv module. Both stages use it, so the runtime venv
# is made for the very interpreter that runs it; nothing here depends on the image's Python
# layout (python:3.11-slim or a plain Debian with python3 and python3-venv).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Debian's own python3 has no pip: a venv brings one, in every base image alike.
RUN python3 -m venv /opt/build-venv
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
# The project and every dependency as wheels: the runtime stage installs from these alone.
RUN /opt/build-venv/bin/pip wheel --wheel-dir /wheels .
COPY config/orchestrator.toml scripts/container_config.py ./
RUN python3 container_config.py orchestrator.toml /etc-out/orchestrator.toml \
        queue.path=/data/queue.jsonl \
        queue.dead_letter_path=/data/dead-letter.jsonl \
        store.path=/data/orchestrator.db \
        events.path=/data/events.jsonl

FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="vod-orchestrator" \
      org.opencontainers.image.description="Runs ApsaraVideo VOD image AI jobs from a queue file." \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric id, so that USER is verifiably non-root (Kubernetes' runAsNonRoot) and a
# host directory can be prepared for /data with `chown 10001:10001`.
ARG APP_UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --gid "${APP_UID}" vod \
    && useradd --uid "${APP_UID}" --gid vod --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin vod \
    && mkdir /data \
    && chown "${APP_UID}:${APP_UID}" /data \
    && chmod 0750 /data
COPY --from=build /wheels /tmp/wheels
# Offline install (--no-index): the build stage resolved everything. pip and setuptools go
# afterwards: nothing installs at run time, and the image is smaller without them.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-index \
        --find-links /tmp/wheels vod-orchestrator \
    && /opt/venv/bin/pip uninstall --yes --disable-pip-version-check pip setuptools \
    && rm -rf /tmp/wheels
COPY --from=build /etc-out/orchestrator.toml /etc/vod-orchestrator/orchestrator.toml
# Fail the build, not the first start, if this version rejects the configuration it ships.
RUN python3 -c "import sys; from pathlib import Path; \
from orchestrator.settings import load_settings; \
load_settings(Path(sys.argv[1]), environ={})" /etc/vod-orchestrator/orchestrator.toml

VOLUME ["/data"]
WORKDIR /data
USER ${APP_UID}:${APP_UID}
# The daemon beats every 5 s and `status --health` calls a heartbeat older than 15 s dead, so a
# 15 s interval sees every stall; the start period covers opening and recovering the store.
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 \
    CMD ["vod-orchestrator", "status", "--health"]
# SIGTERM stops intake, finishes or parks in-flight calls within limits.shutdown_grace_s
# (10 s by default), commits and exits 0: give `docker stop` more than that (--stop-timeout 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["vod-orchestrator"]
CMD ["run"]
