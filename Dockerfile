# The portal's image. The build stage builds the wheel and installs it with its pinned dependencies; the runtime
# stage copies only that result onto the same slim base: no compiler, no build tools, no sources.
# `make container-check` runs the same install script and this CMD without a container engine.

# Pinned by tag and by digest (the multi-platform index); change both together.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

FROM base AS build
WORKDIR /src
# .dockerignore lets in only what the install needs.
COPY . .
RUN sh deploy/install-app /src /opt/referentiel

FROM base AS runtime
# A fixed numeric user, so that Kubernetes can check runAsNonRoot; it owns nothing it could change.
RUN groupadd --system --gid 10001 referentiel \
    && useradd --system --uid 10001 --gid referentiel --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin referentiel
COPY --from=build /opt/referentiel /opt/referentiel
# PROMETHEUS_MULTIPROC_DIR: where the workers add up their metrics; /tmp is an emptyDir in Kubernetes.
ENV PATH=/opt/referentiel/venv/bin:$PATH \
    PORTAL_ROOT=/opt/referentiel \
    PORTAL_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
WORKDIR /opt/referentiel
USER 10001:10001
EXPOSE 8000
# The slim image has no curl: Python asks /healthz on the port of PORTAL_BIND.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ['PORTAL_BIND'].rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# Workers, timeouts and the address come from PORTAL_* variables read by the config module.
CMD ["gunicorn", "--config", "python:portal.gunicorn_config", "portal:create_app()"]
