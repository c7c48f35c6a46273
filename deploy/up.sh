#!/usr/bin/env bash
# The compose stack from a fresh clone, in one command: builds the images that are missing
# (deploy/images/build.sh), starts deploy/compose.yaml (three Kafka brokers, two processors, the
# verifier, the gateway, Prometheus), waits for every worker, decides the demo's sessions through
# it and prints what Prometheus scrapes.
#   deploy/up.sh [--processors N] [--no-demo]     start; LIVENESS_REBUILD=1 rebuilds every image
#   deploy/up.sh down                             stop it and remove its volumes
# Needs Docker (Debian's docker.io), debootstrap for the base image, and docker-compose
# (Debian's 1.29) or the compose v2 plugin. The token secret is kept in out/compose/token-secret.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TAG=${LIVENESS_IMAGE_TAG:-local}
PY=${LIVENESS_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || ./run setup

if [ "${1:-}" = down ]; then exec "$PY" -m devtools.compose down; fi

missing=()
for role in processor verifier gateway kafka prometheus; do
  if [ -n "${LIVENESS_REBUILD:-}" ] || ! docker image inspect "liveness-$role:$TAG" >/dev/null 2>&1; then
    missing+=("$role")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  PYTHON=$PY nice -n 5 deploy/images/build.sh "${missing[@]}"
fi
exec "$PY" -m devtools.compose up "$@"
