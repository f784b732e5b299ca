#!/usr/bin/env bash
# setup_venv.sh VENV - create the project's virtual environment with Python 3.11 and install
# Continuum into it (editable, with the dev tools). Safe to run again: it only updates.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

find_python() {
    for py in python3.11 /usr/bin/python3.11 /usr/local/bin/python3.11; do
        if command -v "$py" >/dev/null 2>&1; then command -v "$py"; return 0; fi
    done
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        command -v python3; return 0
    fi
    return 1
}

if [ ! -x "$venv/bin/python" ]; then
    py=$(find_python) || {
        echo "setup_venv: Python 3.11 is required (PyTorch's CPU build is pinned for 3.11)." >&2
        echo "setup_venv: install it (Debian 12: apt-get install python3.11 python3.11-venv)." >&2
        exit 1
    }
    if ! "$py" -m venv "$venv" 2>/dev/null; then
        # Debian ships venv support separately; install it when we may.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3.11-venv >&2
            "$py" -m venv "$venv"
        else
            echo "setup_venv: '$py -m venv' failed: install python3.11-venv" >&2
            exit 1
        fi
    fi
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[dev]'
echo "setup_venv: $venv ready ($("$venv/bin/python" --version))" >&2
