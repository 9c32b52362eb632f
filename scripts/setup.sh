#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine (idempotent):
#   - Debian packages: text-to-speech engines, sox, chromium + chromium-driver (the server's browser
#     test) (installed only when missing)
#   - a virtualenv in .venv with speechrnn installed in editable mode
# Usage: bash scripts/setup.sh   (SPEECHRNN_SKIP_APT=1 to skip the Debian step;
#        SPEECHRNN_EXTRA_VOICES=1 to add other-language festival voices for the speakers recipe)
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PKGS=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox libsndfile1 fortunes fortunes-min wordnet-base chromium chromium-driver)
# SPEECHRNN_EXTRA_VOICES=1: festival's recorded humans of other languages (~60 MB; +180 MB with
# festvox-ru), training-only speakers for `speechrnn synth speakers --other-language-voices`
if [ -n "${SPEECHRNN_EXTRA_VOICES:-}" ]; then
  APT_PKGS+=(festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-italp16k
             festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv festvox-ca-ona-hts festvox-ru)
fi
if [ -z "${SPEECHRNN_SKIP_APT:-}" ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch 2.14.1 + torchaudio 2.11.0 load together; torchaudio from PyPI does not load beside torch 2.13 CPU.
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
quiet .venv/bin/pip install -q --disable-pip-version-check "torch==2.14.1" "torchaudio==2.11.0"
quiet .venv/bin/pip install -q --disable-pip-version-check -e ".[dev,lm,plots,bpe,tts,teacher,serve,onnx,runtime]"
echo "setup: ok ($(.venv/bin/python -c 'import torch, torchaudio; print("torch", torch.__version__, "torchaudio", torchaudio.__version__)'))"
