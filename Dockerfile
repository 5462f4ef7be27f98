# One image for the web server and the worker (docker-compose.yml runs both).
FROM python:3.11-slim-bookworm

# nginx fronts the web tier (scripts/web.py): gunicorn for HTTP, daphne for WebSockets.
RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
RUN APP_ENV=production STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput \
    && useradd --system --no-create-home autoflow \
    && mkdir -p /var/lib/autoflow/metrics && chown autoflow /var/lib/autoflow/metrics
# Prometheus' multiprocess folder (core/metrics.py): docker-compose.yml mounts one volume there in
# the web and the worker containers, so that a scrape of the web tier includes the workers.
ENV STATIC_ROOT=/app/staticfiles PROMETHEUS_MULTIPROC_DIR=/var/lib/autoflow/metrics

USER autoflow
EXPOSE 8000
ENV HOST=0.0.0.0 PORT=8000 AUTOFLOW_WEB_DIR=/tmp/autoflow-web
CMD ["python", "-m", "scripts.web"]
