#!/bin/sh
# Build the test guests (kernel + busybox initramfs) under the build tree; see mkguest.py.
# Debian's python3 on purpose: a pyenv/venv python3 earlier on PATH is not needed here,
# but the tests that use the same module run under it.
exec /usr/bin/python3 "$(dirname "$0")/mkguest.py" "$@"
