# Shared helpers for Ferry's scripts: repository root, PATH, pinned tool versions, logging.
# Sourced, not run.

FERRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

# Pinned versions. wasm-bindgen must equal the version in Cargo.lock exactly.
CARGO_LEPTOS_VERSION="0.3.10"
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$FERRY_ROOT/Cargo.lock")"
BINARYEN_VERSION="132"
S3S_FS_VERSION="0.14.1"
PYARROW_VERSION="26.0.1"
AZURITE_VERSION="3.35.0"
AZURE_STORAGE_BLOB_VERSION="12.31.1"

# Where cargo puts binaries; honour a caller's CARGO_TARGET_DIR.
FERRY_TARGET_DIR="${CARGO_TARGET_DIR:-$FERRY_ROOT/target}"
# cargo-leptos writes the site (WASM, JS, CSS) under the workspace's own target/, whatever
# CARGO_TARGET_DIR says (site-root in Cargo.toml).
FERRY_SITE_ROOT="$FERRY_ROOT/target/site"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Cleanup commands run when the shell exits, in reverse order (several services each add one).
FERRY_ON_EXIT=()
on_exit() {
  FERRY_ON_EXIT=("$*" "${FERRY_ON_EXIT[@]}")
  trap 'for c in "${FERRY_ON_EXIT[@]}"; do eval "$c"; done' EXIT
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
