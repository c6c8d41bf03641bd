#!/bin/bash
# Install the Debian packages trivisor needs to build and test. Idempotent and quiet:
# when everything is installed it only asks dpkg (a fraction of a second) and prints
# nothing; `apt-get update` runs only when something has to be installed.
#
# usage: scripts/deps.sh [--check]    (--check: report what is missing, install nothing)
set -euo pipefail

packages=(
	# build; libclang-rt-14-dev has libFuzzer for Debian 12's clang (make fuzz)
	meson ninja-build gcc clang libclang-rt-14-dev pkg-config libzydis-dev libslirp-dev
	libseccomp-dev libmicrohttpd-dev libjansson-dev
	# test runners: Debian's python3, which is the one that has pytest and pexpect
	# (a pyenv or venv python3 earlier on PATH does not see them); xdist runs the
	# nested kvm tests beside the host's (make test)
	python3 python3-pytest python3-pytest-xdist python3-pexpect
	# guest images (scripts/mkguest.sh) and the nested kvm harness (tests/nested/)
	qemu-system-x86 busybox-static kmod cpio e2fsprogs xz-utils gzip
	# firmware boot: SeaBIOS and its VGA BIOS; bootable disk and CD images built from
	# Debian's boot loaders (scripts/mkguest.sh --disk-image/--iso)
	seabios syslinux syslinux-common isolinux mtools dosfstools fdisk xorriso
)

check_only=0
case "${1:-}" in
--check) check_only=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# dpkg-query prints one status line per known package; anything not "install ok
# installed" (or unknown to dpkg, which it reports on stderr) is missing.
missing=()
status=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
for p in "${packages[@]}"; do
	grep -qx "$p install ok installed" <<<"$status" || missing+=("$p")
done

((${#missing[@]} == 0)) && exit 0

if ((check_only)); then
	echo "missing packages: ${missing[*]}" >&2
	exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
	sudo=(sudo)
else
	sudo=()
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive

if ! "${sudo[@]}" apt-get update >"$log" 2>&1; then
	echo "deps.sh: apt-get update failed:" >&2
	cat "$log" >&2
	exit 1
fi
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
	echo "deps.sh: apt-get install ${missing[*]} failed:" >&2
	cat "$log" >&2
	exit 1
fi
echo "deps.sh: installed ${missing[*]}"
