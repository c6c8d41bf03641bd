#!/usr/bin/python3
"""Build trivisor's test guests from Debian packages: the stock kernel and busybox
initramfs images. Nothing it makes is committed: everything goes under the build tree.

    scripts/mkguest.sh                      # kernel + default initramfs in build/guest
    scripts/mkguest.sh --initramfs build/x.cpio.gz --modules virtio_blk ext4 \\
                       --script test.sh --file build/tool:/bin/tool

Outputs (in --out, default $TRIVISOR_BUILD/guest or build/guest):
    bzImage            the kernel of the package linux-image-amd64 depends on
    kernel.version     its `uname -r`, for tests
    initramfs.cpio.gz  the default guest: busybox shell on the console, no modules, and
                       the guest user programs (tests/guests/user: utest, hostile,
                       vecregs, ubench in /bin) built by meson in the build tree
                       (--build, default OUT's parent)
    debs/, kernel/, busybox/   downloaded packages and their extracted trees (cache)

The guest's init (see INIT below) mounts proc, sys and devtmpfs, loads the requested
modules, sources an optional hook, then either runs the test script given with
--script and powers off, or execs busybox init, which keeps a shell on the console
(respawned, no "press Enter" prompt) and makes `poweroff` and `reboot` work.

Everything is cached: with all outputs present and their inputs unchanged a run makes
no apt call and takes a few tens of milliseconds. An initramfs is rebuilt when the
hash of everything that goes into it (file contents, options, this script) changes.

Also used as a library by tests/nested/harness.py (ensure_base, build_initramfs).
"""

import argparse
import fnmatch
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PROMPT = "guest# "
KERNEL_META = "linux-image-amd64"
BUSYBOX_PKG = "busybox-static"


class GuestError(Exception):
    """A guest image could not be built; the message says why and what to do."""


def default_out() -> Path:
    build = os.environ.get("TRIVISOR_BUILD")
    return (Path(build) if build else REPO / "build") / "guest"


def _run(cmd, what, cwd=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise GuestError(f"{what}: {cmd[0]} not found (run scripts/deps.sh)")
    if p.returncode != 0:
        raise GuestError(f"{what} failed (exit {p.returncode}): {' '.join(map(str, cmd))}\n"
                         f"{p.stderr.strip() or p.stdout.strip()}")
    return p.stdout


# ---------------------------------------------------------------------------------------
# Packages: resolve, download, extract (once; later runs never ask apt)

def _apt_retry(fn):
    """apt-cache and apt-get download fail when the package lists were never fetched
    (a fresh machine); refresh them once, as root, and try again."""
    try:
        return fn()
    except GuestError as first:
        if os.geteuid() != 0:
            raise GuestError(f"{first}\n(run `apt-get update` as root and retry)")
        try:
            _run(["apt-get", "update"], "apt-get update")
        except GuestError as e:
            raise GuestError(f"{first}\nand then {e}")
        return fn()


def resolve_kernel_package() -> str:
    """The versioned image package (linux-image-6.1.0-NN-amd64) of the meta package."""
    def query():
        out = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests", KERNEL_META],
                   f"apt-cache depends {KERNEL_META}")
        m = re.search(r"^\s*Depends:\s*(linux-image-\d\S*)\s*$", out, re.M)
        if not m:
            raise GuestError(f"apt-cache depends {KERNEL_META} names no linux-image-X package:\n{out}")
        return m.group(1)
    return _apt_retry(query)


def download(pkg: str, debs: Path, refresh=False) -> Path:
    """debs/PKG_*.deb: the one already there, else a fresh apt-get download."""
    cached = sorted(debs.glob(f"{pkg}_*.deb"), key=lambda p: p.stat().st_mtime)
    if cached and not refresh:
        return cached[-1]
    debs.mkdir(parents=True, exist_ok=True)
    # apt-get download runs as _apt when root; that user cannot write the build tree.
    _apt_retry(lambda: _run(["apt-get", "download", "-o", "APT::Sandbox::User=root", pkg],
                            f"apt-get download {pkg}", cwd=debs))
    found = sorted(debs.glob(f"{pkg}_*.deb"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise GuestError(f"apt-get download {pkg} left no {pkg}_*.deb in {debs}")
    return found[-1]


def extract(deb: Path, dest: Path, after=None):
    """dpkg-deb -x into a temporary sibling, then rename: an interrupted run never
    leaves a half tree that looks finished. The stamp file marks completion."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"extracting {deb.name}")
    if after:
        after(tmp)
    (tmp / ".stamp").write_text(deb.name + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


@dataclass
class Base:
    """The extracted packages every initramfs is built from."""
    out: Path
    version: str        # kernel release, as `uname -r` prints it
    bzimage: Path
    kernel_root: Path   # extracted linux-image package, with a full modules.dep
    busybox: Path       # static busybox binary

    @property
    def moddir(self) -> Path:
        return self.kernel_root / "lib/modules" / self.version


def ensure_base(out: Path = None, refresh=False, log=print) -> Base:
    out = Path(out or default_out()).resolve()
    debs = out / "debs"
    kroot, bbroot = out / "kernel", out / "busybox"

    if refresh or not (kroot / ".stamp").exists():
        pkg = resolve_kernel_package()
        log(f"mkguest: fetching {pkg}")
        deb = download(pkg, debs, refresh)
        # The package ships no modules.dep (its postinst makes it); make one for the
        # whole tree so module dependencies can be resolved on the host.
        def depmod_all(tree):
            (ver,) = [d.name for d in (tree / "lib/modules").iterdir()]
            _run(["depmod", "-b", str(tree), ver], "depmod of the kernel package")
        extract(deb, kroot, after=depmod_all)
    if refresh or not (bbroot / ".stamp").exists():
        log(f"mkguest: fetching {BUSYBOX_PKG}")
        extract(download(BUSYBOX_PKG, debs, refresh), bbroot)

    versions = [d.name for d in (kroot / "lib/modules").iterdir()]
    if len(versions) != 1:
        raise GuestError(f"{kroot}/lib/modules holds {versions}, expected one kernel")
    version = versions[0]

    bzimage = out / "bzImage"
    src = kroot / "boot" / f"vmlinuz-{version}"
    if not bzimage.exists() or bzimage.stat().st_mtime < src.stat().st_mtime or refresh:
        shutil.copyfile(src, bzimage)
        log(f"mkguest: {bzimage} ({version})")
    vfile = out / "kernel.version"
    if not vfile.exists() or vfile.read_text().strip() != version:
        vfile.write_text(version + "\n")

    busybox = bbroot / "bin/busybox"
    if not busybox.exists():
        raise GuestError(f"{busybox} missing from the {BUSYBOX_PKG} package")
    return Base(out, version, bzimage, kroot, busybox)


# ---------------------------------------------------------------------------------------
# Kernel modules

_KO = re.compile(r"\.ko(\.xz|\.zst|\.gz)?$")


def _modname(path: str) -> str:
    return _KO.sub("", os.path.basename(path)).replace("-", "_")


class ModuleIndex:
    """modules.dep, modules.alias, modules.softdep and modules.builtin of a kernel."""

    def __init__(self, moddir: Path):
        self.moddir = moddir
        self.deps = {}      # relative path -> [relative paths]
        self.path = {}      # normalized name -> relative path
        for line in (moddir / "modules.dep").read_text().splitlines():
            mod, _, deps = line.partition(":")
            self.deps[mod] = deps.split()
            self.path[_modname(mod)] = mod
        self.builtin = {_modname(l) for l in (moddir / "modules.builtin").read_text().split()}
        # Exact aliases in a dict; wildcard ones (mostly device ids) keyed by their
        # literal prefix, so a lookup compiles only the few patterns that can match.
        self.alias_exact, self.alias_glob = {}, []
        for line in (moddir / "modules.alias").read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "alias":
                pat, mod = parts[1], parts[2].replace("-", "_")
                prefix = re.split(r"[*?\[]", pat, maxsplit=1)[0]
                if prefix == pat:
                    self.alias_exact.setdefault(pat, set()).add(mod)
                else:
                    self.alias_glob.append((prefix, pat, mod))
        self.softpre = {}
        soft = moddir / "modules.softdep"
        for line in (soft.read_text().splitlines() if soft.exists() else []):
            m = re.match(r"softdep\s+(\S+)\s+pre:\s*(.*?)(\s+post:.*)?$", line)
            if m:
                self.softpre[m.group(1).replace("-", "_")] = m.group(2).split()

    def resolve(self, name: str):
        """Names of the module files `name` (a module name or alias) stands for."""
        n = name.replace("-", "_")
        if n in self.path or n in self.builtin:
            return [n]
        mods = set(self.alias_exact.get(name, ()))
        mods.update(m for prefix, pat, m in self.alias_glob
                    if name.startswith(prefix) and fnmatch.fnmatchcase(name, pat))
        return sorted(mods)

    def plan(self, names):
        """(files to include, names to modprobe in order). Soft pre-dependencies (e.g.
        ext4 -> crc32c) go before their user in the load list, because busybox
        modprobe does not read modules.softdep; hard ones modprobe finds itself."""
        files, load = set(), []

        def add(name, stack=()):
            mods = self.resolve(name)
            if not mods:
                raise GuestError(f"kernel module {name!r} not found in {self.moddir}")
            for m in mods:
                if m in stack:
                    continue
                for pre in self.softpre.get(m, []):
                    if self.resolve(pre):   # a soft dependency may be built in or absent
                        add(pre, stack + (m,))
                if m in self.builtin:
                    continue
                rel = self.path[m]
                files.update([rel] + self.deps[rel])
            if name not in load and any(m not in self.builtin for m in mods):
                load.append(name)

        for n in names:
            add(n)
        return sorted(files), load


def stage_modules(base: Base, names, stage: Path):
    """Copy the selected modules (decompressed: busybox modprobe may not read .ko.xz)
    into stage/lib/modules/VERSION and let depmod write modules.dep there."""
    index = ModuleIndex(base.moddir)
    files, load = index.plan(names)
    dst_dir = stage / "lib/modules" / base.version
    for rel in files:
        src = base.moddir / rel
        dst = dst_dir / _KO.sub(".ko", rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".xz"):
            dst.write_bytes(lzma.decompress(src.read_bytes()))
        elif rel.endswith(".gz"):
            dst.write_bytes(gzip.decompress(src.read_bytes()))
        elif rel.endswith(".zst"):
            _run(["zstd", "-q", "-d", "-f", "-o", str(dst), str(src)], f"decompressing {rel}")
        else:
            shutil.copyfile(src, dst)
    for f in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (base.moddir / f).exists():
            shutil.copyfile(base.moddir / f, dst_dir / f)
    _run(["depmod", "-b", str(stage), base.version], "depmod of the initramfs modules")
    return load


# ---------------------------------------------------------------------------------------
# The initramfs: a newc cpio archive written here, so that it needs no root (device
# nodes, owner 0) and is reproducible (fixed times and order).

INIT = r"""#!/bin/sh
# Generated by scripts/mkguest.py. PID 1 until it execs busybox init.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
for m in $(cat /etc/guest-modules); do
	modprobe "$m" || echo "guest-init: modprobe $m failed"
done
[ -f /etc/guest-rc ] && . /etc/guest-rc
if [ -f /test.sh ]; then
	# Scripted mode: the test's output and status on the console, then power off.
	sh /test.sh
	echo "guest-init: test script exited with status $?"
	poweroff -f
fi
# init=PROGRAM replaces busybox init, as on a root file system (for an initramfs the
# kernel runs /init and leaves init= to it).
for a in $(cat /proc/cmdline); do
	case "$a" in init=*) exec "${a#init=}" ;; esac
done
exec /sbin/init
"""

# respawn rather than askfirst: the shell is there without pressing Enter.
# cttyhack opens the real console (ttyS0) as controlling tty, so Ctrl-C and job
# control work. poweroff/reboot signal busybox init, which runs the shutdown
# actions, kills everything and calls reboot(2).
INITTAB = """::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
::restart:/sbin/init
"""

# busybox udhcpc's event script, where Debian's busybox looks for it: it configures the
# interface from the lease, so `udhcpc -i eth0` is all a guest needs to get on the network.
UDHCPC_SCRIPT = r"""#!/bin/sh
# Generated by scripts/mkguest.py: udhcpc calls this with the lease in the environment.
case "$1" in
deconfig)
	ip addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do
		ip route add default via "$r" dev "$interface"
		break
	done
	: > /etc/resolv.conf
	for d in $dns; do
		echo "nameserver $d" >> /etc/resolv.conf
	done
	;;
esac
exit 0
"""

# A wide terminal keeps busybox's line editor from wrapping long typed commands
# with cursor escapes that a test reading the echo would trip on.
PROFILE = """export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
PS1={prompt}
stty cols 1000 rows 50 2>/dev/null
cd
"""


class Cpio:
    """A newc archive built in memory from (path -> entry); parents are implied."""

    def __init__(self):
        self.entries = {}

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.entries.setdefault("/".join(parts[:i]), ("dir", None, 0o755))

    def dir(self, path, mode=0o755):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("dir", None, mode)

    def data(self, path, content, mode=0o644):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("file", content.encode() if isinstance(content, str) else content, mode)

    def file(self, path, src: Path, mode=None):
        src = Path(src)
        if mode is None:
            mode = 0o755 if os.access(src, os.X_OK) else 0o644
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("src", src, mode)

    def tree(self, path, src: Path):
        """Copy a directory, following symlinks (the content counts, not the links)."""
        for root, dirs, files in os.walk(src, followlinks=True):
            dirs.sort()
            rel = os.path.relpath(root, src)
            base = path.strip("/") if rel == "." else f"{path.strip('/')}/{rel}"
            self.dir(base)
            for f in sorted(files):
                self.file(f"{base}/{f}", Path(root) / f)

    def symlink(self, path, target):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("link", target.encode(), 0o777)

    def chardev(self, path, major, minor, mode=0o600):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("chr", (major, minor), mode)

    def key(self, extra: str) -> str:
        """Hash of everything that ends up in the archive, for the rebuild decision."""
        h = hashlib.sha256(extra.encode())
        for path in sorted(self.entries):
            kind, what, mode = self.entries[path]
            h.update(f"\0{path}\0{kind}\0{mode:o}\0".encode())
            if kind == "src":
                h.update(hashlib.sha256(Path(what).read_bytes()).digest())
            elif kind in ("file", "link"):
                h.update(what)
            elif kind == "chr":
                h.update(repr(what).encode())
        return h.hexdigest()

    def write(self, dest: Path, level=6):
        out = bytearray()

        def pad():
            out.extend(b"\0" * (-len(out) % 4))

        def header(ino, name, mode, size, rdev=(0, 0)):
            name_b = name.encode() + b"\0"
            fields = (ino, mode, 0, 0, 1, 0, size, 0, 0, rdev[0], rdev[1], len(name_b), 0)
            out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
            out.extend(name_b)
            pad()

        for ino, path in enumerate(sorted(self.entries), start=1):
            kind, what, mode = self.entries[path]
            if kind == "dir":
                header(ino, path, stat.S_IFDIR | mode, 0)
            elif kind == "chr":
                header(ino, path, stat.S_IFCHR | mode, 0, what)
            else:
                body = Path(what).read_bytes() if kind == "src" else what
                header(ino, path, (stat.S_IFLNK if kind == "link" else stat.S_IFREG) | mode, len(body))
                out.extend(body)
                pad()
        header(0, "TRAILER!!!", 0, 0)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_bytes(gzip.compress(bytes(out), compresslevel=level, mtime=0))
        tmp.rename(dest)


def build_initramfs(base: Base, dest: Path, modules=(), script=None, rc=None, files=(),
                    trees=(), prompt=DEFAULT_PROMPT, inittab_extra=(), log=print) -> bool:
    """Build (or keep, when nothing changed) the initramfs at dest.

    modules: module names or aliases to load at boot (dependencies come along)
    script:  path of a test script: run at boot, then power off (scripted mode)
    rc:      text sourced by /init after the modules load, before the shell or script
    files:   (src, dest path in the guest) pairs; trees: same, for directories
    prompt:  the shell's PS1 (tests wait for it)
    inittab_extra: more busybox inittab lines, e.g. a shell on a second console
    Returns True when it wrote a new archive.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    modules = [m for arg in modules for m in arg.replace(",", " ").split()]

    cpio = Cpio()
    for d in ("proc", "sys", "dev", "tmp", "root", "mnt", "run", "var/log", "etc"):
        cpio.dir(d)
    cpio.dir("tmp", 0o1777)
    # The kernel opens /dev/console for init before anything is mounted.
    cpio.chardev("dev/console", 5, 1)
    cpio.file("bin/busybox", base.busybox, 0o755)
    applets = _run([str(base.busybox), "--list-full"], "busybox --list-full").split()
    for a in applets:
        if a != "bin/busybox":
            cpio.symlink(a, "/bin/busybox")
    cpio.data("init", INIT, 0o755)
    cpio.data("etc/inittab", INITTAB + "".join(l + "\n" for l in inittab_extra))
    cpio.data("etc/profile", PROFILE.format(prompt=_shquote(prompt)))
    cpio.data("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    cpio.data("etc/group", "root:x:0:\n")
    cpio.data("etc/udhcpc/default.script", UDHCPC_SCRIPT, 0o755)
    cpio.data("etc/guest-modules", "".join(m + "\n" for m in modules))
    if rc is not None:
        cpio.data("etc/guest-rc", rc)
    if script is not None:
        cpio.file("test.sh", Path(script), 0o755)
    for src, path in files:
        if not Path(src).is_file():
            raise GuestError(f"{src}: no such file (for {path} in {dest.name})")
        cpio.file(path, Path(src))
    for src, path in trees:
        cpio.tree(path, Path(src))

    builder = Path(__file__).read_bytes()
    key = cpio.key(f"{base.version}\0{' '.join(modules)}\0{hashlib.sha256(builder).hexdigest()}")
    keyfile = dest.with_name(dest.name + ".key")
    if dest.exists() and keyfile.exists() and keyfile.read_text().strip() == key:
        return False

    if modules:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".modstage-") as stage:
            load = stage_modules(base, modules, Path(stage))
            cpio.tree("lib/modules", Path(stage) / "lib/modules")
            cpio.data("etc/guest-modules", "".join(m + "\n" for m in load))
            cpio.write(dest)
    else:
        cpio.write(dest)
    keyfile.write_text(key + "\n")
    log(f"mkguest: {dest} ({dest.stat().st_size // 1024} KiB)")
    return True


# The guest user programs (tests/guests/user/meson.build) the default initramfs carries.
USER_PROGRAMS = ("utest", "hostile", "vecregs", "ubench")


def user_program_files(build: Path, log=print):
    """(built program, /bin/NAME) pairs for the default initramfs. Missing programs (a
    build tree not built yet) are left out with a note, not an error: the shell guest
    works without them, and the tests that run them say what is missing."""
    d = Path(build) / "tests" / "guests" / "user"
    found = [(d / n, f"/bin/{n}") for n in USER_PROGRAMS if (d / n).is_file()]
    if len(found) < len(USER_PROGRAMS):
        missing = [n for n in USER_PROGRAMS if not (d / n).is_file()]
        log(f"mkguest: note: {', '.join(missing)} not built in {d} (ninja -C {build}); "
            f"the default initramfs goes without")
    return found


def build_default_initramfs(base: Base, build: Path = None, log=print) -> Path:
    """OUT/initramfs.cpio.gz, the default guest: what `mkguest.sh` with no options
    makes, user programs from `build` (default: OUT's parent) included."""
    dest = base.out / "initramfs.cpio.gz"
    files = user_program_files(build or base.out.parent, log)
    build_initramfs(base, dest, files=files, log=log)
    return dest


# ---------------------------------------------------------------------------------------
# Bootable images for a firmware boot (no --kernel): Debian's SYSLINUX on a FAT partition
# of an MBR disk, ISOLINUX on an El Torito CD. Built without mounting anything (mtools,
# the installers' offset options), so no loop devices or privileges are needed.

SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
ISOLINUX_BIN = Path("/usr/lib/ISOLINUX/isolinux.bin")
ISOLINUX_LDLINUX = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")
BOOT_PART_START = 1 << 20          # the FAT partition: from 1 MiB to the end
BOOT_DISK_SIZE = 64 << 20


def _boot_config(append: str) -> str:
    """The boot loader's configuration (SYSLINUX and ISOLINUX read the same syntax):
    boot at once, the boot loader's own console on COM1 too."""
    return ("SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\n"
            f"LABEL linux\n  KERNEL /bzImage\n  INITRD /initrd.gz\n  APPEND {append}\n")


def _image_key(base: Base, initramfs: Path, append: str, kind: str) -> str:
    h = hashlib.sha256()
    for part in (kind, base.version, append, Path(__file__).read_bytes(),
                 Path(initramfs).read_bytes(), base.bzimage.read_bytes()):
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _cached(dest: Path, key: str) -> bool:
    keyfile = dest.with_name(dest.name + ".key")
    return dest.exists() and keyfile.exists() and keyfile.read_text().strip() == key


def build_boot_disk(base: Base, dest: Path, initramfs: Path, append: str, log=print) -> bool:
    """A raw MBR disk image: SYSLINUX's MBR, one bootable FAT16 partition holding
    SYSLINUX, the kernel (bzImage) and initramfs (initrd.gz). Returns True when rebuilt."""
    dest = Path(dest)
    key = _image_key(base, initramfs, append, "disk")
    if _cached(dest, key):
        return False
    for f in (SYSLINUX_MBR,):
        if not f.is_file():
            raise GuestError(f"{f} missing: install syslinux-common (scripts/deps.sh)")
    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "wb") as f:
        f.truncate(BOOT_DISK_SIZE)
    subprocess.run(["sfdisk", "--quiet", str(tmp)], check=True, text=True,
                   input=f"label: dos\nstart={BOOT_PART_START // 512}, type=6, bootable\n",
                   stdout=subprocess.DEVNULL)
    kib = (BOOT_DISK_SIZE - BOOT_PART_START) // 1024
    _run(["mkfs.fat", "-F", "16", "-n", "TRIVBOOT", "--offset", str(BOOT_PART_START // 512),
          str(tmp), str(kib)], "mkfs.fat")
    img = f"{tmp}@@{BOOT_PART_START}"
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "syslinux.cfg"
        cfg.write_text(_boot_config(append))
        for src, name in ((base.bzimage, "bzImage"), (initramfs, "initrd.gz"), (cfg, "syslinux.cfg")):
            _run(["mcopy", "-i", img, str(src), f"::/{name}"], f"mcopy {name}")
    _run(["syslinux", "--offset", str(BOOT_PART_START), "--install", str(tmp)], "syslinux")
    with open(tmp, "r+b") as f:
        f.write(SYSLINUX_MBR.read_bytes()[:440])     # the code, not the partition table
    tmp.rename(dest)
    dest.with_name(dest.name + ".key").write_text(key + "\n")
    log(f"mkguest: {dest} (bootable disk, SYSLINUX)")
    return True


def build_boot_iso(base: Base, dest: Path, initramfs: Path, append: str, log=print) -> bool:
    """An El Torito CD image: ISOLINUX (no emulation), the kernel and initramfs."""
    dest = Path(dest)
    key = _image_key(base, initramfs, append, "iso")
    if _cached(dest, key):
        return False
    for f in (ISOLINUX_BIN, ISOLINUX_LDLINUX):
        if not f.is_file():
            raise GuestError(f"{f} missing: install isolinux and syslinux-common (scripts/deps.sh)")
    tmp = dest.with_name(dest.name + ".tmp")
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "root"
        (root / "isolinux").mkdir(parents=True)
        shutil.copy(ISOLINUX_BIN, root / "isolinux" / "isolinux.bin")
        shutil.copy(ISOLINUX_LDLINUX, root / "isolinux" / "ldlinux.c32")
        (root / "isolinux" / "isolinux.cfg").write_text(_boot_config(append))
        shutil.copy(base.bzimage, root / "bzImage")
        shutil.copy(initramfs, root / "initrd.gz")
        _run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(tmp), "-V", "TRIVISOR",
              "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
              "-boot-load-size", "4", "-boot-info-table", str(root)], "xorriso")
    tmp.rename(dest)
    dest.with_name(dest.name + ".key").write_text(key + "\n")
    log(f"mkguest: {dest} (bootable CD, ISOLINUX)")
    return True


def _shquote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="mkguest.sh",
        description="Build the test guests (stock Debian kernel + busybox initramfs) "
                    "under the build tree. Cached: a re-run with nothing changed does nothing.")
    ap.add_argument("--out", type=Path, default=None,
                    help="output and cache dir (default: $TRIVISOR_BUILD/guest, else build/guest)")
    ap.add_argument("--initramfs", type=Path, default=None,
                    help="initramfs to build (default: OUT/initramfs.cpio.gz, with the "
                         "guest user programs)")
    ap.add_argument("--build", type=Path, default=None,
                    help="build tree whose guest user programs the default initramfs "
                         "carries (default: OUT's parent)")
    ap.add_argument("--modules", action="extend", nargs="+", default=[], metavar="MOD",
                    help="kernel modules to load at boot, dependencies included "
                         "(e.g. --modules irqbypass kvm ccp kvm-amd)")
    ap.add_argument("--script", type=Path, help="test script: run at boot, then power off")
    ap.add_argument("--rc", type=Path, help="shell snippet sourced by /init before the shell or script")
    ap.add_argument("--file", action="append", default=[], metavar="SRC:DEST",
                    help="add a file (or a directory) at DEST in the guest")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"shell prompt (default {DEFAULT_PROMPT!r})")
    ap.add_argument("--disk-image", type=Path, metavar="PATH",
                    help="also write a bootable disk image (SYSLINUX) with the kernel and "
                         "this initramfs, for a firmware boot")
    ap.add_argument("--iso", type=Path, metavar="PATH",
                    help="also write a bootable CD image (ISOLINUX) likewise")
    ap.add_argument("--append", default="console=ttyS0",
                    help="kernel command line in those images (default: console=ttyS0)")
    ap.add_argument("--refresh", action="store_true",
                    help="download and extract the packages again (picks up a new kernel)")
    args = ap.parse_args(argv)

    try:
        base = ensure_base(args.out, refresh=args.refresh)
        files, trees = [], []
        for spec in args.file:
            src, sep, path = spec.partition(":")
            if not sep or not path:
                ap.error(f"--file wants SRC:DEST, got {spec!r}")
            (trees if Path(src).is_dir() else files).append((src, path))
        if args.initramfs is None:
            files = user_program_files(args.build or base.out.parent) + files
        initramfs = args.initramfs or base.out / "initramfs.cpio.gz"
        build_initramfs(base, initramfs,
                        modules=args.modules, script=args.script,
                        rc=args.rc.read_text() if args.rc else None,
                        files=files, trees=trees, prompt=args.prompt)
        if args.disk_image:
            build_boot_disk(base, args.disk_image, initramfs, args.append)
        if args.iso:
            build_boot_iso(base, args.iso, initramfs, args.append)
    except GuestError as e:
        print(f"mkguest: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
