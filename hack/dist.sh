#!/usr/bin/env bash
# make dist: every release artefact into dist/ from a clone, nothing else
# needed but Go and Python 3:
#   sparkcm-hook-OS-ARCH               static binaries (-trimpath, no cgo)
#   sparkcm-hook-OS-ARCH.cdx.json      their CycloneDX SBOMs (cyclonedx-gomod)
#   kubectl-sparkcm-OS-ARCH.tar.gz     the krew archives (the binary as kubectl-sparkcm, LICENSE)
#   sparkcm.yaml                       the krew manifest, a sha256 per platform
#   sparkcm-hook-image-VERSION.oci.tar the image, one index over the linux binaries (tools/image)
#   sparkcm-hook-VERSION.tgz           the chart (helm package)
#   sparkcm_airflow-VERSION*.whl/.tar.gz  the Airflow package (python -m build)
#   SHA256SUMS
# Stamps come from hack/version.sh (VERSION, the commit and the commit's
# date), never from the clock, so the binaries, SBOMs, krew archives and
# image of one commit are identical from build to build
# (internal/release tests it).
#
# DIST_DIR (default dist), DIST_PLATFORMS (default the four below) and
# DIST_PARTS (default "bin image chart python") narrow it for tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${DIST_DIR:-$root/dist}
platforms=${DIST_PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
parts=" ${DIST_PARTS:-bin image chart python} "
has() { [[ $parts == *" $1 "* ]]; }

stamps=$(hack/version.sh)
version=$(sed -n 's/^version=//p' <<<"$stamps")
commit=$(sed -n 's/^commit=//p' <<<"$stamps")
date=$(sed -n 's/^date=//p' <<<"$stamps")
epoch=$(date -u -d "$date" +%s)
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"

rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

linux=()
if has bin; then
  cyclonedx=$(hack/cyclonedx.sh)
  krew_platforms=
  for p in $platforms; do
    os=${p%/*} arch=${p#*/}
    bin="$out/sparkcm-hook-$os-$arch"
    echo "dist: $bin" >&2
    CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$bin" ./cmd/sparkcm-hook
    [[ $os == linux ]] && linux+=("$bin")
    "$cyclonedx" bin -json -noserial -notimestamp -version "v$version" -output "$bin.cdx.json" "$bin"
    # krew installs the archive's kubectl-sparkcm; tar and gzip without
    # owners, clock or order from this machine.
    stage="$tmp/krew-$os-$arch"
    mkdir -p "$stage"
    cp "$bin" "$stage/kubectl-sparkcm"
    cp LICENSE "$stage/LICENSE"
    archive="kubectl-sparkcm-$os-$arch.tar.gz"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' \
      -C "$stage" -cf - LICENSE kubectl-sparkcm | gzip -n -9 >"$out/$archive"
    sha=$(sha256sum "$out/$archive" | cut -d' ' -f1)
    krew_platforms+="  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: https://github.com/sparkcm-hook/sparkcm-hook/releases/download/v$version/$archive
    sha256: $sha
    bin: kubectl-sparkcm
    files:
      - from: kubectl-sparkcm
        to: .
      - from: LICENSE
        to: .
"
  done
  awk -v version="$version" -v platforms="${krew_platforms%$'\n'}" \
    '{ gsub(/@VERSION@/, version) } $0 == "@PLATFORMS@" { print platforms; next } !/^# / { print }' \
    deploy/krew/sparkcm.yaml.tmpl >"$out/sparkcm.yaml"
fi

if has image && ((${#linux[@]})); then
  echo "dist: image sparkcm-hook:$version (${#linux[@]} architectures)" >&2
  args=()
  for b in "${linux[@]}"; do args+=(-binary "$b"); done
  (cd tools/image && go run . -o "$out/sparkcm-hook-image-$version.oci.tar" -name "sparkcm-hook:$version" "${args[@]}" \
    -entrypoint /sparkcm-hook -user 65532:65532 -ca-certs /etc/ssl/certs/ca-certificates.crt)
fi

if has chart; then
  echo "dist: chart" >&2
  # A dev build's chart pulls the dev build's image.
  helm=${SPARKCM_HELM:-$(hack/helm.sh)}
  "$helm" package deploy/helm/sparkcm-hook --version "$version" --app-version "$version" --destination "$out" >&2
fi

if has python; then
  echo "dist: Airflow package" >&2
  python=$(hack/pybuild.sh)
  # Built from a copy, so the checkout gets no build/ or egg-info, with the
  # project's LICENSE inside; SOURCE_DATE_EPOCH dates the wheel's files.
  mkdir -p "$tmp/airflow"
  cp -r airflow/pyproject.toml airflow/README.md airflow/sparkcm_airflow LICENSE "$tmp/airflow/"
  find "$tmp/airflow" -name __pycache__ -prune -exec rm -rf {} +
  SOURCE_DATE_EPOCH=$epoch "$python" -m build --no-isolation --outdir "$out" "$tmp/airflow" >&2
fi

(cd "$out" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs -r sha256sum >SHA256SUMS)
echo "dist: $(wc -l <"$out/SHA256SUMS") files in $out, version $version" >&2
