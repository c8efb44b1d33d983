#!/usr/bin/env bash
# Idempotent environment setup: system packages, a Python 3.11 virtualenv in
# .venv, torch pinned to the CPU build, then every other dependency in ONE pip
# command with constraints.txt (separate installs silently undo pins).
# Re-running is cheap: a stamp of pyproject.toml + constraints.txt skips pip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------
# espeak-ng: speech for languages other than English (the renderer).
# fonts-wqy-zenhei: CJK glyphs for burned-in Chinese captions.
# libpango: WeasyPrint (ledger/pdf.py) lays out PDF statements with it.
# chromium: the browser tests drive Debian's chromium through playwright.
need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng libespeak-ng1)
[[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]] || need_apt+=(fonts-wqy-zenhei)
# pango (with harfbuzz, fontconfig): WeasyPrint's text layout for PDF statements;
# harfbuzz-subset: its font subsetting (fontTools otherwise: slower, and deprecated by WeasyPrint).
ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so.0' || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libfontconfig1)
ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset.so.0' || need_apt+=(libharfbuzz-subset0)
if [[ "${DOPPEL_SETUP_BROWSER:-0}" == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi
# fonts-dejavu-core: readable text in the browser tests' screenshots (docs/screenshots/).
if [[ "${DOPPEL_SETUP_BROWSER:-0}" == 1 ]] && [[ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]]; then
  need_apt+=(fonts-dejavu-core)
fi
if ((${#need_apt[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo -n"; fi
  if command -v apt-get >/dev/null 2>&1; then
    log "apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null || log "apt-get update failed; trying install anyway"
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
      || log "WARNING: could not install ${need_apt[*]}; features needing them will report a clear error"
  else
    log "WARNING: no apt-get; please install: ${need_apt[*]}"
  fi
fi

# --- python ----------------------------------------------------------------
PY="${DOPPEL_PYTHON:-}"
if [[ -z "$PY" ]]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[[ -n "$PY" ]] || { log "Python 3.11 is required (the pinned torch wheel is cp311)"; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.doppel-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  start=$(date +%s)
  log "installing dependencies (first time takes ~3-4 minutes)"
  $VPY -m pip install -q --upgrade pip setuptools wheel
  # torch first, pinned, so nothing later resolves a CUDA build.
  $VPY -m pip install -q "torch==2.13.0"
  $VPY -m pip install -q -c constraints.txt -e ".[dev]"
  $VPY -m pip check
  echo "$want" > "$stamp"
  log "dependencies installed in $(( $(date +%s) - start ))s"
fi
