#!/usr/bin/env bash
# Makes sure the system tools the test suite needs are present. As root it installs what is
# missing from Debian's packages; otherwise it names exactly what to install and stops.
#   clang, lld      -> build the wasm32 math core
#   libgmp-dev, g++, make, python3 -> build the native GMP addon (node-gyp)
#   libsecp256k1-dev -> secp256k1 of the signing path in the addon (without it: @noble/curves)
#   nats-server     -> transport integration tests (each test starts its own server)
#   softhsm2        -> PKCS#11 store tests against a real token
set -euo pipefail

declare -A need=(
  [clang]=clang
  [wasm-ld]=lld
  [g++]=g++
  [make]=make
  [python3]=python3
  [nats-server]=nats-server
  [softhsm2-util]=softhsm2
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ] || missing+=("${need[$cmd]}")
done
if [ ! -f /usr/include/gmp.h ] && [ ! -f "/usr/include/$(uname -m)-linux-gnu/gmp.h" ]; then
  missing+=(libgmp-dev)
fi
if [ ! -f /usr/include/secp256k1.h ] && [ ! -f "/usr/include/$(uname -m)-linux-gnu/secp256k1.h" ]; then
  missing+=(libsecp256k1-dev)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system tools present"
  exit 0
fi
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing packages ${missing[*]} and no apt-get on this machine; install them by hand" >&2
  exit 1
fi
echo "setup: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
