# syntax=docker/dockerfile:1
# One image for every service and role of the suite: `shixiang serve <registry|coding|lifecycle|sync>`, configured
# only by SHIXIANG_* environment variables (shared/settings.py). See deploy/README.md.

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
    SHIXIANG_ENVIRONMENT=production
# Numeric uid/gid so that Kubernetes' runAsNonRoot can verify the user without a passwd lookup.
RUN groupadd --system --gid 10001 shixiang \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin shixiang
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["shixiang"]
CMD ["serve", "registry", "--host", "0.0.0.0", "--port", "8000"]
