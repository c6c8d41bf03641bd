"""Seed inputs for the fuzz targets, written as code (no binaries in the repository):
well-formed drivers doing the ordinary things (requests, frames, console traffic,
indirect tables, EVENT_IDX, resets) and small programs for the soft CPU, from which
libFuzzer mutates its way into the hostile cases. The formats are those described in
tests/fuzz/fuzz.h and at the top of fuzz_virtqueue.c, fuzz_mmio.c and fuzz_translate.c;
the guest-RAM layout constants match fuzz.h.

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


# -- the soft CPU's translator against its interpreter ----------------------------------

# fuzz_translate.c: u8 options, u8 slice, u16 seed, then code (64-bit, loaded at 0x4000).
T_USER, T_DELIVER, T_SSE, T_SMALL, T_SLICES = 1, 2, 4, 8, 16

T_INLINE = bytes.fromhex(  # what the translator emits inline, in a loop with a call
    "be00810000"        # mov esi, 0x8100
    "bf00920000"        # mov edi, 0x9200
    "b932000000"        # mov ecx, 50
    "4801d8"            # 1: add rax, rbx
    "31c2"              # xor edx, eax
    "48894608"          # mov [rsi+8], rax
    "4c8b4608"          # mov r8, [rsi+8]
    "440fb64f03"        # movzx r9d, byte [rdi+3]
    "4c0fbf5704"        # movsx r10, word [rdi+4]
    "4c8d5c8810"        # lea r11, [rax+rcx*4+16]
    "48c1e003"          # shl rax, 3
    "48d1fa"            # sar rdx, 1
    "49ffc0"            # inc r8
    "49f7d9"            # neg r9
    "086601"            # or [rsi+1], ah
    "66816f023412"      # sub word [rdi+2], 0x1234
    "505b"              # push rax ; pop rbx
    "4839d0"            # cmp rax, rdx
    "7204"              # jb 2f
    "4883e801"          # sub rax, 1
    "f6c101"            # 2: test cl, 1
    "e805000000"        # call 3f
    "ffc9"              # dec ecx
    "75b7"              # jnz 1b
    "cc"                # int3
    "25ffff0000"        # 3: and eax, 0xffff
    "c3")               # ret

T_HANDLERS = bytes.fromhex(  # what it leaves to the handlers
    "be00810000"        # mov esi, 0x8100
    "bf00920000"        # mov edi, 0x9200
    "41bf14000000"      # mov r15d, 20
    "4811d8"            # 1: adc rax, rbx
    "1b16"              # sbb edx, [rsi]
    "486bd007"          # imul rdx, rax, 7
    "0f92c3"            # setc bl
    "4c0f44c2"          # cmovz r8, rdx
    "480fbae005"        # bt rax, 5
    "480fba2e03"        # bts qword [rsi], 3
    "4991"              # xchg r9, rax
    "0fc10f"            # xadd [rdi], ecx
    "0fb15708"          # cmpxchg [rdi+8], edx
    "b910000000f3a4"    # mov ecx, 16 ; rep movsb
    "b904000000f3ab"    # mov ecx, 4 ; rep stosd
    "48ad"              # lodsq
    "48c1c007"          # rol rax, 7
    "48c1da03"          # rcr rdx, 3
    "480fa4d005"        # shld rax, rdx, 5
    "4c0fbcd0"          # bsf r10, rax
    "99"                # cdq
    "b903000000f7f1"    # mov ecx, 3 ; div ecx
    "41ffcf"            # dec r15d
    "75af"              # jnz 1b
    "cc")               # int3

T_SMC = bytes.fromhex(  # stores into the code ahead, in a loop and after it
    "b91e000000"        # mov ecx, 30
    "880d07000000"      # 1: mov [rip -> the imm8 of the ADD below], cl
    "ff0506000000"      # inc dword [rip -> the imm32 of the MOV below]
    "0500010000"        # add eax, 0x100
    "ba44332211"        # mov edx, 0x11223344
    "4801d0"            # add rax, rdx
    "ffc9"              # dec ecx
    "75e3"              # jnz 1b
    "c70501000000"      # mov dword [rip -> the INT3s], 0x90909090
    "90909090"
    "90"                # nop
    "cccccccc"          # (become NOPs)
    "4889d8"            # mov rax, rbx
    "cc")               # int3

T_FAULTS = bytes.fromhex(  # run at CPL 3 with exceptions delivered
    "be10c00000ac"      # mov esi, 0xc010 ; lodsb           #PF, not present
    "bf10d00000aa"      # mov edi, 0xd010 ; stosb           #PF, read-only
    "bf00100000aa"      # mov edi, 0x1000 ; stosb           #PF, supervisor page
    "be00e00000ad"      # mov esi, 0xe000 ; lodsd           MMIO
    "f4faec"            # hlt ; cli ; in al, dx             #GP each
    "cc90"              # int3 ; nop
    "0f05"              # syscall (returns through SYSRET)
    "b964000000"        # mov ecx, 100
    "be00800000"        # mov esi, 0x8000
    "0304ce"            # 1: add eax, [rsi+rcx*8]
    "89848e00080000"    # mov [rsi+rcx*4+0x800], eax
    "e2f4"              # loop 1b
    "48b80000000000800000"  # mov rax, 0x800000000000
    "5059ffe1")         # push rax ; pop rcx ; jmp rcx       #GP, non-canonical

T_FP = bytes.fromhex(  # SSE and x87
    "be00810000"        # mov esi, 0x8100
    "bf00920000"        # mov edi, 0x9200
    "b90a000000"        # mov ecx, 10
    "f30f6f06"          # 1: movdqu xmm0, [rsi]
    "660ffec1"          # paddd xmm0, xmm1
    "660fefc8"          # pxor xmm1, xmm0
    "66480f7ec0"        # movq rax, xmm0
    "f2480f2ad0"        # cvtsi2sd xmm2, rax
    "f20f59d2"          # mulsd xmm2, xmm2
    "f20f115610"        # movsd [rsi+16], xmm2
    "0f58d8"            # addps xmm3, xmm0
    "d9e8d8c0"          # fld1 ; fadd st, st
    "dd5e20"            # fstp qword [rsi+32]
    "db07db5f04"        # fild dword [rdi] ; fistp dword [rdi+4]
    "ffc9"              # dec ecx
    "75ce"              # jnz 1b
    "cc")               # int3

T_COMPAT = bytes.fromhex(  # into 32-bit code (compatibility mode) and back
    "be00810000"        # mov esi, 0x8100
    "bf00920000"        # mov edi, 0x9200
    "488d0505000000"    # lea rax, [rip + 1f]
    "6a4050"            # push 0x40 ; push rax
    "48cb"              # retfq
    "b801000000"        # 1: (32-bit) mov eax, 1
    "01d8"              # add eax, ebx
    "8906"              # mov [esi], eax
    "505a"              # push eax ; pop edx
    "cc90"              # int3 ; nop: stops in 32-bit code (delivered, skips the NOP)
    "6a08"              # push 0x08
    "e800000000"        # call 2f
    "81042408000000"    # 2: add dword [esp], 3f - 2b
    "cb"                # retf
    "b905000000"        # 3: (64-bit) mov ecx, 5
    "4801c8"            # 4: add rax, rcx
    "e2fb"              # loop 4b
    "cc")               # int3

T_IO = bytes.fromhex(  # port I/O and HLT: exits the harness completes
    "66baf803"          # mov dx, 0x3f8
    "b041ee"            # mov al, 0x41 ; out dx, al
    "ec"                # in al, dx
    "e680"              # out 0x80, al
    "b904000000f36e"    # mov ecx, 4 ; rep outsb
    "bf00800000"        # mov edi, 0x8000
    "b90300000066f36d"  # mov ecx, 3 ; rep insw
    "be00e00000"        # mov esi, 0xe000
    "8b06894604"        # mov eax, [rsi] ; mov [rsi+4], eax   MMIO
    "f4"                # hlt
    "cc")               # int3


def translate_seeds():
    def t(opts, code, slice_=0, seed=1):
        return bytes([opts, slice_]) + struct.pack("<H", seed) + code
    return [
        t(0, T_INLINE),
        t(T_SMALL | T_SLICES, T_INLINE, 6, 2),
        t(T_DELIVER | T_SMALL, T_INLINE, 0, 4),     # seed % 4 == 0: the smallest arena
        t(0, T_HANDLERS),
        t(T_SLICES, T_HANDLERS, 2, 4),
        t(0, T_SMC),
        t(T_SLICES | T_SMALL, T_SMC, 10, 8),
        t(T_USER | T_DELIVER, T_FAULTS),
        t(T_SSE, T_FP),
        t(T_DELIVER, T_FP),
        t(T_DELIVER, T_COMPAT),
        t(0, T_IO),
    ]


SEEDS = {
    "virtqueue": virtqueue_seeds,
    "blk": blk_seeds,
    "net": net_seeds,
    "console": console_seeds,
    "rng": rng_seeds,
    "mmio": mmio_seeds,
    "translate": translate_seeds,
}


def write(target: str, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    seeds = SEEDS[target]()
    for i, s in enumerate(seeds):
        (directory / f"seed-{i:02d}").write_bytes(s)
    return len(seeds)
