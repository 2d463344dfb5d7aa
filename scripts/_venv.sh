# Sourced by scripts/*.sh: create or reuse .venv and install the project into it.
# Usage: source scripts/_venv.sh; ensure_venv '.[test]'   (or '.')
# Reinstalls only when pyproject.toml or the requested extra changed since the last install.

PYTHON="${PYTHON:-python3}"
VENV_DIR="${VENV_DIR:-.venv}"

ensure_venv() {
    local spec="$1"
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "error: $PYTHON not found; datavc needs Python 3.11 or newer" >&2
        exit 1
    fi
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "error: datavc needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)." >&2
            echo "       Set PYTHON=/path/to/python3.11 (or newer) and re-run." >&2
            exit 1
        fi
        echo "creating $VENV_DIR with $("$PYTHON" -V 2>&1)"
        "$PYTHON" -m venv "$VENV_DIR"
    fi
    if ! "$VENV_DIR/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "error: $VENV_DIR uses $("$VENV_DIR/bin/python" -V 2>&1); datavc needs 3.11+." >&2
        echo "       Remove $VENV_DIR and re-run with PYTHON=/path/to/python3.11 (or newer)." >&2
        exit 1
    fi

    # The stamp records what was installed: sha of pyproject.toml plus the install spec.
    local stamp="$VENV_DIR/.datavc-install-stamp"
    local sha want
    sha="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    want="$sha $spec"
    # An install with the test extra also satisfies a plain install.
    if ! grep -qxF "$want" "$stamp" 2>/dev/null && ! grep -qxF "$want[test]" "$stamp" 2>/dev/null; then
        echo "installing $spec into $VENV_DIR"
        "$VENV_DIR/bin/python" -m pip install -q -e "$spec"
        # Keep other specs installed from this same pyproject.toml (installing '.' after
        # '.[test]' leaves the test extras in place); forget those from older versions.
        { grep "^$sha " "$stamp" 2>/dev/null || true; } >"$stamp.new"
        echo "$want" >>"$stamp.new"
        mv "$stamp.new" "$stamp"
    fi
    # Byte-compile the sources once, as installing a wheel does. The install is editable,
    # and with PYTHONDONTWRITEBYTECODE set every start would compile ~5,000 lines again
    # (~40 ms a command). Up-to-date files are skipped; a stale .pyc is never used.
    "$VENV_DIR/bin/python" -m compileall -q -j 0 datavc storage >/dev/null 2>&1 || true
    export PATH="$PWD/$VENV_DIR/bin:$PATH"
}
