# Lianjie services: one image per extra set. Build the matcher's with scikit-learn:
#   docker build --build-arg LOCK=matcher -t lianjie-matcher .
# and the needs/resources one without it (the default):
#   docker build -t lianjie .
# Dependencies come from the lock files (hashes checked; `make lock` renews them). No
# nats-server and no dev tools in the image: NATS runs from its own image.

# Pinned base (renew deliberately, with the lock files).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# The console's browser app, built from its lock file (no asset is fetched at run time).
FROM node:20.19-bookworm-slim AS console
WORKDIR /web
COPY services/console/web/package.json services/console/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY services/console/web/ ./
RUN npx vite build

FROM ${PYTHON_IMAGE} AS build
ARG LOCK=base
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/lianjie
COPY requirements/ /src/requirements/
RUN /opt/lianjie/bin/pip install --require-hashes --no-deps -r /src/requirements/${LOCK}.lock
COPY pyproject.toml README.md /src/
COPY shared /src/shared
COPY services /src/services
COPY cli /src/cli
RUN /opt/lianjie/bin/pip install --no-deps /src

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 lianjie \
    && useradd --system --uid 10001 --gid lianjie --home-dir /var/lib/lianjie --create-home lianjie
COPY --from=build /opt/lianjie /opt/lianjie
COPY --from=console /web/dist /opt/lianjie/console
ENV PATH=/opt/lianjie/bin:$PATH \
    LIANJIE_CONSOLE_ASSETS_DIR=/opt/lianjie/console \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIANJIE_VAR_DIR=/var/lib/lianjie
USER 10001:10001
WORKDIR /var/lib/lianjie
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# SIGTERM (Docker's and Kubernetes' default, named here): uvicorn finishes the requests in
# flight, then the outbox drains (docs/deploy.md). `lianjie serve` runs as PID 1 in exec form,
# so the signal reaches it.
STOPSIGNAL SIGTERM
# The service to run is the argument: needs, resources, matcher or console.
ENTRYPOINT ["lianjie", "serve"]
CMD ["needs"]
