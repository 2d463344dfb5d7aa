# syntax=docker/dockerfile:1
#
# The datavc image: the CLI, the scheduler (`datavc daemon`) and the Kubernetes worker
# (`datavc worker`). Pipeline transform images are built FROM this one (docs/deploy.md).
#
#   docker build -t datavc:0.1.0 .
#
# Base images are pinned by exact tag. A digest pin (`python:3.12.12-slim-bookworm@sha256:...`)
# would be stronger (a tag can be re-pushed), but a digest can only be resolved against the
# registry (`docker buildx imagetools inspect python:3.12.12-slim-bookworm`); add it there.
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

# ---- build: a wheel of datavc and of every dependency --------------------------------------
FROM ${PYTHON_IMAGE} AS build

# Pinned here for a reproducible image: the PostgreSQL driver and the Kubernetes client
# (the `kubernetes` extra, used by the `kubernetes` executor).
ARG PSYCOPG_VERSION=3.3.9
ARG KUBERNETES_VERSION=36.0.3

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_NO_CACHE_DIR=1

# fastcdc publishes a compiled wheel for x86_64 only; elsewhere (arm64: Apple silicon,
# Graviton) pip compiles it from source, which needs a C compiler in this stage only.
ARG TARGETARCH
RUN if [ "${TARGETARCH:-amd64}" != "amd64" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends gcc libc6-dev \
        && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /src
COPY pyproject.toml README.md ./
COPY datavc ./datavc
COPY storage ./storage
RUN pip wheel --wheel-dir /wheels ".[kubernetes,server]" \
        "psycopg[binary]==${PSYCOPG_VERSION}" \
        "kubernetes==${KUBERNETES_VERSION}"

# ---- runtime: the wheels installed in a virtualenv, no build tools -------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="datavc" \
      org.opencontainers.image.description="Version control and lineage for data: content-addressed store, commits, branches, pipelines." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
      org.opencontainers.image.licenses="NOASSERTION"

# tini as PID 1: forwards SIGTERM to datavc and reaps the processes that datums leave behind.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# A fixed UID/GID so Kubernetes securityContext (runAsUser: 10001) and volume ownership match.
RUN groupadd --system --gid 10001 datavc \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/datavc \
        --shell /usr/sbin/nologin datavc \
    && mkdir -p /pfs \
    && chown 10001:10001 /pfs

ENV VIRTUAL_ENV=/opt/datavc \
    PATH=/opt/datavc/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_NO_CACHE_DIR=1
# The wheels are bind-mounted from the build stage: they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
    && pip install --no-index --find-links /wheels "datavc[kubernetes,server]" "psycopg[binary]" \
    && datavc --version

COPY --chmod=0755 deploy/entrypoint.sh /usr/local/bin/datavc-entrypoint

USER 10001
WORKDIR /home/datavc
ENV DATAVC_HOME=/home/datavc/store \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/datavc-entrypoint"]
CMD ["datavc", "--help"]
