# syntax=docker/dockerfile:1
# One image for every service and role of the suite: `shixiang serve <registry|coding|lifecycle|sync>`, configured
# only by SHIXIANG_* environment variables (shared/settings.py). See deploy/README.md.

# The operators' console: its pinned npm packages (package-lock.json), of which copy-vendor.mjs keeps exactly the
# files the pages load (site/vendor/). Our own pages need no build: they are copied as they are.
FROM node:22-slim AS console
WORKDIR /console
COPY services/sync-gateway/console/package.json services/sync-gateway/console/package-lock.json \
     services/sync-gateway/console/copy-vendor.mjs ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY services/sync-gateway/console/site ./site
RUN node copy-vendor.mjs

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml ./
COPY shared ./shared
COPY shixiang ./shixiang
COPY services ./services
# A regular (non-editable) install without the test extra; byte-code is compiled here because the runtime root
# filesystem is read-only.
RUN pip install . && python -m compileall -q /opt/venv

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHIXIANG_ENVIRONMENT=production \
    SHIXIANG_CONSOLE_DIR=/app/console
# Numeric uid/gid so that Kubernetes' runAsNonRoot can verify the user without a passwd lookup.
RUN groupadd --system --gid 10001 shixiang \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin shixiang
COPY --from=build /opt/venv /opt/venv
# Served by the sync gateway at /console/ (the other services ignore it).
COPY --from=console /console/site /app/console
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["shixiang"]
CMD ["serve", "registry", "--host", "0.0.0.0", "--port", "8000"]
