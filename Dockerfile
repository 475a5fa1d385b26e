# TASER Studio on a CUDA box: the dashboard on port 8501 (embedded worker included).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/taser
COPY pyproject.toml README.md ./
COPY taser_engine ./taser_engine
COPY db ./db
COPY app ./app
COPY docker ./docker
RUN python3.11 -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
    && /opt/venv/bin/pip install .
ENV PATH=/opt/venv/bin:$PATH TASER_DATA_DIR=/data
VOLUME /data
EXPOSE 8501
# Role and settings come from the environment (see docker/entrypoint.sh and docker-compose.yml).
ENTRYPOINT ["/opt/taser/docker/entrypoint.sh"]
