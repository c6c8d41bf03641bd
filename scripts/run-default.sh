#!/bin/sh
# Boot the default guest (stock Debian kernel + busybox shell) with trivisor.
# Where no engine can run on this host (no /dev/kvm with VT-x/AMD-V, and the soft
# engine is not built yet), the kvm engine runs inside the nested harness instead:
# a QEMU TCG guest with emulated AMD SVM (see tests/nested/harness.py).
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/.."
GUEST_ARGS="--append console=ttyS0"

if "$BUILD/trivisor" engines >/dev/null 2>&1; then
	exec "$BUILD/trivisor" run --kernel "$BUILD/guest/bzImage" \
		--initrd "$BUILD/guest/initramfs.cpio.gz" $GUEST_ARGS
fi
echo "trivisor: no engine can run directly on this host:"
"$BUILD/trivisor" engines | sed 's/^/  /'
echo "Booting under the kvm engine inside QEMU TCG with nested SVM instead (slow)."
echo "In the guest shell, 'poweroff' ends it; Ctrl-A x quits trivisor."
TRIVISOR_BUILD="$BUILD" exec /usr/bin/python3 tests/nested/harness.py -i -- \
	trivisor run --kernel /guest/bzImage --initrd /guest/initramfs.cpio.gz $GUEST_ARGS
