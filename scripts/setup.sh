#!/usr/bin/env bash
# Set up spoofscope on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv,
# PyTorch (CPU build), the package itself and the development tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# System libraries: libsndfile comes inside the soundfile wheel and FFmpeg inside the PyAV
# wheel, so only tools used by tests and docs are needed here. Installed only when missing.
need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)  # speech for the VAD tests
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of PyTorch; a bare "torch" requirement would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0" \
  || .venv/bin/pip install -q torch --index-url https://download.pytorch.org/whl/cpu
.venv/bin/pip install -q -e ".[dev]"
