# syntax=docker/dockerfile:1
# The user-code image of shelfcast: the wheel with the deploy extra, served by `dagster api grpc`.
# Build from the repository root:  docker build -t registry.example.com/shelfcast:0.1.0 .
# Each instruction is explained in deploy/README.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: the wheel, and a virtual environment with it and its dependencies --------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The build context is these four paths (.dockerignore); the wheel test builds from the same.
COPY pyproject.toml setup.cfg README.md ./
COPY shelfcast/ shelfcast/
RUN python -m pip wheel --no-deps . -w /dist
# Every dependency installs from a binary wheel, so the builder needs no compiler.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install "$(ls /dist/shelfcast-*.whl)[deploy]"

# ---- runtime: the environment only; no source tree, no build tools ----------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home
RUN groupadd --gid 10001 dagster \
    && useradd --uid 10001 --gid dagster --create-home --shell /usr/sbin/nologin dagster \
    && mkdir -p "$DAGSTER_HOME" /opt/dagster/app \
    && chown -R dagster:dagster /opt/dagster
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /opt/dagster/app
EXPOSE 4000
CMD ["dagster", "api", "grpc", "-m", "shelfcast.definitions", "-h", "0.0.0.0", "-p", "4000"]
