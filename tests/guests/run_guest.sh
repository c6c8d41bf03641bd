#!/bin/sh
# run_guest.sh EXPECTED_STATUS TRIVISOR ARGS...: run a test guest, pass if trivisor
# exits with EXPECTED_STATUS (99: the guest wrote 0x31 to isa-debug-exit, all checks ok).
want=$1
shift
"$@" </dev/null
got=$?
if [ "$got" -ne "$want" ]; then
	echo "run_guest: exit status $got, expected $want" >&2
	exit 1
fi
exit 0
