#!/usr/bin/env bash
# Creates (once) the Python venv holding the real py2p 0.7.878 that the
# interop tests (tests/tests/py2p_interop.rs) run beside our nodes, in
# .venv/py2p (ignored by git). Idempotent: when the venv is there and py2p
# imports, it only prints the python path. Prints that path on stdout as its
# last line; everything else goes to stderr.
#
# py2p's own pins do not install on a new Python, so its dependencies are
# pinned here by hand and py2p itself is installed with --no-deps
# (see shared/spec/py2p-mesh-wire.md, "Vectors").
set -euo pipefail
cd "$(dirname "$0")/.."

venv=".venv/py2p"
python="$PWD/$venv/bin/python"
# The import check py2p needs on Python >= 3.10 (u-msgpack-python 2.3.0 uses
# collections.Hashable), as the driver does it.
check='import collections, collections.abc
collections.Hashable = collections.abc.Hashable
import importlib.metadata, py2p, cryptography
# (py2p 0.7.878 calls itself "0.7.870" in py2p.__version__: ask the installed metadata.)
v = importlib.metadata.version("py2p")
assert v == "0.7.878", v'

if [ -x "$python" ] && "$python" -c "$check" 2>/dev/null; then
    echo "$python"
    exit 0
fi

host_python="${PYTHON:-python3}"
if ! command -v "$host_python" >/dev/null; then
    echo "py2p-venv: no $host_python on PATH: cannot create $venv" >&2
    exit 1
fi
echo "py2p-venv: creating $venv with $("$host_python" --version 2>&1)" >&2
rm -rf "$venv"
"$host_python" -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check -q \
    u-msgpack-python==2.3.0 pyee==3.0.3 base58==1.0.3 async_promises==1.1.1 \
    custom-inherit==2.4.1 typing==3.7.4.3 cryptography >&2
"$venv/bin/pip" install --disable-pip-version-check -q --no-deps py2p==0.7.878 >&2
if ! "$python" -c "$check"; then
    echo "py2p-venv: py2p does not import from $venv" >&2
    exit 1
fi
echo "$python"
