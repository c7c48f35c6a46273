#!/usr/bin/env bash
# Build liveness-stream's images, one per role, with Docker's legacy builder and no registry:
#   deploy/images/build.sh [base] [processor] [verifier] [gateway] [kafka] [prometheus]  (default: all)
# base:      liveness-base:bookworm, a Debian bookworm minbase made with debootstrap from the
#            machine's configured Debian mirror (read from apt's sources, or $DEBIAN_MIRROR)
#            with python3.11 and python3.11-venv; skipped when the image exists.
# roles:     a wheelhouse built here with pip (the role's extra; the processor's mediapipe without
#            its requirements), installed in the image with --no-index: nothing is fetched in the build.
# kafka:     the Maven jars of deploy/kafka/pom.xml on Debian's openjdk-17-jre-headless.
# prometheus: Debian's prometheus package (deploy/compose.yaml mounts its configuration).
# Needs a running Docker daemon, debootstrap (for the base), Maven (for the jars) and Python 3.11.
# Optional: $LIVENESS_EXTRA_CA, a CA file apt in the base needs to reach an https mirror (used only if set).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/deploy/images
OUT=${LIVENESS_IMAGE_CONTEXT:-$ROOT/out/images}
BASE=${LIVENESS_BASE_IMAGE:-liveness-base:bookworm}
TAG=${LIVENESS_IMAGE_TAG:-local}
PY=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3.11)}
export DOCKER_BUILDKIT=0  # Debian's docker.io has no buildx; the legacy builder is the portable one
# Every image built here carries this label (the build stage of Dockerfile.python too), so what a
# rebuild leaves behind can be found: the previous image of a tag and the build stage, both untagged.
# --force-rm: a failed step's container goes too (by default it stays, with its layer's files).
LABEL=org.liveness-stream.image

mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:?no Debian mirror in apt sources; set DEBIAN_MIRROR}"
}

build_base() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then echo "$BASE exists"; return; fi
  local root
  root=$(mktemp -d)
  # --include does not resolve dependencies; apt inside the image does (Dockerfile.base).
  debootstrap --variant=minbase bookworm "$root" "$(mirror)" >"$OUT/debootstrap.log" 2>&1 \
    || { tail -20 "$OUT/debootstrap.log"; rm -rf "$root"; exit 1; }
  # apt's caches (*.bin alone ~75 MB), docs, man pages and translations: nothing a container reads.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/locale/* "$root"/usr/share/info/*
  tar -C "$root" -c . | docker import - "$BASE-minbase"
  rm -rf "$root"
  mkdir -p "$OUT/base/extra-ca"
  if [ -n "${LIVENESS_EXTRA_CA:-}" ]; then cp "$LIVENESS_EXTRA_CA" "$OUT/base/extra-ca/extra.crt"; fi
  docker build -q --force-rm -f "$HERE/Dockerfile.base" --build-arg MINBASE="$BASE-minbase" -t "$BASE" "$OUT/base"
}

wheelhouse() {  # $1: role = the extra; its extension modules stripped here (binutils' strip)
  local dir=$OUT/$1
  rm -rf "$dir" && mkdir -p "$dir/wheels"
  "$PY" -m pip wheel -q --wheel-dir "$dir/wheels" "$ROOT[$1]"
  if [ "$1" = processor ]; then
    "$PY" -m pip download -q --no-deps --dest "$dir/wheels" mediapipe==0.10.21
  fi
  "$PY" "$HERE/strip_wheels.py" "$dir/wheels"
}

# The modules a role's worker imports at start: imported once in the image build, which compiles
# what they load of the big libraries (Dockerfile.python) and fails the build if one cannot load.
warm_modules() {  # $1: role
  case $1 in
    processor) echo "liveness.cli processors.agent processors.identity" ;;
    verifier) echo "liveness.cli verifier.agent" ;;
    gateway) echo "liveness.cli producers.gateway.server" ;;
  esac
}

build_role() {  # $1: processor | verifier | gateway
  wheelhouse "$1"
  docker build -q --force-rm -f "$HERE/Dockerfile.python" --build-arg BASE="$BASE" --build-arg EXTRA="$1" \
    --build-arg WARM="$(warm_modules "$1")" --label "$LABEL=$1" -t "liveness-$1:$TAG" "$OUT/$1"
  rm -rf "$OUT/$1/wheels"  # the context is made afresh by every build; the image holds what it needs
}

build_kafka() {
  local dir=$OUT/kafka lib
  lib=$("$PY" -m liveness.cli broker fetch)
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$lib" "$dir/lib"
  cp "$ROOT/deploy/kafka/log4j2.properties" "$HERE/kafka-entrypoint.sh" "$dir/"
  docker build -q --force-rm -f "$HERE/Dockerfile.kafka" --build-arg BASE="$BASE" --label "$LABEL=kafka" \
    -t "liveness-kafka:$TAG" "$dir"
  rm -rf "$dir/lib"
}

build_prometheus() {
  local dir=$OUT/prometheus
  rm -rf "$dir" && mkdir -p "$dir"
  docker build -q --force-rm -f "$HERE/Dockerfile.prometheus" --build-arg BASE="$BASE" --label "$LABEL=prometheus" \
    -t "liveness-prometheus:$TAG" "$dir"
}

# A rebuilt role leaves ~1 GB untagged (its build stage, the image its tag pointed at before): a host
# that builds every day would fill its disk within weeks. Untagged images with the label go (ours,
# or built FROM ours) once they are older than REPLACED_AGE, so a build running beside this one
# keeps its build stage until its COPY --from has read it; tagged images stay. A prune that fails
# (the daemon runs one prune at a time) leaves them to the next build, and the build goes on.
REPLACED_AGE=${LIVENESS_PRUNE_AFTER:-15m}
prune_replaced() {
  docker image prune -f --filter "label=$LABEL" --filter "until=$REPLACED_AGE" 2>&1 | tail -1 \
    || echo "image prune failed; left for the next build"
}

# The images, their build stages and their contexts take ~4 GB at the peak of a full build. A host
# short of it is named as the cause before a build fails half-way with "no space left on device".
# Best effort: a daemon whose root is not a local directory (a remote DOCKER_HOST) is not checked.
warn_if_short_of_space() {
  local root free_gb
  root=$(docker info -f '{{.DockerRootDir}}' 2>/dev/null) || root=""
  [ -d "$root" ] || root=$OUT
  free_gb=$(df -Pk "$root" "$OUT" 2>/dev/null \
    | awk 'NR > 1 && (min == "" || $4 < min) {min = $4} END {print int(min / 1048576)}') || return 0
  if [ -n "$free_gb" ] && [ "$free_gb" -lt 6 ]; then
    echo "WARNING: only $free_gb GB free for $root and $OUT; a full build needs ~4 GB. Docker holds:" >&2
    docker system df >&2 || true
  fi
}

mkdir -p "$OUT"
echo "untagged images of earlier builds: $(prune_replaced)"
warn_if_short_of_space
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(base processor verifier gateway kafka prometheus)
for target in "${targets[@]}"; do
  start=$(date +%s)
  case $target in
    base) build_base ;;
    processor | verifier | gateway) build_base; build_role "$target" ;;
    kafka) build_base; build_kafka ;;
    prometheus) build_base; build_prometheus ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  [ "$target" = base ] || prune_replaced >/dev/null || true
  image=$([ "$target" = base ] && echo "$BASE" || echo "liveness-$target:$TAG")
  size=$(docker image inspect -f '{{.Size}}' "$image")
  echo "$image: $((size / 1000000)) MB, built in $(( $(date +%s) - start )) s"
done
