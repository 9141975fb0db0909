#!/usr/bin/env bash
# Installs llama-cpp-python's OpenAI-compatible server into a virtual environment at
# ${MAZE_RLLF_LLAMA_SERVER:-${XDG_CACHE_HOME:-~/.cache}/maze-rllf-llama-server} and prints the
# path of its python. Idempotent: an environment whose server imports is left alone.
#
# The build is generic (GGML_NATIVE=OFF): a native build crashed on some x86 machines. Building
# llama.cpp from the sdist takes several minutes on 2 cores, once.
#
#   scripts/install-llama-server.sh           # prints .../bin/python
#   "$(scripts/install-llama-server.sh)" -m llama_cpp.server --model models/X.gguf --port 8089
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="0.3.16"
VENV="${MAZE_RLLF_LLAMA_SERVER:-${XDG_CACHE_HOME:-$HOME/.cache}/maze-rllf-llama-server}"
PY="$VENV/bin/python"

if [[ -x "$PY" ]] && "$PY" -c "import llama_cpp.server, llama_cpp; assert llama_cpp.__version__ == '$VERSION'" 2>/dev/null; then
  echo "$PY"
  exit 0
fi

command -v g++ >/dev/null 2>&1 || scripts/apt-install.sh g++ >&2
python3 -m venv --help >/dev/null 2>&1 || scripts/apt-install.sh python3-venv >&2
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
echo "llama-cpp-python $VERSION: building the server (generic CPU build, several minutes) ..." >&2
CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  "$VENV/bin/pip" install --quiet --no-cache-dir "llama-cpp-python[server]==$VERSION" >&2
"$PY" -c "import llama_cpp.server" >&2
echo "$PY"
