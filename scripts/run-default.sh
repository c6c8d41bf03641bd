#!/bin/bash
# Boot the default guest (stock Debian kernel, busybox shell) under trivisor on this
# terminal: `make run`. Ctrl-A x quits; `poweroff` in the guest ends it too.
#
# usage: scripts/run-default.sh [BUILD] [trivisor run options...]
#
# `--engine auto`: the kvm engine where it can run here, else the soft engine (about
# 30 s to the shell; `trivisor engines` says why kvm cannot run). TRIVISOR_RUN_NESTED=1
# runs the kvm engine inside the nested QEMU guest the tests use instead
# (tests/nested/harness.py): the real kvm engine on a host without /dev/kvm, slower.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${TRIVISOR_BUILD:-build}}
shift || true
guest_args=(--append console=ttyS0)

if [[ ! -x $build/trivisor ]]; then
	echo "run-default: $build/trivisor not built (make build)" >&2
	exit 1
fi
if [[ ! -f $build/guest/bzImage || ! -f $build/guest/initramfs.cpio.gz ]]; then
	echo "run-default: no guest images in $build/guest (scripts/mkguest.sh --out $build/guest)" >&2
	exit 1
fi

if [[ ${TRIVISOR_RUN_NESTED:-0} == 1 ]]; then
	echo "run-default: running the kvm engine inside the nested QEMU guest (slow)" >&2
	TRIVISOR_BUILD=$build exec /usr/bin/python3 "$repo/tests/nested/harness.py" -i -- \
		trivisor run --engine kvm --kernel /guest/bzImage --initrd /guest/initramfs.cpio.gz \
		"${guest_args[@]}" "$@"
fi
if ! "$build/trivisor" engines | grep -q '^kvm  *available'; then
	echo "run-default: no usable /dev/kvm here, booting under the soft engine (about 30 s):" >&2
	"$build/trivisor" engines | sed 's/^/  /' >&2 || true
fi
exec "$build/trivisor" run --engine auto --kernel "$build/guest/bzImage" \
	--initrd "$build/guest/initramfs.cpio.gz" "${guest_args[@]}" "$@"
