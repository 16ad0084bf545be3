#!/usr/bin/env bash
# Set up spoofscope on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv,
# PyTorch (CPU build), the package itself and the development tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages, installed only when missing. libsndfile comes inside the soundfile wheel and
# FFmpeg inside the PyAV wheel. The rest: speech engines and real recordings for the offline
# corpus (`spoofscope corpus build`), PostgreSQL for the service tests, Chromium for the web
# page tests, espeak-ng for the VAD tests.
apt_packages=(
  git espeak-ng sox
  asterisk-core-sounds-en-wav asterisk-core-sounds-en
  flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  postgresql chromium
)
need_apt=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of PyTorch; a bare "torch" requirement would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0" \
  || .venv/bin/pip install -q torch --index-url https://download.pytorch.org/whl/cpu
.venv/bin/pip install -q -e ".[dev]"
