# Baton's image. It runs the web process (gunicorn, with ./gunicorn.conf.py) by
# default; the clock is the same image with `python -m bot.clock` (compose.yaml).
# tests/deploy/ checks this file's instructions (there is no Docker daemon in CI).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BATON_ENV=production \
    PORT=3000

# The code stays root's and read-only to the process, which runs as baton.
RUN useradd --create-home --uid 10001 --user-group baton
WORKDIR /app
COPY . .
RUN pip install . && rm -rf build *.egg-info

USER baton
EXPOSE 3000

# The slim image has no curl: ask /healthz with Python's own urllib (non-2xx raises, so exits 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# The Procfile's web line; gunicorn reads ./gunicorn.conf.py, whose master checks the settings first.
CMD ["sh", "-c", "exec gunicorn 'app:create_app()' --worker-class ops.limits.Worker --threads 8 --workers 2 --bind 0.0.0.0:${PORT:-3000}"]
