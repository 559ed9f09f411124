# wnnrec image: the `wnnrec` command (worker, replay, data fetch, ...) on
# Python 3.11. Used by docker-compose.yml (services worker and replayer).
#
#   docker build -t wnnrec .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=host:9092 wnnrec wnnrec worker

# ---- build: dependencies (some may compile from source: gcc) into a venv ----
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone with empty stand-in packages,
# so that editing the code does not reinstall them (README* may not exist).
COPY pyproject.toml README* ./
RUN mkdir -p wnn stream wnnrec \
    && touch wnn/__init__.py stream/__init__.py wnnrec/__init__.py \
    && pip install . \
    && pip uninstall -y wnnrec \
    && rm -rf wnn stream wnnrec build *.egg-info
# Then the project itself: the model library, the worker and the tools with the command line.
COPY wnn ./wnn
COPY stream ./stream
COPY wnnrec ./wnnrec
RUN pip install --no-deps . && wnnrec --help >/dev/null

# ---- runtime ---------------------------------------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WNNREC_DATA=/data \
    KAFKA_BOOTSTRAP_SERVERS=kafka:9092
COPY --from=build /opt/venv /opt/venv
# Non-root; /data (MovieLens files, WNNREC_DATA) and /var/lib/wnnrec (working
# dir: the worker's local state) exist here so that named volumes mounted on
# them start out owned by this user.
RUN useradd --create-home --uid 1000 wnnrec \
    && mkdir -p /data /var/lib/wnnrec \
    && chown wnnrec:wnnrec /data /var/lib/wnnrec
USER wnnrec
WORKDIR /var/lib/wnnrec
VOLUME ["/data", "/var/lib/wnnrec"]
CMD ["wnnrec", "worker"]
