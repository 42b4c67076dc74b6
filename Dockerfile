# The Isthmus algorithm-component image. Any BFIA platform runs it as a task container:
# the platform sets the dotted environment variables of the container contract
# (system.*, config.*, runtime.component.*) and reads the exit code; nothing else of
# Isthmus is needed inside.
#
#   docker build -t isthmus-components .
#   docker run --rm isthmus-components --describe     # self-descriptions to register
FROM python:3.11-slim

WORKDIR /opt/isthmus
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# [plots]: the evaluate component draws its PNGs (matplotlib, Agg only).
RUN pip install --no-cache-dir --constraint constraints.txt ".[plots]" \
    && useradd --system --uid 10001 --home-dir /nonexistent isthmus

USER isthmus
ENTRYPOINT ["python", "-m", "isthmus.components"]
