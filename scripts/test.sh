#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, property, corpus replay,
# CLI and doc tests, plus mesh-proto built with no codec features.
# Installs what the tests need first: the real py2p, in a Python venv at
# .venv/py2p (scripts/py2p-venv.sh; fast when it is already there), for the
# interop tests (tests/tests/py2p_interop.rs), which find its python through
# PY2P_PYTHON. Under CI (CI=true) a venv that cannot be made fails the run;
# elsewhere the interop tests then skip, each saying so on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

if PY2P_PYTHON="$(scripts/py2p-venv.sh)"; then
    export PY2P_PYTHON
else
    case "${CI:-}" in
        "" | 0 | false)
            echo "test.sh: WARNING: no py2p venv: the py2p interop tests will be SKIPPED" >&2 ;;
        *)
            echo "test.sh: cannot set up the py2p venv, which the interop tests need under CI" >&2
            exit 1 ;;
    esac
fi

# js2p (npm's js2p 0.7.870, pinned in tests/js2p): the lazy-push marker in
# our handshake is harmless to a real js2p node (tests/js2p/marker_probe.py
# plays our handshake at it over loopback). Needs node and npm, and the py2p
# venv's python (for u-msgpack-python).
if [ -n "${PY2P_PYTHON:-}" ] && command -v npm >/dev/null; then
    (cd tests/js2p && npm ci --no-audit --no-fund --loglevel=error >&2)
    "$PY2P_PYTHON" tests/js2p/marker_probe.py
else
    case "${CI:-}" in
        "" | 0 | false)
            echo "test.sh: WARNING: no npm or no py2p venv: the js2p marker probe is SKIPPED" >&2 ;;
        *)
            echo "test.sh: the js2p marker probe needs npm and the py2p venv under CI" >&2
            exit 1 ;;
    esac
fi

cargo test --workspace --all-targets
cargo test --workspace --doc
cargo test -p mesh-proto --no-default-features --all-targets

# Each adapter's examples must run to their end: chat_pair, and tutorial
# (py2p's mesh tutorial in that runtime's idiom).
for crate in mesh-tokio mesh-async-std mesh-blocking; do
    cargo run -q -p "$crate" --example chat_pair
    cargo run -q -p "$crate" --example tutorial
done
