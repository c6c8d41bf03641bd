"""Seed inputs for the fuzz targets, written as code (no binaries in the repository):
well-formed drivers doing the ordinary things (requests, frames, console traffic,
indirect tables, EVENT_IDX, resets) from which libFuzzer mutates its way into the
hostile cases. The formats are those described in tests/fuzz/fuzz.h and at the top of
fuzz_virtqueue.c and fuzz_mmio.c; the guest-RAM layout constants match fuzz.h.

    seeds.write(target, directory)    # one file per seed
"""
import struct
from pathlib import Path

QUEUE_STRIDE, AVAIL, USED = 0x3000, 0x1000, 0x2000
BUF = 0x8000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
F_INDIRECT_DESC, F_EVENT_IDX = 1 << 28, 1 << 29

# op codes of the generic driver (fuzz_common.c: ops)
OP_NOTIFY, OP_ADD, OP_POKE, OP_AVAIL_IDX, OP_HOST, OP_RESET_UP, OP_CONFIG, OP_EVENT, \
    OP_STATUS, OP_REENABLE = range(10)


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def log2(n):
    return n.bit_length() - 1


def ring(size, descs, heads, flags=0, used_event=0):
    """One queue as the device targets read it: log2(size), the table, the ring."""
    table = b"".join(descs).ljust(16 * size, b"\0")
    ring_entries = b"".join(struct.pack("<H", h) for h in heads).ljust(2 * size, b"\0")
    return (bytes([log2(size)]) + table + struct.pack("<HH", flags, len(heads)) +
            ring_entries + struct.pack("<H", used_event))


def buffers(chunks):
    """Buffer space at BUF: {offset from BUF: bytes}."""
    size = max(off + len(b) for off, b in chunks.items()) if chunks else 0
    space = bytearray(size)
    for off, b in chunks.items():
        space[off:off + len(b)] = b
    return struct.pack("<H", size) + bytes(space)


def device(features, queues, bufs, ops=b""):
    return struct.pack("<Q", features) + b"".join(queues) + buffers(bufs) + ops


# -- virtio-blk ----------------------------------------------------------------------------

HDR, DATA, STATUS, TABLE = BUF, BUF + 0x100, BUF + 0x500, BUF + 0x580


def blk_hdr(rtype, sector):
    return struct.pack("<IIQ", rtype, 0, sector)


SECTORS = 128   # the image fuzz_blk.c and fuzz_mmio.c give the device


def blk_seeds():
    seeds = []
    out = bytes(range(256)) * 2
    last = SECTORS - 1   # requests at the edge: one step from out of range
    reqs = [  # (type, sector, data descriptor or None, device-readable extra)
        (0, last, desc(DATA, 512, F_WRITE | F_NEXT, 2), b""),     # read
        (1, last, desc(DATA, 512, F_NEXT, 2), out),               # write
        (4, 0, None, b""),                                        # flush
        (8, 0, desc(DATA, 20, F_WRITE | F_NEXT, 2), b""),         # get ID
        (11, 0, desc(DATA, 16, F_NEXT, 2), struct.pack("<QII", 8, 8, 0)),    # discard
        (13, 0, desc(DATA, 16, F_NEXT, 2), struct.pack("<QII", last - 3, 4, 1)),  # write zeroes
        (99, 0, None, b""),                                       # unknown type
    ]
    for feats in (0, F_EVENT_IDX):
        for rtype, sector, data, extra in reqs:
            d = [desc(HDR, 16, F_NEXT, 1 if data else 2)]
            d.append(data if data else desc(0, 0))
            d.append(desc(STATUS, 1, F_WRITE))
            seeds.append(device(feats, [ring(8, d, [0])],
                                {0: blk_hdr(rtype, sector), 0x100: extra}))
    # An indirect table: header, 1 KiB read into two buffers, status.
    table = (desc(HDR, 16, F_NEXT, 1) + desc(DATA, 512, F_WRITE | F_NEXT, 2) +
             desc(DATA + 512, 512, F_WRITE | F_NEXT, 3) + desc(STATUS, 1, F_WRITE))
    seeds.append(device(F_INDIRECT_DESC | F_EVENT_IDX,
                        [ring(8, [desc(TABLE, 64, F_INDIRECT)], [0])],
                        {0: blk_hdr(0, 3), 0x580: table}))
    # The header split across two descriptors, a write, then the driver's actions:
    # more chains, used_event, a reset and another chain, a status poke.
    d = [desc(HDR, 8, F_NEXT, 1), desc(HDR + 8, 8, F_NEXT, 2), desc(DATA, 1024, F_NEXT, 3),
         desc(STATUS, 1, F_WRITE)]
    ops = (bytes([OP_ADD, 0]) + struct.pack("<H", 0) + bytes([OP_EVENT, 0]) +
           struct.pack("<H", 5) + bytes([OP_ADD, 0]) + struct.pack("<H", 0) +
           bytes([OP_RESET_UP, 0, OP_ADD, 0]) + struct.pack("<H", 0) +
           bytes([OP_REENABLE, 0, OP_NOTIFY, 0, OP_STATUS, 0, 0x4f]))
    seeds.append(device(F_EVENT_IDX, [ring(16, d, [0])], {0: blk_hdr(1, 4), 0x100: out * 2},
                        ops))
    return seeds


# -- virtio-net ----------------------------------------------------------------------------

NET_HDR = bytes(12)
FRAME = bytes.fromhex("ffffffffffff525400123456" "0806") + bytes(46)   # broadcast ARP-ish


def net_seeds():
    rxq = ring(8, [desc(BUF + 0x1000, 1526, F_WRITE), desc(BUF + 0x1800, 1526, F_WRITE),
                   desc(BUF + 0x2000, 20, F_WRITE)], [0, 1, 2])
    tx_descs = [desc(BUF, 12, F_NEXT, 1), desc(BUF + 12, len(FRAME))]
    txq = ring(8, tx_descs, [0])
    bufs = {0: NET_HDR + FRAME}
    host_frame = bytes([OP_HOST, 0]) + struct.pack("<H", 60) + FRAME[:60]
    seeds = [
        device(0, [rxq, txq], bufs),
        device(F_EVENT_IDX, [rxq, txq], bufs, host_frame * 4 + bytes([OP_NOTIFY, 0])),
        # frames before buffers: they wait, then the driver adds buffers
        device(0, [ring(8, [desc(BUF + 0x1000, 1526, F_WRITE)], []), txq], bufs,
               host_frame * 3 + bytes([OP_ADD, 0]) + struct.pack("<H", 0)),
        # a frame whose header asks for offloads; a runt
        device(0, [rxq, ring(8, [desc(BUF, 12, F_NEXT, 1), desc(BUF + 12, 4)], [0])],
               {0: b"\x01\x04" + bytes(10) + FRAME}),
        # transmit through an indirect table
        device(F_INDIRECT_DESC, [rxq, ring(8, [desc(BUF + 0x100, 32, F_INDIRECT)], [0])],
               {0: NET_HDR + FRAME, 0x100: b"".join(tx_descs)}),
    ]
    return seeds


# -- virtio-console ------------------------------------------------------------------------

def console_seeds():
    rxq = ring(8, [desc(BUF + 0x1000, 64, F_WRITE), desc(BUF + 0x1100, 8, F_WRITE)], [0, 1])
    txq = ring(8, [desc(BUF, 6, F_NEXT, 1), desc(BUF + 6, 6)], [0])
    typed = bytes([OP_HOST, 0]) + struct.pack("<H", 20) + b"typed on the console"
    return [
        device(0, [rxq, txq], {0: b"hello world!"}),
        device(F_EVENT_IDX, [rxq, txq], {0: b"hello world!"}, typed * 3),
        device(F_INDIRECT_DESC, [rxq, ring(8, [desc(BUF + 0x100, 32, F_INDIRECT)], [0])],
               {0: b"hello world!", 0x100: desc(BUF, 6, F_NEXT, 1) + desc(BUF + 6, 6)},
               typed + bytes([OP_ADD, 0]) + struct.pack("<H", 1) + typed),
    ]


# -- virtio-rng ----------------------------------------------------------------------------

def rng_seeds():
    return [
        device(0, [ring(8, [desc(BUF, 64, F_WRITE)], [0])], {}),
        device(F_EVENT_IDX, [ring(8, [desc(BUF, 16, F_WRITE | F_NEXT, 1),
                                      desc(BUF + 0x100, 4096, F_WRITE)], [0, 1])], {},
               bytes([OP_ADD, 0]) + struct.pack("<H", 0) + bytes([OP_EVENT, 0]) +
               struct.pack("<H", 1)),
        device(F_INDIRECT_DESC, [ring(8, [desc(BUF + 0x100, 16, F_INDIRECT)], [0])],
               {0x100: desc(BUF, 128, F_WRITE)}),
    ]


# -- the virtqueue alone -------------------------------------------------------------------

def virtqueue_seeds():
    def vq(size, flags, descs, heads, bufs, ops):
        return (bytes([log2(size), flags]) + ring(size, descs, heads)[1:] + buffers(bufs) + ops)

    # op 0: pop + use (u16 off, u16 len, u8 writable, u8 max iovecs) + push (u32 len)
    use = bytes([0]) + struct.pack("<HHBBI", 0, 32, 1, 8, 32)
    chain = [desc(BUF, 16, F_NEXT, 1), desc(BUF + 16, 100, F_WRITE | F_NEXT, 2),
             desc(BUF + 200, 50, F_WRITE)]
    table = desc(BUF + 0x100, 64, F_NEXT, 1) + desc(BUF + 0x200, 64, F_WRITE)
    return [
        vq(8, 0, chain, [0], {}, use + bytes([1, 2])),
        vq(8, 1, chain, [0, 0], {}, use + bytes([2]) + use + bytes([1, 3]) +
           struct.pack("<H", 0) + use + bytes([5 | 0x80]) + struct.pack("<H", 7) + use),
        vq(16, 3, [desc(BUF + 0x400, 32, F_INDIRECT)], [0], {0x400: table}, use * 2),
        vq(4, 2, chain, [0], {}, use + bytes([6]) + use),
    ]


# -- virtio-mmio registers -----------------------------------------------------------------

def mmio_seeds():
    # RAM from address 0: the queue's table at 0x000, available ring at 0x080, used
    # ring at 0x100; a read request's header at 0x200, data at 0x300, status at 0x500.
    ram = bytearray(0x510)
    d = desc(0x200, 16, F_NEXT, 1) + desc(0x300, 512, F_WRITE | F_NEXT, 2) + desc(0x500, 1, F_WRITE)
    ram[0:len(d)] = d
    ram[0x80:0x86] = struct.pack("<HHH", 0, 1, 0)
    ram[0x200:0x210] = blk_hdr(0, 1)

    def w(off, val):       # aligned 32-bit register write (op 3)
        return struct.pack("<BHI", 3 | 2 << 2, off, val)

    def r(off, width=4):   # read (op 0)
        return struct.pack("<BHI", 0 | {1: 0, 2: 1, 4: 2, 8: 3}[width] << 2, off, 0)

    up = (r(0x000) + r(0x004) + r(0x008) + w(0x070, 0) + w(0x070, 1) + w(0x070, 3) +
          w(0x014, 1) + r(0x010) + w(0x014, 0) + r(0x010) + w(0x024, 1) + w(0x020, 1) +
          w(0x024, 0) + w(0x020, 0) + w(0x070, 0xb) + r(0x070) + w(0x030, 0) + r(0x044) +
          r(0x034) + w(0x038, 8) + w(0x080, 0x000) + w(0x084, 0) + w(0x090, 0x080) +
          w(0x094, 0) + w(0x0a0, 0x100) + w(0x0a4, 0) + w(0x044, 1) + w(0x070, 0xf))
    irq = w(0x050, 0) + r(0x060) + w(0x064, 1) + r(0x060)
    cfg = r(0x100) + r(0x104) + r(0x100, 1) + r(0x0fc) + r(0x100, 8)
    image = struct.pack("<H", len(ram)) + bytes(ram)
    return [
        image + up + irq + cfg,
        image + up + irq + w(0x044, 0) + r(0x044) + w(0x050, 0) + w(0x070, 0) + up + irq,
        image + up + r(0x0b0) + w(0x0ac, 3) + r(0x0b4) + r(0x0fc) + w(0x030, 7) + r(0x034),
    ]


SEEDS = {
    "virtqueue": virtqueue_seeds,
    "blk": blk_seeds,
    "net": net_seeds,
    "console": console_seeds,
    "rng": rng_seeds,
    "mmio": mmio_seeds,
}


def write(target: str, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    seeds = SEEDS[target]()
    for i, s in enumerate(seeds):
        (directory / f"seed-{i:02d}").write_bytes(s)
    return len(seeds)
