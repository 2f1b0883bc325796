#!/usr/bin/env bash
# Install kamerqa with its test tools on a fresh machine, then run every test (fast, model and browser).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 GRADIO_ANALYTICS_ENABLED=False
python3 -m pip install -q torch==2.13.0            # the CPU build; a plain 'torch' would pull CUDA
python3 -m pip install -q -e ".[test,ray]"       # ray: the Ray build tests (tests/test_ray.py)
if [ ! -x /usr/lib/chromium/chromium ] || [ ! -e /usr/share/dictd/freedict-nld-eng.index ]; then
  # Debian's Chromium for the browser tests, FreeDict's English-Dutch dictionaries for English questions
  (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium dict-freedict-eng-nld dict-freedict-nld-eng) >/dev/null
fi
python3 -m pytest -q -ra --slow "$@"
