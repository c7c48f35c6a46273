#!/usr/bin/env bash
# CI's Docker stage: the images are built and the compose stack's failover test runs against them.
#   deploy/ci.sh
# Installs docker.io, debootstrap, binutils and docker-compose with apt when missing, starts dockerd when no
# daemon answers (and stops it afterwards, only then), builds every image (deploy/images/build.sh),
# runs tests/deploy (the compose stack under load: broker, verifier and processors disturbed).
# A machine that cannot run Docker at all (no root for apt, no daemon can start) is reported
# loudly and the stage passes: that is the environment, not the product. A failed build or a
# failed test fails the stage.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${LIVENESS_PYTHON:-$ROOT/.venv/bin/python}
STAGE_START=$(date +%s)

skip() {
  printf '\n%s\n%s\n%s\n\n' "################################################################" \
    "## DOCKER STAGE NOT RUN: $*" \
    "################################################################" >&2
  exit 0
}

need=()
command -v docker >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v strip >/dev/null || need+=(binutils)  # build.sh strips the wheels' extension modules
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || skip "${need[*]} missing and not root to apt-get install them"
  apt-get update -q >/dev/null || skip "apt-get update failed (no Debian mirror?)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
    || skip "apt-get install ${need[*]} failed"
fi

DOCKERD_PID=""
stop_dockerd() {
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
  fi
}
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || skip "no Docker daemon answers and not root to start dockerd"
  dockerd >/tmp/liveness-ci-dockerd.log 2>&1 &
  DOCKERD_PID=$!
  trap stop_dockerd EXIT
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 \
    || skip "dockerd did not start: $(tail -3 /tmp/liveness-ci-dockerd.log | tr '\n' ' ')"
fi
echo "docker stage: tools and daemon ready in $(( $(date +%s) - STAGE_START )) s"

# The Docker host is often shared and long-lived: the free space is printed before and after
# (build.sh removes what earlier builds left and warns when the host is short of space).
DOCKER_ROOT=$(docker info -f '{{.DockerRootDir}}')
free_gb() { df -Pk "$DOCKER_ROOT" 2>/dev/null | awk 'NR == 2 {print int($4 / 1048576)}' || echo "?"; }
echo "docker stage: $(free_gb) GB free under $DOCKER_ROOT"

PYTHON=$PY nice -n 5 deploy/images/build.sh
echo "docker stage: images built at $(( $(date +%s) - STAGE_START )) s, $(free_gb) GB free"
LIVENESS_COMPOSE_TESTS=1 "$PY" -m pytest tests/deploy -q -s
echo "docker stage: done in $(( $(date +%s) - STAGE_START )) s, $(free_gb) GB free"
