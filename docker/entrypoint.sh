#!/usr/bin/env bash
# Container entrypoint: one image, two roles, configured only through environment variables.
#   TASER_ROLE               dashboard (default) | worker
#   TASER_DATABASE_URL       shared queue/database (PostgreSQL when several machines work together)
#   TASER_ARTIFACT_ROOT      shared artifact directory (a volume every container mounts)
#   TASER_PORT               dashboard port (default 8501)
#   TASER_DASHBOARD_PASSWORD required by the dashboard when it binds beyond localhost
#   TASER_WORKER_GPU         GPU index a worker is pinned to (sets CUDA_VISIBLE_DEVICES)
#   TASER_ENTRYPOINT_DRY_RUN print the command instead of running it (for tests)
set -euo pipefail

role="${TASER_ROLE:-dashboard}"
: "${TASER_ARTIFACT_ROOT:=/data/artifacts}"
export TASER_ARTIFACT_ROOT

case "$role" in
  dashboard)
    if [ -z "${TASER_DASHBOARD_PASSWORD:-}" ]; then
      echo "entrypoint: TASER_DASHBOARD_PASSWORD must be set: the container's dashboard listens on 0.0.0.0" >&2
      exit 64
    fi
    cmd=(taser dashboard --host 0.0.0.0 --port "${TASER_PORT:-8501}" --no-worker)
    ;;
  worker)
    if [ -n "${TASER_WORKER_GPU:-}" ]; then
      export CUDA_VISIBLE_DEVICES="$TASER_WORKER_GPU"
    fi
    cmd=(taser worker)
    ;;
  *)
    echo "entrypoint: unknown TASER_ROLE '$role' (expected dashboard or worker)" >&2
    exit 64
    ;;
esac

if [ -z "${TASER_DATABASE_URL:-}" ]; then
  echo "entrypoint: TASER_DATABASE_URL is not set; using the container-local SQLite file (single machine only)" >&2
fi

if [ -n "${TASER_ENTRYPOINT_DRY_RUN:-}" ]; then
  echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-} TASER_ARTIFACT_ROOT=$TASER_ARTIFACT_ROOT ${cmd[*]}"
  exit 0
fi
exec "${cmd[@]}"
