#!/usr/bin/env bash
# Start the pipeline from the images (host network, plain `docker run`), time each container's
# cold start to ready, decide the recorded sessions given as arguments, remove the containers.
#   deploy/images/smoke.sh SESSION_DIR...        (e.g. recordings from `liveness generate`)
# The first session's first frame must show a face: the processor image embeds it (processor_check.py).
# Ports: $LIVENESS_SMOKE_PORT (62300) and the next few; the host's `liveness` replays the sessions.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAG=${LIVENESS_IMAGE_TAG:-local}
PORT=${LIVENESS_SMOKE_PORT:-62300}
LIVENESS=${LIVENESS:-$ROOT/.venv/bin/liveness}
PY=${PYTHON:-$ROOT/.venv/bin/python}
SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
RUN=lvsmoke-$$
NAMES=()
export LIVENESS_BOOTSTRAP=127.0.0.1:$PORT LIVENESS_TOKEN_SECRET=$SECRET LIVENESS_PARTITIONS=2

cleanup() { [ ${#NAMES[@]} -eq 0 ] || docker rm -f "${NAMES[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT

OPTS=()
start() {  # name image command...: a detached container on the host network, with OPTS
  local name=$RUN-$1 image=$2; shift 2
  NAMES+=("$name")
  docker run -d --name "$name" --network host -e LIVENESS_BOOTSTRAP -e LIVENESS_TOKEN_SECRET \
    -e LIVENESS_PARTITIONS "${OPTS[@]}" "$image" "$@" >/dev/null
}

ready_after() {  # name seconds-since url: wait for an HTTP 200, print the time it took
  local name=$1 since=$2 url=$3
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if [ "$(docker inspect -f '{{.State.Running}}' "$RUN-$name")" != true ]; then
      docker logs --tail 30 "$RUN-$name"; echo "$name exited" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "$name ready in $(( $(date +%s%N) / 1000000 - since )) ms"
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

t=$(now_ms)
CLUSTER_ID=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
OPTS=(-e KAFKA_CLUSTER_ID="$CLUSTER_ID" -e KAFKA_PORT="$PORT" -e KAFKA_CONTROLLER_PORT=$((PORT + 1))
  -e KAFKA_ADVERTISED="127.0.0.1:$PORT" -e KAFKA_VOTERS="1@127.0.0.1:$((PORT + 1))")
start kafka "liveness-kafka:$TAG"
# The host's checkout waits for the broker: the role images do not ship the developer tools.
"$PY" -c "from devtools.broker import wait_until_ready; wait_until_ready('127.0.0.1:$PORT', 120)"
echo "kafka ready in $(( $(now_ms) - t )) ms"
docker run --rm --network host -e LIVENESS_BOOTSTRAP -e LIVENESS_PARTITIONS "liveness-verifier:$TAG" topics >/dev/null

t=$(now_ms); OPTS=(-e LIVENESS_METRICS_PORT=$((PORT + 10))); start verifier "liveness-verifier:$TAG" verifier
ready_after verifier "$t" "http://127.0.0.1:$((PORT + 10))/healthz"
t=$(now_ms); OPTS=(-e LIVENESS_METRICS_PORT=$((PORT + 11))); start processor "liveness-processor:$TAG" processor
ready_after processor "$t" "http://127.0.0.1:$((PORT + 11))/healthz"
# FaceMesh and the identity embedding in the processor image, on the first session's first frame.
docker run --rm -i -v "$(cd "$1/frames" && pwd)":/frames:ro --entrypoint python3.11 "liveness-processor:$TAG" \
  - "/frames/$(ls "$1/frames" | head -1)" <"$ROOT/deploy/images/processor_check.py"
t=$(now_ms); OPTS=(); start gateway "liveness-gateway:$TAG" gateway --host 127.0.0.1 --port $((PORT + 20))
ready_after gateway "$t" "http://127.0.0.1:$((PORT + 20))/healthz"

"$LIVENESS" replay --timeout 120 "$@"
