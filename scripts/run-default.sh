#!/bin/bash
# Boot the default guest (stock Debian kernel, busybox shell) under trivisor on this
# terminal: `make run`. Ctrl-A x quits; `poweroff` in the guest ends it too.
#
# usage: scripts/run-default.sh [BUILD] [trivisor run options...]
#
# The kvm engine boots it where it can run here (`trivisor engines` says why not: no
# /dev/kvm with VT-x/AMD-V). Elsewhere, until the soft engine boots Linux, the kvm
# engine runs inside the nested QEMU guest instead (tests/nested/harness.py): slower to
# start, the same guest in the end.
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

if "$build/trivisor" engines | grep -q '^kvm  *available'; then
	exec "$build/trivisor" run --engine kvm --kernel "$build/guest/bzImage" \
		--initrd "$build/guest/initramfs.cpio.gz" "${guest_args[@]}" "$@"
fi
echo "run-default: the kvm engine cannot run directly on this host:" >&2
"$build/trivisor" engines | sed 's/^/  /' >&2 || true
echo "run-default: running the kvm engine inside the nested QEMU guest instead (slow)" >&2
TRIVISOR_BUILD=$build exec /usr/bin/python3 "$repo/tests/nested/harness.py" -i -- \
	trivisor run --engine kvm --kernel /guest/bzImage --initrd /guest/initramfs.cpio.gz \
	"${guest_args[@]}" "$@"
