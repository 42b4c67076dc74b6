# The Isthmus node image: the wheel `make dist` builds, installed with constraints.txt in
# a venv, run as an unprivileged user with the node home on a volume. (The Dockerfile at
# the top of the repository is the other image: the algorithm components alone.)
#
#   docker build -f deploy/node.Dockerfile -t isthmus-node .
#   docker volume create isthmus-home
#   docker run --rm -v isthmus-home:/var/lib/isthmus isthmus-node isthmus init \
#       --home /var/lib/isthmus --node-id NODE_ID --inst-id INST_ID \
#       --public-address https://isthmus.example.com:8101
#   docker run -d --name isthmus -v isthmus-home:/var/lib/isthmus \
#       -p 8101:8101 -p 127.0.0.1:8102:8102 isthmus-node
#   docker exec isthmus isthmus doctor        # the CLI inside finds the home by ISTHMUS_HOME
#
# The listeners' ports and hosts are set below and override node.toml, so that they
# match EXPOSE and the HEALTHCHECK whatever `isthmus init` wrote; map them with -p.

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml constraints.txt README.md .gitignore ./
COPY src ./src
RUN pip install --no-cache-dir --constraint constraints.txt build hatchling \
    && python -m build --no-isolation --wheel --outdir /dist .

FROM python:3.11-slim
COPY --from=wheel /dist /tmp/dist
COPY constraints.txt /tmp/constraints.txt
RUN python -m venv /opt/isthmus/venv \
    && wheel=$(ls /tmp/dist/*.whl) \
    && /opt/isthmus/venv/bin/pip install --no-cache-dir --constraint /tmp/constraints.txt \
        "${wheel}[plots]" \
    && rm -rf /tmp/dist /tmp/constraints.txt \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/isthmus \
        --no-create-home --shell /usr/sbin/nologin isthmus \
    && install -d -o isthmus -g isthmus -m 0700 /var/lib/isthmus

# Interconn (partners) and admin (operators, probes, metrics) on the container's
# interfaces: publish the admin port on loopback or a management network only. The
# transport listener stays on the container's loopback, where the process runner's
# components reach it; set ISTHMUS_TRANSPORT__HOST for components in other containers.
ENV PATH=/opt/isthmus/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ISTHMUS_HOME=/var/lib/isthmus \
    ISTHMUS_INTERCONN__HOST=0.0.0.0 \
    ISTHMUS_INTERCONN__PORT=8101 \
    ISTHMUS_ADMIN__HOST=0.0.0.0 \
    ISTHMUS_ADMIN__PORT=8102 \
    ISTHMUS_TRANSPORT__PORT=8103

USER isthmus
WORKDIR /var/lib/isthmus
VOLUME /var/lib/isthmus
EXPOSE 8101 8102 8103

# /readyz of the admin listener: 200 once the listeners are open and the database answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:8102/readyz', timeout=4)"]

CMD ["isthmus", "node", "start", "--home", "/var/lib/isthmus"]
