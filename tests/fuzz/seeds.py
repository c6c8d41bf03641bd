"""Seed inputs for the fuzz targets, written as code (no binaries in the repository):
well-formed drivers doing the ordinary things (requests, frames, console traffic,
indirect tables, EVENT_IDX, resets) and small programs for the soft CPU, from which
libFuzzer mutates its way into the hostile cases. The formats are those described in
tests/fuzz/fuzz.h and at the top of fuzz_virtqueue.c, fuzz_mmio.c and fuzz_translate.c;
the guest-RAM layout constants match fuzz.h.

    seeds.write(target, directory)    # one file per seed
"""
import json
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

T_CLOCK_SMC = bytes.fromhex(  # writes RDTSC into itself, runs it, erases it: the tiers
    "66c705060000000f30"  # mov word [rip+6], 0x300f        (differ, and it is no finding)
    "fe0501000000"      # inc byte [rip+1]               0F 30 becomes 0F 31: RDTSC
    "9090"              # 1: nop ; nop                   (overwritten as above)
    "66c705f5ffffff9090"  # mov word [rip-11], 0x9090     gone again
    "0f0b")             # ud2


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
        t(0, T_CLOCK_SMC),
    ]


# -- VGA -------------------------------------------------------------------------------

# fuzz_vga.c: op byte, then its operands; sizes 1, 2, 4, 8 are flags 0..3, write is 4.
def _vsz(size, write):
    return {1: 0, 2: 1, 4: 2, 8: 3}[size] | (4 if write else 0)


def vport(port, val=0, size=1, write=True):
    return bytes([0, port - 0x3b0, _vsz(size, write)]) + struct.pack("<Q", val)


def vdispi(off, val=0, size=2, write=True):
    return bytes([1, off, _vsz(size, write)]) + struct.pack("<Q", val)


def vmem(off, val=0, size=1, write=True):   # off from 0xA0000
    return (bytes([2 | (off >> 16 & 1) << 3]) + struct.pack("<H", off & 0xffff) +
            bytes([_vsz(size, write)]) + struct.pack("<Q", val))


def vfb(off, val=0, size=4, write=True):
    return bytes([3]) + struct.pack("<I", off) + bytes([_vsz(size, write)]) + struct.pack("<Q", val)


def vmmio(off, val=0, size=2, write=True):
    return bytes([4]) + struct.pack("<H", off) + bytes([_vsz(size, write)]) + struct.pack("<Q", val)


VSNAP = bytes([5])


def vtype(data):
    return bytes([6, len(data)]) + data


def vfill(off, val, n):                   # n (1..32) byte writes from off
    return bytes([7 | (n - 1) << 3]) + struct.pack("<I", off) + bytes([val])


def vseq(i, v):
    return vport(0x3c4, v << 8 | i, 2)


def vgc(i, v):
    return vport(0x3ce, v << 8 | i, 2)


def vcrtc(i, v):
    return vport(0x3d4, i) + vport(0x3d5, v)


def vattr(i, v):
    return vport(0x3da, write=False) + vport(0x3c0, i) + vport(0x3c0, v)


def vtext(row, col, s, attr=0x07):
    return b"".join(vmem(0x18000 + 2 * (row * 80 + col + i), attr << 8 | c, 2)
                    for i, c in enumerate(s.encode("latin-1")))


MODE3_CRTC = bytes.fromhex("5f4f5082558 1bf1f004f0d0e000000009c8e8f281f96b9a3ff".replace(" ", ""))
MODE3_ATTR = bytes.fromhex("000102030405140738393a3b3c3d3e3f0c000f0800")
MODE3_GC = bytes.fromhex("000000000010 0e00ff".replace(" ", ""))


def vga_seeds():
    hello = (vtext(0, 0, "Hello, world", 0x1f) + vtext(1, 0, "\xc9\xcd\xbb\x01", 0x4e) +
             vcrtc(0x0e, 0) + vcrtc(0x0f, 85) + VSNAP + vcrtc(0x0c, 0) + vcrtc(0x0d, 80) +
             VSNAP + vport(0x3da, write=False) * 4 + vmem(0x18000, size=4, write=False) +
             vmem(0x10000, 0x41) + vmem(0x0, write=False) + vcrtc(0x01, 0x27))
    # A BIOS mode set: sequencer, misc, unlocked CRTC, attributes, graphics, DAC,
    # cleared text, the font into plane 2, back to text.
    modeset = vseq(0, 1) + b"".join(vseq(i, v) for i, v in enumerate([1, 0, 3, 0, 2]) if i)
    modeset += vport(0x3c2, 0x67) + vseq(0, 3) + vcrtc(0x11, 0x0e)
    modeset += b"".join(vcrtc(i, v) for i, v in enumerate(MODE3_CRTC))
    modeset += b"".join(vattr(i, v) for i, v in enumerate(MODE3_ATTR)) + vport(0x3c0, 0x20)
    modeset += b"".join(vgc(i, v) for i, v in enumerate(MODE3_GC))
    modeset += vport(0x3c8, 0) + b"".join(vport(0x3c9, v) for v in (0, 0, 0, 0, 0, 0x2a))
    modeset += vport(0x3c7, 0) + vport(0x3c9, write=False) * 3
    modeset += vfill(0x18000, 0x20, 32) + vfill(0x18020, 0x07, 32)
    font = (vseq(0, 1) + vseq(2, 4) + vseq(4, 7) + vseq(0, 3) + vgc(4, 2) + vgc(5, 0) +
            vgc(6, 4) + b"".join(vfill(c * 32, 0x5a ^ c, 16) for c in range(0x40, 0x48)) +
            vmem(0x41 * 32, write=False) + vseq(0, 1) + vseq(2, 3) + vseq(4, 3) + vseq(0, 3) +
            vgc(4, 0) + vgc(5, 0x10) + vgc(6, 0x0e))
    modeset += font + vtext(0, 0, "C:\\>", 0x07) + vcrtc(0x0f, 3) + VSNAP
    # The VBE probe and a 1024x768x32 mode, a banked write, the framebuffer, back to text.
    vbe = (vdispi(0, 0) + vdispi(1, 0xb0c0) + vdispi(1, write=False) + vdispi(1, 0xb0c5) +
           vdispi(0, 0xa) + vdispi(1, write=False) + vdispi(0, 4) + vdispi(1, 2) +
           vdispi(0, 1) + vdispi(1, write=False) + vdispi(0, 4) + vdispi(1, 0) +
           vdispi(0, 3) + vdispi(1, 32) + vdispi(0, 1) + vdispi(1, 1024) + vdispi(0, 2) +
           vdispi(1, 768) + vdispi(0, 4) + vdispi(1, 0xc1) + VSNAP + vdispi(0, 5) +
           vdispi(1, 2) + vmem(0x10, 0xdeadbeef, 4) + vfb(0x20010, write=False) +
           vfb(0, 0x11223344) + vfb(0xfffff8, 0x55, 8) + vdispi(0, 6) + vdispi(1, 2048) +
           vdispi(0, 4) + vdispi(1, 0) + VSNAP)
    # Planar graphics: write modes 0-3, set/reset, bit mask, XOR, read modes 0-1, chain 4.
    planar = (vseq(4, 6) + vseq(2, 0xf) + vgc(6, 5) + vattr(0x30, 1) + vmem(0x8000, 0x3c) +
              vgc(1, 5) + vgc(0, 1) + vmem(0x8001, 0x3c) + vgc(1, 0) + vgc(8, 0x0f) +
              vmem(0x8000, write=False) + vmem(0x8000, 0) + vgc(8, 0xff) + vgc(3, 0x18) +
              vmem(0x8000, 0xff) + vgc(3, 0) + vgc(5, 2) + vmem(0x8002, 0x0a) + vgc(5, 1) +
              vmem(0x8003, 0) + vgc(0, 0xf) + vgc(5, 3) + vmem(0x8004, 0xf0) + vgc(5, 8) +
              vgc(7, 0xf) + vgc(2, 0xa) + vmem(0x8002, write=False) + vseq(4, 0xe) +
              vmem(0x101, 0x77) + vmem(0x101, write=False) + VSNAP + vattr(0x30, 0x0c) +
              vseq(4, 2) + vseq(2, 3) + vgc(5, 0x10) + vgc(6, 0xe) + VSNAP)
    keys = (vtype(b"ls -l\r") + vtype(b"\x1b[A\x1b[1;5C\x1bOP\x1b[24~\x03\x1bx") +
            vtype(b"\x1b") + vtype(b"\x1b[\x01Q~!"))
    # BAR2: ports (index and data in one access), DISPI registers, the extension block.
    mmio = (vmmio(0x404, 0x0302) + vmmio(0x414, 0x0f0e) + vmmio(0x415, 0x50, 1) +
            vmmio(0x500, write=False) + vmmio(0x514, write=False) + vmmio(0x600, size=8,
                                                                         write=False) +
            vmmio(0x508, 0x41) + vmmio(0x508, 0x00) + vmmio(0x41a, size=1, write=False) +
            vtext(24, 70, "bottom") + VSNAP)
    return [hello, modeset, vbe, planar, keys + hello, mmio]


# -- AHCI --------------------------------------------------------------------------------

# fuzz_ahci.c: ops 0 ABAR write, 1 ABAR read, 2 RAM fill, 3 command, 4 port up, 5 PCI
# configuration write; RAM layout and ports as there.
A_BUF = 0x10000
A_RAM = 0x20000
A_DISK, A_CD, A_RO, A_EMPTY, A_NOMEDIA = range(5)
A_SZ = {1: 0, 2: 1, 4: 2, 8: 3}


def a_px(port, reg):
    return 0x100 + 0x80 * port + reg


def a_wr(off, val, size=4):
    return struct.pack("<BHBQ", 0, off, A_SZ[size], val)


def a_rd(off, size=4):
    return struct.pack("<BHB", 1, off, A_SZ[size])


def a_fill(gpa, data):
    return struct.pack("<BIB", 2, gpa, len(data)) + data


def a_up(port):
    return bytes([4, port])


def a_cfg(reg, val, size=4):
    return struct.pack("<BBBI", 5, reg, A_SZ[size], val)


def a_recover(port):
    """AHCI 6.2.2.1 after an error: ST off, clear PxIS, ST on."""
    return (a_wr(a_px(port, 0x18), 0x10) + a_wr(a_px(port, 0x10), 0xffffffff) +
            a_wr(a_px(port, 0x18), 0x11))


def h2d(cmd, lba=0, count=0, feature=0, control=0, c=True):
    return bytes([0x27, 0x80 if c else 0, cmd, feature, lba & 0xff, lba >> 8 & 0xff,
                  lba >> 16 & 0xff, 0x40 | (lba >> 24 & 0xf), lba >> 24 & 0xff, lba >> 32 & 0xff,
                  lba >> 40 & 0xff, 0, count & 0xff, count >> 8 & 0xff, 0, control, 0, 0, 0, 0])


def a_cmd(port, fis, prds=(), slot=0, write=False, packet=b"", cfl=5):
    dw0 = cfl | (1 << 5 if packet else 0) | (1 << 6 if write else 0) | len(prds) << 16
    prd = b"".join(struct.pack("<QII", addr, 0, length - 1) for addr, length in prds)
    return (struct.pack("<BBBI", 3, port, slot, dw0) + fis + packet.ljust(16, b"\0") +
            bytes([len(prds)]) + prd)


def a_packet(cdb, length=0, port=A_CD):
    return a_cmd(port, h2d(0xa0, feature=1), [(A_BUF, length or 2)], packet=bytes(cdb))


def ahci_seeds():
    buf = [(A_BUF, 512)]
    disk = (a_rd(0) + a_rd(0x0c) + a_up(A_DISK) + a_cmd(A_DISK, h2d(0xec), buf) +
            a_fill(A_BUF, bytes(range(200))) +
            a_cmd(A_DISK, h2d(0x35, 3, 2), [(A_BUF, 200), (A_BUF + 0x800, 824)], write=True) +
            a_cmd(A_DISK, h2d(0x25, 3, 2), [(A_BUF + 0x1000, 1024)], slot=1) +
            a_cmd(A_DISK, h2d(0xc8, 127, 1), buf, slot=2) +
            a_cmd(A_DISK, h2d(0xea)) + a_cmd(A_DISK, h2d(0x24, 5, 1), buf) +
            a_cmd(A_DISK, h2d(0x30, 6, 1), buf, write=True) +
            a_cmd(A_DISK, h2d(0xef, feature=0x82)) +
            a_cmd(A_DISK, h2d(0xca, 9, 1), buf, write=True) +
            a_cmd(A_DISK, h2d(0xef, count=0x45, feature=0x03)) +
            a_cmd(A_DISK, h2d(0xc6, count=8)) + a_cmd(A_DISK, h2d(0xc4, 0, 8), [(A_BUF, 4096)]) +
            a_cmd(A_DISK, h2d(0x42, 0, 16)) + a_cmd(A_DISK, h2d(0xe5)) +
            a_cmd(A_DISK, h2d(0xe0)) + a_cmd(A_DISK, h2d(0x90)) +
            a_fill(A_BUF + 0x2000, struct.pack("<Q", 10 | 4 << 48)) +
            a_cmd(A_DISK, h2d(0x06, count=1, feature=1), [(A_BUF + 0x2000, 512)], write=True) +
            a_cmd(A_DISK, h2d(0, control=4, c=False)) + a_cmd(A_DISK, h2d(0, c=False)) +
            a_rd(a_px(A_DISK, 0x20)) + a_rd(8) + a_wr(8, 1))
    cd = (a_up(A_CD) + a_cmd(A_CD, h2d(0xa1), buf) +
          a_packet([0x12, 0, 0, 0, 36], 36) + a_packet([0]) +
          a_packet([0x25], 8) + a_packet([0x28, 0, 0, 0, 0, 1, 0, 0, 2], 4096) +
          a_packet([0xa8, 0, 0, 0, 0, 3, 0, 0, 0, 1], 2048) +
          a_packet([0x43, 2, 0, 0, 0, 0, 0, 0, 20], 20) +
          a_packet([0x43, 0, 1, 0, 0, 0, 0, 0, 12], 12) +
          a_packet([0x46, 0, 0, 0, 0, 0, 0, 0, 80], 80) +
          a_packet([0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8], 8) +
          a_packet([0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 64], 64) +
          a_packet([0x1a, 0, 0x2a, 0, 32], 32) +
          a_packet([0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8], 8) +
          a_packet([0x1e, 0, 0, 0, 1]) + a_packet([0x1b, 0, 0, 0, 2]) + a_recover(A_CD) +
          a_packet([0x1e]) + a_packet([0x1b, 0, 0, 0, 2]) +
          a_packet([0xee]) + a_recover(A_CD) + a_packet([0x03, 0, 0, 0, 18], 18) +
          a_packet([0x28, 0, 0, 0, 0, 15, 0, 0, 2], 4096) + a_recover(A_CD) +
          a_packet([0x03, 0, 0, 0, 18], 18) + a_packet([0x12, 1, 0x80, 0, 64], 64) +
          a_cmd(A_CD, h2d(0x08)) + a_cmd(A_CD, h2d(0xec), buf) + a_recover(A_CD))
    errors = (a_up(A_DISK) + a_cmd(A_DISK, h2d(0x25, 0, 8), [(0xd0000000, 4096)]) +
              a_recover(A_DISK) + a_cmd(A_DISK, h2d(0x25, 0, 8), [(A_RAM - 512, 4096)]) +
              a_recover(A_DISK) + a_cmd(A_DISK, h2d(0x25, 0, 8), [(A_BUF, 2048)]) +
              a_recover(A_DISK) + a_cmd(A_DISK, h2d(0xec), buf, cfl=1) + a_recover(A_DISK) +
              a_cmd(A_DISK, b"\x34" + h2d(0xec)[1:], buf) + a_recover(A_DISK) +
              a_cmd(A_DISK, h2d(0x25, 126, 8), [(A_BUF, 4096)]) + a_recover(A_DISK) +
              a_cmd(A_DISK, h2d(0xa0), buf) + a_recover(A_DISK) +
              a_wr(a_px(A_DISK, 0x2c), 0x301) + a_wr(a_px(A_DISK, 0x2c), 0x300) +
              a_wr(a_px(A_DISK, 0x18), 0x10) + a_wr(a_px(A_DISK, 0x38), 1) +
              a_up(A_RO) + a_cmd(A_RO, h2d(0x35, 0, 1), buf, write=True) + a_recover(A_RO) +
              a_cmd(A_RO, h2d(0x25, 0, 1), buf) +
              a_up(A_NOMEDIA) + a_packet([0], port=A_NOMEDIA) + a_recover(A_NOMEDIA) +
              a_up(A_EMPTY) + a_cmd(A_EMPTY, h2d(0xec), buf) +
              a_wr(4, 0x80000001) + a_up(A_DISK) + a_cmd(A_DISK, h2d(0xe7)))
    irq = (a_cfg(0x44, 0xfee00000) + a_cfg(0x48, 0) + a_cfg(0x4c, 0x41, 2) + a_cfg(0x42, 1, 2) +
           a_up(A_DISK) + a_cmd(A_DISK, h2d(0xe7)) + a_rd(8) + a_wr(a_px(A_DISK, 0x10), 0xffffffff) +
           a_wr(8, 0xffffffff) + a_cmd(A_DISK, h2d(0xe7)) + a_cfg(0x42, 0, 2) +
           a_cfg(4, 2, 2) + a_cmd(A_DISK, h2d(0xe7), slot=3) + a_cfg(4, 6, 2) +
           a_wr(a_px(A_DISK, 0x38), 8) + a_wr(a_px(A_DISK, 0x14), 0, 1) + a_rd(a_px(A_DISK, 0x10), 2))
    return [disk, cd, errors, irq]


def fw_select(key):
    return bytes([0]) + struct.pack("<H", key)


def fw_read(n):
    return bytes([1, n])


def fw_dma(gpa, control, length, addr):
    return bytes([2]) + struct.pack("<I", gpa) + struct.pack(">IIQ", control, length, addr)


FW_FILE0, FW_DMA_READ, FW_DMA_SKIP, FW_DMA_SELECT, FW_DMA_WRITE = 0x20, 2, 4, 8, 0x10


def fw_cfg_seeds():
    """The firmware's own sequence (signature, ID, directory, a file by DMA), then DMA
    refusals: a write, a target outside RAM, a descriptor outside RAM."""
    boot = (fw_select(0) + fw_read(4) + fw_select(1) + fw_read(4) + fw_select(0x19) +
            fw_read(200) + fw_dma(0x100, (FW_FILE0 + 1) << 16 | FW_DMA_SELECT | FW_DMA_READ,
                                  5000, 0x2000) +
            fw_dma(0x100, (FW_FILE0) << 16 | FW_DMA_SELECT | FW_DMA_SKIP, 1, 0) +
            fw_dma(0x100, FW_DMA_READ, 8, 0x3000) + fw_select(FW_FILE0 + 2) + fw_read(4))
    bad = (fw_dma(0x200, FW_DMA_WRITE, 4, 0x1000) + fw_dma(0x200, FW_DMA_READ, 64, 1 << 40) +
           fw_dma(0x1fff8, FW_DMA_READ, 64, 0x1000) +
           bytes([3, 4, 2]) + struct.pack("<I", 0) + b"\x01" + bytes([3, 8, 2]) +
           struct.pack("<I", 0x00100000) + b"\x01")
    return [boot, bad]


# -- e1000 ---------------------------------------------------------------------------

# fuzz_e1000.c: op byte, then its operands; registers by raw offset (bit 15 of the u16).
E_TXR, E_RXR, E_TXD, E_RXB = 0x1000, 0x2000, 0x4000, 0x8000   # rings, data, 2 KiB buffers
E_MAC = bytes.fromhex("525400123456")
E_PEER = bytes.fromhex("525500000202")
E_REG = dict(CTRL=0x0, STATUS=0x8, EECD=0x10, EERD=0x14, MDIC=0x20, ICR=0xc0, ICS=0xc8,
             IMS=0xd0, IMC=0xd8, RCTL=0x100, TCTL=0x400, RDBAL=0x2800, RDLEN=0x2808,
             RDH=0x2810, RDT=0x2818, TDBAL=0x3800, TDLEN=0x3808, TDH=0x3810, TDT=0x3818,
             MTA=0x5200, RA=0x5400, VFTA=0x5600, GPRC=0x4074, GORCH=0x408c, GPTC=0x4080,
             MPC=0x4010)


def ew(reg, val):
    off = E_REG[reg] if isinstance(reg, str) else reg
    return bytes([0]) + struct.pack("<HI", 0x8000 | off // 4, val)


def er(reg):
    off = E_REG[reg] if isinstance(reg, str) else reg
    return bytes([1]) + struct.pack("<H", 0x8000 | off // 4)


def eram(gpa, data):
    out = b""
    for i in range(0, len(data), 64):
        chunk = data[i:i + 64]
        out += bytes([2]) + struct.pack("<IB", gpa + i, len(chunk)) + chunk
    return out


def edesc(rx, idx, d):
    return bytes([3, idx << 1 | rx]) + d


def eframe(data, length=None):
    length = len(data) if length is None else length
    n = length if length < 2048 else 0x8000 | (length - 1)
    return bytes([4]) + struct.pack("<H", n) + data[:min(length, 256)].ljust(min(length, 256), b"\0")


def elegacy(addr, length, cmd, cso=0, css=0, special=0):
    return struct.pack("<QHBBBBH", addr, length, cso, cmd, 0, css, special)


def ectx(ipcss, ipcso, ipcse, tucss, tucso, paylen, tucmd, hdrlen, mss):
    return struct.pack("<BBHBBHIBBH", ipcss, ipcso, ipcse, tucss, tucso, 0,
                       paylen | (tucmd | 0x20) << 24, 0, hdrlen, mss)


def edata(addr, length, dcmd, popts):
    return struct.pack("<QIBBH", addr, length | 1 << 20 | (dcmd | 0x20) << 24, 0, popts, 0)


EOP, IFCS, IC, TSE, RS, VLE = 0x01, 0x02, 0x04, 0x04, 0x08, 0x40


def e_ip(proto, payload, tot=None):
    """Ethernet + IPv4 + TCP (6) or UDP (17) from the guest to the peer."""
    l4 = 20 if proto == 6 else 8
    body = bytes(i * 7 & 0xff for i in range(payload))
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + l4 + payload if tot is None else tot,
                     0x1234, 0x4000, 64, proto, 0, bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2]))
    if proto == 6:
        th = struct.pack(">HHIIBBHHH", 40000, 80, 1000, 0, 5 << 4, 0x19, 0xffff, 0, 0)
    else:
        th = struct.pack(">HHHH", 40000, 53, 8 + payload, 0)
    return E_PEER + E_MAC + b"\x08\x00" + ip + th + body


def e_up(rctl=0x04008002):   # EN, BAM, SECRC
    """Reset, interrupts on, both rings (8 descriptors), receive buffers given."""
    s = ew("CTRL", 1 << 26) + ew("IMS", 0x9f)
    s += ew("TDBAL", E_TXR) + ew("TDLEN", 128) + ew("TDH", 0) + ew("TDT", 0) + ew("TCTL", 0x0a)
    s += ew("RDBAL", E_RXR) + ew("RDLEN", 128) + ew("RDH", 0) + ew("RDT", 0)
    s += b"".join(edesc(1, i, struct.pack("<QQ", E_RXB + 2048 * i, 0)) for i in range(8))
    return s + ew("RCTL", rctl) + ew("RDT", 7)


def e1000_seeds():
    udp = e_ip(17, 40)
    plain = (e_up() + eram(E_TXD, udp) + edesc(0, 0, elegacy(E_TXD, 20, 0)) +
             edesc(0, 1, elegacy(E_TXD + 20, len(udp) - 20, EOP | IFCS | RS)) + ew("TDT", 2) +
             er("ICR") + eframe(E_MAC + E_PEER + b"\x08\x06" + bytes(46)) +
             eframe(b"\xff" * 6 + E_PEER + b"\x08\x06" + bytes(28)) + er("ICR") +
             er("GPRC") + er("GPTC") + er("GORCH") + er("STATUS"))
    # checksum offload (TCP and UDP), then TSO: 1200 bytes in MSS 500
    tcp = e_ip(6, 300)
    tso = e_ip(6, 1200, tot=0)
    offload = (e_up() + eram(E_TXD, tcp) + edesc(0, 0, ectx(0, 0, 0, 34, 50, 0, 1, 0, 0)) +
               edesc(0, 1, edata(E_TXD, len(tcp), EOP | RS, 2)) + ew("TDT", 2) +
               eram(E_TXD + 0x800, udp) + edesc(0, 2, ectx(14, 24, 33, 34, 40, 0, 2, 0, 0)) +
               edesc(0, 3, edata(E_TXD + 0x800, len(udp), EOP | RS, 3)) + ew("TDT", 4) +
               eram(E_TXD + 0x1000, tso) +
               edesc(0, 4, ectx(14, 24, 33, 34, 50, 1200, 7, 54, 500)) +
               edesc(0, 5, edata(E_TXD + 0x1000, 54, TSE, 3)) +
               edesc(0, 6, edata(E_TXD + 0x1000 + 54, 1200, TSE | EOP | RS, 3)) + ew("TDT", 7) +
               er("ICR"))
    # the ring full: frames wait, then overflow; RDT moves; filters and multicast
    ring_full = e_up(0x04008102)   # RDMTS 1/4
    for i in range(12):
        ring_full += eframe(E_MAC + E_PEER + b"\x08\x00" + bytes([i]) * 50)
    ring_full += eframe(E_MAC + E_PEER + b"\x08\x00") * 30   # past the FIFO
    ring_full += (er("ICR") + er("MPC") + ew("RDT", 3) +
                  eframe(bytes.fromhex("525400999999") + E_PEER + bytes(50)) +
                  ew(E_REG["MTA"] + 4 * 0x7d, 1 << 16) +
                  eframe(bytes.fromhex("01005e0000fb") + E_PEER + bytes(50)) +
                  ew("RCTL", 0x0400801a) + eframe(bytes.fromhex("020000000001") + E_PEER + bytes(50)))
    # hostile: rings and buffers outside RAM, a tail past the ring, bus mastering off,
    # runts and giants, unknown registers, odd widths, the I/O window, the EEPROM and PHY
    hostile = (e_up() + ew("TDBAL", 0xc0000000) + ew("TDT", 1) + ew("TDBAL", E_TXR) +
               edesc(0, 0, elegacy(0xc0000000, 64, EOP | RS)) + ew("TDT", 1) +
               ew("TDT", 300) + ew("TDT", 1) +
               edesc(0, 1, elegacy(E_TXD, 0xffff, 0)) + edesc(0, 2, elegacy(E_TXD, 0xffff, 0)) +
               edesc(0, 3, elegacy(E_TXD, 4, EOP)) + ew("TDT", 4) +
               edesc(1, 0, struct.pack("<QQ", 0xc0000000, 0)) + eframe(E_MAC + E_PEER + bytes(50)) +
               eframe(E_MAC, 9000) + eframe(E_MAC[:4]) +
               bytes([7, 0]) + edesc(0, 4, elegacy(E_TXD, 60, EOP)) + ew("TDT", 5) + bytes([7, 1]) +
               er(0x4) + ew(0x1ff00, 5) + bytes([6, 0x81]) + struct.pack("<IQ", 0x100, 0xff) +
               bytes([6, 0x01]) + struct.pack("<IQ", 0xc1, 0) +
               bytes([5, 0xa0]) + struct.pack("<I", 0x8) + bytes([5, 0x24]) + struct.pack("<I", 0) +
               bytes([5, 0xa0]) + struct.pack("<I", 0xfffffff0) + bytes([5, 0x24]) + struct.pack("<I", 0) +
               ew("EERD", 0x0301) + er("EERD") + ew("MDIC", 0x08220000) + er("MDIC") +
               ew("MDIC", 0x04000140 | 1 << 21 | 1 << 29) + er("ICR") +
               bytes([8, 0]) + er("STATUS") + bytes([8, 1]) + bytes([9, 1, 3]) + bytes([9, 0, 9]))
    # the EEPROM bit-banged: READ word 0 and 1, with standby in between
    ee = ew("EECD", 0x40) + ew("EECD", 0x42)
    for word in (0, 1):
        for bit in [1, 1, 0] + [(word >> (5 - i)) & 1 for i in range(6)]:
            di = 4 if bit else 0
            ee += ew("EECD", 0x42 | di) + ew("EECD", 0x43 | di) + ew("EECD", 0x42 | di)
        for _ in range(16):
            ee += ew("EECD", 0x43) + er("EECD") + ew("EECD", 0x42)
        ee += ew("EECD", 0x40) + ew("EECD", 0x41) + ew("EECD", 0x43) + ew("EECD", 0x42)
    ee += ew("EECD", 0)
    # frames spanning 256-byte buffers, VLAN stripping and filtering, jumbo with LPE
    multi = (e_up(0x04038002) + ew("CTRL", 0x40000061) +
             eframe(E_MAC + E_PEER + b"\x81\x00\x00\x07\x08\x00" + bytes(250), 600) +
             ew("RCTL", 0x06018022) + eframe(E_MAC + E_PEER + b"\x08\x00", 4000) +
             ew(E_REG["VFTA"], 0x80) + ew("RCTL", 0x04058002) +
             eframe(E_MAC + E_PEER + b"\x81\x00\x00\x07\x08\x00" + bytes(50)) +
             eframe(E_MAC + E_PEER + b"\x81\x00\x00\x08\x08\x00" + bytes(50)) +
             eram(E_TXD, udp) + edesc(0, 0, elegacy(E_TXD, len(udp), EOP | VLE | RS, special=5)) +
             ew("TDT", 1))
    return [plain, offload, ring_full, hostile, ee, multi]


# -- the kernel and firmware loaders (fuzz_boot.c) --------------------------------------

# RAM sizes by index (fuzz_boot.c: ram_sizes)
B_640K, B_1M, B_2M, B_5M, B_17M, B_33M, B_64M, B_256M = range(8)
B_FIRMWARE, B_VGA, B_MMIO, B_NO_APPEND = 1, 2, 4, 0x20
B_CPUS = {1: 0, 2: 8, 8: 16, 64: 24}
MB_MAGIC = 0x1BADB002
MiB = 1 << 20


def boot_in(image, ram=B_64M, flags=0, cmdline=0, initrd=(0, 0), size=(0, 0)):
    """An input: header (flags, RAM, command line length, initrd and file size
    selectors), then the image. initrd: (0, _) none, (1, n) n bytes, (2, d) RAM - d,
    (3, p) p pages; size: (0, _) the image, (1, k) 64 KiB * (k + 1), (2, n) n bytes,
    (3, _) past the limit."""
    return struct.pack("<BBIBIBI", flags, ram, cmdline, initrd[0], initrd[1], size[0],
                       size[1]) + image


def bzimage(setup_sects=1, version=0x020f, loadflags=1, xlf=1, relocatable=1,
            pref=0x1000000, init_size=0x100000, cmdline_size=2047, syssize=None,
            payload=0x400, hdr_len=0x26c - 0x202, initrd_max=0x7fffffff):
    """A bzImage: boot sector and setup_sects sectors of setup (the header at 0x1f1),
    then a protected-mode kernel whose 64-bit entry (+0x200) halts."""
    setup = ((setup_sects or 4) + 1) * 512
    b = bytearray(setup + payload)
    struct.pack_into("<BHI", b, 0x1f1, setup_sects, 0,
                     payload // 16 if syssize is None else syssize)
    struct.pack_into("<HBBIH", b, 0x1fe, 0xaa55, 0xeb, hdr_len, 0x53726448, version)
    b[0x211] = loadflags
    struct.pack_into("<IIBBHI", b, 0x22c, initrd_max, 0x200000, relocatable, 0, xlf,
                     cmdline_size)
    struct.pack_into("<QI", b, 0x258, pref, init_size)
    code = bytes.fromhex("fa f4 eb fd")   # cli; hlt; jmp back to the hlt
    b[setup:setup + 16] = bytes(range(0x40, 0x50))
    b[setup + 0x200:setup + 0x204] = code
    return bytes(b)


def elf(segments, entry, bits=64, machine=None, phnum=None, phoff=None, prefix=b"",
        align=0x1000):
    """An ELF executable: segments are (paddr, vaddr, data, memsz), the data placed
    after the headers (align aligned); prefix goes right after the program headers
    (a multiboot header, within the first 8 KiB)."""
    ehsz, phsz = (64, 56) if bits == 64 else (52, 32)
    machine = machine if machine is not None else (62 if bits == 64 else 3)
    phoff = ehsz if phoff is None else phoff
    n = len(segments) if phnum is None else phnum
    body = bytearray(ehsz + phsz * len(segments)) + prefix
    phdrs = []
    for paddr, vaddr, data, memsz in segments:
        off = (len(body) + align - 1) & ~(align - 1)
        body += bytes(off - len(body)) + data
        if bits == 64:
            phdrs.append(struct.pack("<IIQQQQQQ", 1, 7, off, vaddr, paddr, len(data), memsz,
                                     0x1000))
        else:
            phdrs.append(struct.pack("<IIIIIIII", 1, off, vaddr, paddr, len(data), memsz, 7,
                                     0x1000))
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1]) + bytes(9)
    if bits == 64:
        eh = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, phoff, 0, 0, ehsz,
                                 phsz, n, 0, 0, 0)
    else:
        eh = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, entry, phoff, 0, 0, ehsz,
                                 phsz, n, 0, 0, 0)
    body[0:ehsz] = eh
    body[ehsz:ehsz + phsz * len(segments)] = b"".join(phdrs)
    return bytes(body)


def mb_header(flags, addrs=()):
    h = struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xffffffff)
    return h + struct.pack("<5I", *addrs) if addrs else h


def kludge(load=0x100000, hdr_off=16, load_end=0, bss_end=0x102000, entry_off=0x40,
           size=0x400, flags=0x10003, header_addr=None):
    """A flat multiboot image (the address-kludge form) loading at load."""
    b = bytearray(size)
    ha = load + hdr_off if header_addr is None else header_addr
    b[hdr_off:hdr_off + 32] = mb_header(flags, (ha, load, load_end, bss_end, load + entry_off))
    for i in range(0x40, size):
        b[i] = i & 0xff
    b[entry_off:entry_off + 3] = bytes.fromhex("f4 eb fd")
    return bytes(b)


def boot_seeds():
    """Each loader's minimal valid image, with and without an initrd and command line,
    in RAM that barely holds them or not, then the refusals: truncated headers, old
    protocols, phnum overflow, segments past 4 GiB, in the boot data or the firmware
    area, command lines past the limit, initrds larger than RAM, BIOS sizes."""
    out = []
    bz = bzimage()
    out += [boot_in(bz, cmdline=100, initrd=(1, 5000)),
            boot_in(bz, ram=B_17M),                                # 16 + 1 MiB: just fits
            boot_in(bzimage(init_size=0x101000), ram=B_17M),       # a page short
            boot_in(bz, cmdline=2047, flags=B_VGA | B_MMIO | B_CPUS[64]),
            boot_in(bz, cmdline=2048),                             # one past cmdline_size
            boot_in(bzimage(cmdline_size=0xffffffff), cmdline=0xffff),
            boot_in(bzimage(cmdline_size=0xffffffff), cmdline=0x10000),
            boot_in(bz, ram=B_64M, initrd=(2, 17 * MiB)),          # 47 MiB: just fits
            boot_in(bz, ram=B_64M, initrd=(2, 17 * MiB - 4096)),   # a page too many
            boot_in(bz, ram=B_256M, initrd=(2, 56 * MiB)),         # 200 MiB (sparse)
            boot_in(bz, initrd=(3, 1 << 20)),                      # 4 GiB
            boot_in(bzimage(relocatable=0), flags=B_NO_APPEND),    # at 1 MiB, runs at 16
            boot_in(bzimage(pref=0x100000, init_size=0x80000), ram=B_2M, initrd=(1, 300)),
            boot_in(bzimage(initrd_max=0x17fffff), initrd=(1, 40000)),
            boot_in(bzimage(setup_sects=0)),                       # 0 means 4
            boot_in(bzimage(syssize=(0x20000 - 1024) // 16), size=(1, 1)),   # padded file
            boot_in(bzimage()[:0x210]),                            # truncated header
            boot_in(bzimage(hdr_len=0x20)),                        # header too short
            boot_in(bzimage(syssize=0x100)),                       # truncated kernel
            boot_in(bzimage(version=0x0205)),
            boot_in(bzimage(xlf=0)),
            boot_in(bzimage(loadflags=0)),
            boot_in(bz, ram=B_640K),
            boot_in(bz, size=(3, 0))]                              # a 1 GiB + 1 file

    code = bytes.fromhex("f4 eb fd") + bytes(i & 0xff for i in range(0x40, 0x140))
    hi = 0xffffffff81000000
    vml = elf([(0x1000000, hi, code, 0x3000)], hi)
    out += [boot_in(vml, cmdline=300, initrd=(1, 10000)),
            boot_in(elf([(0x1000000, hi, code, 0x100000)], hi + 1), ram=B_17M),
            boot_in(elf([(0x1000000, hi, code, 0x100001)], hi), ram=B_17M),
            boot_in(vml, cmdline=2048),
            boot_in(elf([(0x30000, 0x30000, code, 0x1000)], 0x30000), ram=B_1M),
            boot_in(elf([(0x30000, 0x30000, code, 0x1000)], 0x30000), ram=B_1M,
                    initrd=(1, 0xf000)),
            boot_in(elf([(0x1000000, 0x1000000, code, 0x2000),
                         (0x1001000, 0x1001000, code[::-1], 0x1000)], 0x1000000, align=16)),
            boot_in(elf([(0x1000000, hi, code, 0x1000)], hi, phnum=0xffff)),
            boot_in(elf([(0x1000000, hi, code, 0x1000)], hi, phnum=300)),
            boot_in(elf([(0x1000000, hi, code, 0x1000)], hi, phoff=1 << 63)),
            boot_in(elf([(0x100000000, 0x100000000, code, 0x1000)], 0x100000000)),
            boot_in(elf([(0x9f000, 0x9f000, code, 0x1000)], 0x9f000)),
            boot_in(elf([(0x20000, 0x20000, code, 0x1000)], 0x20000)),
            boot_in(elf([(0x1000000, hi, code, 0x1000)], 0x5000000)),
            boot_in(elf([(0x1000000 + 0x1000 * i, 0, code[:16], 16) for i in range(33)],
                        0x1000000, align=16)),
            boot_in(elf([(0x1000000, hi, code, 0x1000)], hi, machine=3)),
            boot_in(vml[:60])]

    mbh = mb_header(3)
    mb32 = elf([(0x100000, 0x100000, code, 0x2000)], 0x100000, bits=32, prefix=mbh)
    out += [boot_in(mb32, cmdline=200, initrd=(1, 3000)),
            boot_in(mb32, ram=B_2M, initrd=(1, 0x10000 - 1), flags=B_NO_APPEND),
            boot_in(elf([(0x1000, 0x1000, code, 0x8000)], 0x1000, bits=32, prefix=mbh),
                    ram=B_1M),
            boot_in(elf([(0x100000, 0x100000, code, 0x1000)], 0x100000, prefix=mbh)),
            boot_in(elf([(0x100000000, 0x100000000, code, 0x1000)], 0x100000000,
                        prefix=mbh)),
            boot_in(elf([(0x100000, 0x100000, code, 0x1000)], 0x100000, bits=32,
                        prefix=mb_header(7))),                   # wants a video mode
            boot_in(elf([(0x100000, 0x100000, code, 0x1000)], 0x100000, bits=32,
                        machine=40, prefix=mbh)),
            boot_in(mb32, cmdline=0xffff)]                       # path + line: too long
    kl = kludge()
    out += [boot_in(kl, cmdline=50, initrd=(1, 2000)),
            boot_in(kludge(load=0x8000, bss_end=0x20000), ram=B_1M),
            boot_in(kludge(load=0x8000, bss_end=0x20000), ram=B_1M, initrd=(1, 100)),
            boot_in(kludge(load=0x1000, bss_end=0x9f000), ram=B_1M),  # no room for boot data
            boot_in(kludge(load=0x90000, bss_end=0xa0000)),            # into the firmware area
            boot_in(kludge(load_end=0x100800)),                        # past the file
            boot_in(kludge(entry_off=0x800)),
            boot_in(kludge(header_addr=0x100100)),
            boot_in(kludge(bss_end=0x100100)),
            boot_in(kludge(load=0xfff00000, bss_end=0)),
            boot_in(kludge(hdr_off=8164, size=8196)[:8176]),          # header cut at 8 KiB
            boot_in(kludge(flags=0x3), initrd=(2, 0))]                # neither ELF nor kludge

    bios = bytes(range(256)) * 16
    out += [boot_in(bios, flags=B_FIRMWARE, ram=B_1M, size=(1, 0)),       # 64 KiB
            boot_in(bios, flags=B_FIRMWARE, ram=B_2M, size=(1, 2)),       # 192 KiB
            boot_in(bios, flags=B_FIRMWARE, ram=B_17M, size=(1, 255)),    # 16 MiB
            boot_in(bios, flags=B_FIRMWARE, size=(2, 0x10001)),
            boot_in(bios, flags=B_FIRMWARE, size=(2, 0xf000)),
            boot_in(bios, flags=B_FIRMWARE, size=(3, 0)),
            boot_in(bios, flags=B_FIRMWARE, ram=B_640K, size=(1, 0)),
            boot_in(bytes(range(256)) * 4),                                # no kernel
            boot_in(b"")]
    return out


# -- the PCI host (fuzz_pci.c) ------------------------------------------------------------

P_CFG, P_CF8, P_PORT, P_ECAM, P_BAR, P_MOVE, P_RAM, P_PIN, P_LINK, P_WIN = range(10)
# targets: the functions present, in slot/function order, then absent ones (fuzz_pci.c)
T_HOST, T_ISA, T_PM, T_VIRTIO, T_E1000, T_PA, T_PB, T_PC = range(8)
T_ABSENT = range(8, 20)
T_FN1, T_BUS1 = 8, 16
# BARs: every declared BAR in the same order
B_VIO, B_MSIX, B_E1000, B_E1000_IO, B_PA_IO, B_PA_MEM, B_PA_64, B_PB_64, B_PB_IO, B_PC = range(10)
P_SIZES = {1: 0, 2: 1, 4: 2, 8: 3, 3: 4}
# virtio-pci's capabilities (virtio_pci.c: common, notify, ISR, PCI_CFG, MSI-X; virtio-rng
# has no device configuration) and BAR0 layout
VP_CFG_CAP, VP_MSIX_CAP = 0x74, 0x88
VP_ISR, VP_NOTIFY, VP_PBA = 0x1000, 0x3000, 0x800


def p_cfg(t, reg, val=0, size=4, write=False, ecam=False, unaligned=False, ext=0):
    mode = {1: 0, 2: 1, 4: 2}[size] | write << 2 | ecam << 3 | unaligned << 4 | ext << 5
    return bytes([P_CFG, t, reg & 0xff, mode]) + struct.pack("<I", val)


def p_wcfg(t, reg, val, size=4, ecam=False):
    return p_cfg(t, reg, val, size, True, ecam)


def p_bar(bar, off, val=0, size=4, write=True):
    return (bytes([P_BAR, bar]) + struct.pack("<I", off + 8) +
            bytes([P_SIZES[size] | write << 3]) + struct.pack("<Q", val))


def p_move(bar, how, val=0, decoding_off=False):
    return bytes([P_MOVE, bar, how | decoding_off << 7]) + struct.pack("<I", val)


def p_port(off, size, val=0, write=True):
    return bytes([P_PORT, off | P_SIZES[size] << 3 | write << 5]) + struct.pack("<I", val)


def p_ecam(off, size, val=0, write=False):
    return bytes([P_ECAM]) + struct.pack("<IBQ", off, P_SIZES[size] | write << 3, val)


def p_ram(gpa, data):
    out = b""
    for i in range(0, len(data), 64):
        chunk = data[i:i + 64]
        out += bytes([P_RAM]) + struct.pack("<HB", gpa + i, len(chunk)) + chunk
    return out


def p_pin(probe, level):
    return bytes([P_PIN, probe | level << 7])


def p_win(off, size, val=0, write=False):
    return bytes([P_WIN]) + struct.pack("<IBQ", off, P_SIZES[size] | write << 3, val)


def pci_seeds():
    # Enumeration as firmware and Linux do it, both ways: IDs, class, header type,
    # subsystem, capability pointer, pin; every capability of virtio-pci byte by byte.
    enum = b""
    for t in range(20):
        for reg in (0x00, 0x08, 0x0c, 0x2c, 0x34, 0x3c):
            enum += p_cfg(t, reg) + p_cfg(t, reg, ecam=True)
        enum += p_cfg(t, 0x0e, size=1) + p_cfg(t, 0x100, ecam=True, ext=1)
    for reg in range(0x40, 0x94):
        enum += p_cfg(T_VIRTIO, reg, size=1)
    for reg in range(0x40, 0x50, 2):
        enum += p_cfg(T_PB, reg, size=2)
    # Sizing every BAR, then moving each with decoding off, as Linux reassigns them.
    sizing = b"".join(p_move(b, 2) for b in range(10))
    sizing += b"".join(p_move(b, 0, 0xd0000000 + (b << 20), decoding_off=True) for b in range(10))
    sizing += p_move(B_E1000_IO, 0, 0xd000, True) + p_move(B_PA_IO, 0, 0xd100, True)
    sizing += p_move(B_PB_IO, 0, 0xd200) + b"".join(p_bar(b, 0, 0x11, 1) for b in range(4, 10))
    sizing += b"".join(p_bar(b, 4, 0, 4, False) for b in range(10))
    # A virtio driver with MSI-X: the queue's vector masked, then unmasked (delivered
    # from the PBA), the function masked, notifications from the ring, the ISR, and the
    # PCI configuration access capability's window onto BAR0.
    common = lambda off, val, size=4: p_bar(B_VIO, off, val, size)
    avail = lambda idx: p_ram(0x2000, struct.pack("<HHHH", 0, idx, 0, 0))
    virtio = (p_wcfg(T_VIRTIO, 0x04, 0x0006, 2) + p_wcfg(T_VIRTIO, VP_MSIX_CAP + 2, 0x8000, 2) +
              p_bar(B_MSIX, 0, 0xfee00000) + p_bar(B_MSIX, 8, 0x31) + p_bar(B_MSIX, 12, 0) +
              p_bar(B_MSIX, 16, 0xfee00000) + p_bar(B_MSIX, 24, 0x32) + p_bar(B_MSIX, 28, 1) +
              common(0x14, 1, 1) + common(0x14, 3, 1) + common(0x08, 1) + common(0x0c, 1) +
              common(0x14, 0xb, 1) + common(0x10, 0, 2) + common(0x16, 0, 2) +
              common(0x18, 8, 2) + common(0x1a, 1, 2) + common(0x20, 0x1000, 8) +
              common(0x28, 0x2000, 8) + common(0x30, 0x3000, 8) + common(0x1c, 1, 2) +
              common(0x14, 0xf, 1) +
              p_ram(0x1000, struct.pack("<QIHH", 0x4000, 64, 2, 0)) + avail(1) +
              p_bar(B_VIO, VP_NOTIFY, 0, 2) + p_bar(B_MSIX, VP_PBA, 0, 8, False) +
              p_bar(B_MSIX, 28, 0) + p_bar(B_MSIX, VP_PBA, 0, 8, False) +
              avail(2) + p_bar(B_VIO, VP_NOTIFY, 0, 2) +
              p_wcfg(T_VIRTIO, VP_MSIX_CAP + 2, 0xc000, 2) + avail(3) +
              p_bar(B_VIO, VP_NOTIFY, 0, 2) + p_wcfg(T_VIRTIO, VP_MSIX_CAP + 2, 0x8000, 2) +
              p_bar(B_VIO, VP_ISR, 0, 1, False) + p_bar(B_VIO, 0x18, 0, 2, False) +
              p_wcfg(T_VIRTIO, VP_CFG_CAP + 4, 0, 1) + p_wcfg(T_VIRTIO, VP_CFG_CAP + 8, 0x14) +
              p_wcfg(T_VIRTIO, VP_CFG_CAP + 12, 1) + p_cfg(T_VIRTIO, VP_CFG_CAP + 16) +
              p_wcfg(T_VIRTIO, VP_CFG_CAP + 4, 2, 1) + p_wcfg(T_VIRTIO, VP_CFG_CAP + 8, 0x10) +
              p_wcfg(T_VIRTIO, VP_CFG_CAP + 12, 4) + p_cfg(T_VIRTIO, VP_CFG_CAP + 16) +
              p_wcfg(T_VIRTIO, VP_CFG_CAP + 16, 0x33) + p_bar(B_VIO, 0x14, 0, 1))
    # INTx: the e1000 and probe A share line 3 (GSI 19), probes B and C line 1; the
    # wire-OR, INTX_OFF on one of two, a pin raised through a probe's BAR.
    e1000 = lambda reg, val: p_bar(B_E1000, reg, val)
    intx = (e1000(0xd0, 0xffff) + e1000(0xc8, 4) + p_pin(0, 1) + p_bar(B_E1000, 0xc0, 0, 4, False) +
            p_pin(0, 0) + p_pin(1, 1) + p_pin(2, 1) + p_wcfg(T_PB, 0x04, 0x0400, 2) +
            p_pin(2, 0) + p_wcfg(T_PB, 0x04, 0x0003, 2) + p_pin(1, 0) +
            p_bar(B_PC, 0, 1, 1) + p_wcfg(T_E1000, 0x04, 0x0407, 2) + e1000(0xc8, 1) +
            p_wcfg(T_E1000, 0x04, 0x0007, 2) + bytes([P_LINK, 0, P_LINK, 1]) +
            p_bar(B_PA_IO, 0, 1, 1) + p_bar(B_PA_IO, 0, 0, 4) + p_bar(B_PC, 0, 0, 1))
    # Hostile: BARs onto each other, onto the host's ranges, RAM, above 4 GiB, accesses
    # through the moved ones; the latch's bytes and reserved bits, a disabled latch,
    # misaligned and wide ECAM, another bus, the reset control.
    hostile = (p_move(B_E1000, 1, B_VIO) + p_move(B_PA_MEM, 1, B_MSIX) + p_move(B_PB_IO, 4) +
               p_move(B_PA_IO, 1, B_E1000_IO) + p_move(B_PA_64, 3, 0x1000) +
               p_move(B_PB_64, 5, 0x12345678) + p_move(B_PC, 4, 0x8000) +
               p_bar(B_PA_64, 0, 0xdead, 4) + p_bar(B_PC, 0, 1, 1) +
               p_win(0, 4) + p_win(0x20000, 4, 1, True) + p_move(B_VIO, 0, 0, True) +
               p_move(B_E1000, 0, 0xc0000000) + p_bar(B_E1000, 8, 0, 4, False) +
               bytes([P_CF8]) + struct.pack("<I", 0x7f000010) + p_port(4, 4, 0, False) +
               bytes([P_CF8]) + struct.pack("<I", 0x80001803) + p_port(0, 4, 0, False) +
               p_port(6, 2, 0, False) + p_port(7, 4, 0, False) + p_port(1, 1, 0, False) +
               p_port(2, 2, 0x1234) + p_port(0, 2, 0, False) + p_port(0, 8, 0, False) +
               p_ecam(0x1001, 2) + p_ecam(0x1002, 4) + p_ecam(0x1000, 8) + p_ecam(0x10003, 3) +
               p_ecam(0x10000, 8, 0xffffffff, True) + p_ecam(0xff000, 4) +
               p_cfg(T_BUS1, 0) + p_cfg(T_FN1, 0, ecam=True) + p_cfg(T_PB, 0x3d, size=2, unaligned=True) +
               p_wcfg(T_PA, 0x00, 0xffffffff) + p_wcfg(T_PA, 0x08, 0xffffffff) +
               p_wcfg(T_PA, 0x0c, 0xffffffff) + p_wcfg(T_PA, 0x06, 0xffff, 2) +
               p_port(1, 1, 0x02) + p_port(1, 1, 0x06))
    # The chipset's registers as SeaBIOS programs them: PAM, SMRAM, PIRQ routes, PMBA,
    # DEVACTB, PMREGMISC, SMBus base and host configuration.
    chipset = (b"".join(p_wcfg(T_HOST, 0x59 + i, 0x33, 1) for i in range(7)) +
               p_wcfg(T_HOST, 0x72, 0x4a, 1) + p_cfg(T_HOST, 0x58) + p_cfg(T_HOST, 0x5c) +
               p_wcfg(T_ISA, 0x60, 0x0b0a0b0a) + p_cfg(T_ISA, 0x60) + p_cfg(T_ISA, 0x0e, size=1) +
               p_wcfg(T_PM, 0x40, 0x0601) + p_cfg(T_PM, 0x40) + p_wcfg(T_PM, 0x58, 0) +
               p_cfg(T_PM, 0x58) + p_wcfg(T_PM, 0x80, 1, 1) + p_wcfg(T_PM, 0x90, 0x0701) +
               p_wcfg(T_PM, 0xd2, 0x09, 1) + p_cfg(T_PM, 0x90) + p_cfg(T_PM, 0xd0))
    return [enum, sizing, virtio, intx, hostile, chipset]


# -- the interrupt controllers (fuzz_irqchip.c) -------------------------------------------

I_PAGE, I_MSR, I_IOREG, I_IOPAGE, I_PIC, I_GSI, I_MSI, I_ACK, I_TIME, I_LINT, I_EVENTS, \
    I_MORE = range(12)
I_SIZES = {1: 0, 2: 1, 4: 2, 8: 3}
I_PIC_PORTS = {0x20: 0, 0x21: 1, 0xa0: 2, 0xa1: 3, 0x4d0: 4, 0x4d1: 5}
# LAPIC registers (xAPIC page offsets)
L_ID, L_TPR, L_PPR, L_EOI, L_LDR, L_DFR, L_SVR, L_ISR, L_TMR, L_IRR, L_ESR = \
    0x20, 0x80, 0xa0, 0xb0, 0xd0, 0xe0, 0xf0, 0x100, 0x180, 0x200, 0x280
L_ICR, L_ICR2, L_TIMER, L_LINT0, L_LINT1, L_ERR, L_TICR, L_TCCR, L_TDCR = \
    0x300, 0x310, 0x320, 0x350, 0x360, 0x370, 0x380, 0x390, 0x3e0


def i_lw(cpu, off, val, size=4):
    return bytes([I_PAGE, cpu]) + struct.pack("<HBI", off, I_SIZES[size] | 4, val)


def i_lr(cpu, off, size=4):
    return bytes([I_PAGE, cpu]) + struct.pack("<HBI", off, I_SIZES[size], 0)


def i_msr(cpu, msr, val=0, write=True):
    sel = 0x100 if msr == 0x1b else 0x101 if msr == 0x6e0 else msr - 0x800
    return bytes([I_MSR, cpu]) + struct.pack("<HBQ", sel, write, val)


def i_io(reg, val=0, write=True):
    return bytes([I_IOREG, reg, write]) + struct.pack("<I", val)


def i_rte(pin, lo, hi=0):
    return i_io(0x11 + 2 * pin, hi) + i_io(0x10 + 2 * pin, lo)


def i_pic(port, val=0, write=True):
    return bytes([I_PIC, I_PIC_PORTS[port] | write << 7, val])


def i_gsi(g, level):
    return bytes([I_GSI, g, level])


def i_msi(addr, data, raw=False):
    return bytes([I_MSI]) + struct.pack("<IBI", addr & 0xffffffff, raw | (addr >> 32) << 4, data)


def i_ack(cpu, eoi=True):
    return bytes([I_ACK, cpu | eoi << 7])


def i_time(ns, shift=0):
    return bytes([I_TIME]) + struct.pack("<IB", ns, shift)


def i_events(cpu):
    return bytes([I_EVENTS, cpu])


def i_on(cpu):
    """Linux's LAPIC setup: enabled (spurious 0xff), LINT0 ExtINT on the BSP, LINT1 NMI,
    the error vector, flat logical ID 1 << cpu."""
    return (i_lw(cpu, L_SVR, 0x1ff) + i_lw(cpu, L_LINT0, 0x700 if cpu == 0 else 0x10700) +
            i_lw(cpu, L_LINT1, 0x400) + i_lw(cpu, L_ERR, 0xfe) + i_lw(cpu, L_TPR, 0) +
            i_lw(cpu, L_DFR, 0xffffffff) + i_lw(cpu, L_LDR, 1 << (24 + cpu)))


def irqchip_seeds():
    # The LAPIC timer in its three modes, the divider changed mid-count, TPR holding a
    # vector back.
    timers = (i_on(0) + i_lw(0, L_TDCR, 0xb) + i_lw(0, L_TIMER, 0xef) + i_lw(0, L_TICR, 1000) +
              i_lr(0, L_TCCR) + i_time(400) + i_lr(0, L_TCCR) + i_lw(0, L_TDCR, 0x3) +
              i_time(5000) + i_ack(0) +
              i_lw(0, L_TIMER, 0x200ee) + i_lw(0, L_TICR, 500) + i_time(1600) + i_ack(0) +
              i_time(499) + i_lw(0, L_TPR, 0xf0) + i_ack(0) + i_lw(0, L_TPR, 0) + i_ack(0) +
              i_lw(0, L_TDCR, 0x8) + i_time(0x10000, 4) + i_ack(0, False) + i_ack(0) +
              i_lw(0, L_EOI, 0) +
              i_lw(0, L_TIMER, 0x400ed) + i_msr(0, 0x6e0, 3 * 1000 + 30000) + i_time(20000) +
              i_msr(0, 0x6e0, 0, False) + i_ack(0) + i_lw(0, L_TIMER, 0x100ef) +
              i_lw(1, L_SVR, 0x1ff) + i_lw(1, L_TIMER, 0x200e0) + i_lw(1, L_TICR, 3) +
              i_time(100000) + i_ack(1) + i_ack(1))
    # The IOAPIC: a level pin delivered, EOI while still asserted (delivered again),
    # an edge pin to a logical destination, lowest priority, masked, NMI/ExtINT/INIT.
    ioapic = (i_on(0) + i_on(1) + i_on(2) + i_rte(10, 0x8041, 1 << 24) + i_gsi(10, 1) +
              i_io(0x24, write=False) + i_ack(1, False) + i_lw(1, L_EOI, 0) + i_ack(1) +
              i_gsi(10, 0) + i_ack(1) +
              i_rte(4, 0x0831, 0x04 << 24) + i_gsi(4, 1) + i_gsi(4, 0) + i_ack(2) +
              i_rte(5, 0x0932, 0x06 << 24) + i_gsi(5, 1) + i_ack(1) + i_ack(2) +
              i_rte(6, 0x10033) + i_gsi(6, 1) + i_rte(6, 0x0033) + i_gsi(6, 0) + i_gsi(6, 1) +
              i_ack(0) + i_rte(7, 0x0400) + i_gsi(7, 1) + i_rte(8, 0x0700) + i_gsi(8, 1) +
              i_rte(9, 0xa044, 2 << 24) + i_gsi(9, 1) + i_ack(2) + i_io(0x22, write=False) +
              i_rte(9, 0x0044, 2 << 24) + i_io(0x22, write=False) + i_io(0, 0x0f000000) +
              i_io(1, 0xffffffff) + i_io(2, 0) + i_io(0x40, 5) + bytes([I_IOPAGE, 0x10, 1, 0, 0, 0, 0]) +
              bytes([I_IOPAGE, 0x04, 6, 1, 2, 3, 4]) + i_events(0) + i_events(1) + i_events(2))
    # The 8259A pair as PC firmware and Linux program it: IRQs through ExtINT on the BSP
    # (LAPIC off), the cascade, ELCR levels, OCW3 reads and poll, rotation, specific and
    # auto EOI, special mask mode, a spurious IRQ 7.
    pic = (i_pic(0x20, 0x11) + i_pic(0x21, 0x20) + i_pic(0x21, 4) + i_pic(0x21, 1) +
           i_pic(0xa0, 0x11) + i_pic(0xa1, 0x28) + i_pic(0xa1, 2) + i_pic(0xa1, 1) +
           i_pic(0x21, 0) + i_pic(0xa1, 0) + i_gsi(1, 1) + i_ack(0) + i_gsi(1, 0) +
           i_gsi(8, 1) + i_gsi(8, 0) + i_gsi(3, 1) + i_ack(0, False) + i_ack(0) + i_pic(0x20, 0x20) +
           i_pic(0x4d1, 0x06) + i_gsi(9, 1) + i_ack(0) + i_ack(0, False) + i_pic(0xa0, 0x0b) +
           i_pic(0xa0, write=False) + i_pic(0xa0, 0x20) + i_pic(0x20, 0x62) + i_gsi(9, 0) +
           i_pic(0x20, 0x0c) + i_gsi(5, 1) + i_pic(0x20, write=False) + i_pic(0x20, 0x65) +
           i_pic(0x20, 0x68) + i_gsi(4, 1) + i_ack(0, False) + i_gsi(6, 1) + i_ack(0, False) +
           i_pic(0x20, 0x48) + i_pic(0x20, 0xa0) + i_pic(0x20, 0xe4) + i_pic(0x20, 0xc3) +
           i_gsi(7, 1) + i_gsi(7, 0) + i_ack(0) + i_pic(0x21, 0xff) + i_gsi(12, 1) + i_ack(0) +
           i_pic(0x20, 0x11) + i_pic(0x21, 0x40) + i_pic(0x21, 4) + i_pic(0x21, 3) +
           i_gsi(14, 1) + i_gsi(14, 0) + i_gsi(14, 1) + i_ack(0) + i_pic(0x20, 0x80) + i_ack(0) +
           i_pic(0x20, 0x0a) + i_pic(0x20, write=False) + i_pic(0x4d0, write=False) +
           i_on(0) + i_gsi(15, 1) + i_ack(0) + i_lw(0, L_LINT0, 0x10700) + i_ack(0) +
           bytes([I_MORE, 1, 0, 1, 0x11, 0, 0, 0, 1, I_MORE, 1, 4, 2, 0, 0, 0, 0, 0]))
    # IPIs, MSIs and x2APIC: fixed, all-but-self, self, lowest priority to a logical set,
    # NMI, INIT and SIPI (taken: INIT resets), level MSIs, RH; x2APIC's ICR, self IPI,
    # EOI and ID.
    ipis = (i_on(0) + i_on(1) + i_on(2) + i_lw(0, L_ICR2, 1 << 24) + i_lw(0, L_ICR, 0x0050) +
            i_ack(1) + i_lw(0, L_ICR, 0xc0051) + i_ack(1) + i_ack(2) + i_lw(0, L_ICR, 0x40052) +
            i_ack(0) + i_lw(0, L_ICR2, 0x06 << 24) + i_lw(0, L_ICR, 0x0953) + i_ack(1) +
            i_lw(0, L_ICR2, 2 << 24) + i_lw(0, L_ICR, 0x0400) + i_lw(0, L_ICR, 0x4500) +
            i_lw(0, L_ICR, 0x4608) + i_events(2) + i_lr(2, L_SVR) + i_events(2) +
            i_msi(0xfee01000, 0x0061) + i_ack(1) + i_msi(0xfee0000c, 0x0062) + i_ack(0) +
            i_msi(0xfee02000, 0xc063) + i_msi(0xfee02000, 0x8063) + i_ack(2) +
            i_msi(0xfee00000, 0x0400) + i_msi(0xfed00000, 0x0030, True) +
            i_msi(0x1fee00000, 0x0030, True) +
            i_msr(2, 0x1b, 0xfee00c00) + i_msr(2, 0x802, write=False) + i_msr(2, 0x80f, 0x1ff) +
            i_msr(2, 0x830, 0x0000000000040070) + i_ack(2) + i_msr(2, 0x80b, 0) +
            i_msr(2, 0x83f, 0x71) + i_ack(2, False) + i_msr(2, 0x80b) +
            i_msr(0, 0x830, 0x0000000200000072, False) + i_msr(1, 0x830, 0x0000000200000072) +
            i_msr(2, 0x830, 0x0000000100000073) + i_ack(1) + i_msr(2, 0x838, 100) + i_msr(2, 0x832, 0xe1) +
            i_time(200) + i_msr(2, 0x839, write=False) + i_ack(2) + i_msr(2, 0x1b, 0xfee00800) +
            i_msr(2, 0x1b, 0) + i_msr(2, 0x1b, 0xfee00c00) + i_msr(2, 0x1b, 0xfee00800) +
            i_msr(2, 0x1b, 0xfee00400))
    # Hostile: illegal vectors everywhere, the page moved and disabled, reserved MSRs,
    # odd widths and offsets, EOIs with nothing in service, a PV EOI on a level vector.
    hostile = (i_on(0) + i_msi(0xfee00000, 0x0057) + i_ack(0, False) + bytes([I_MORE, 0, 0, 0x57]) +
               i_lw(0, L_ICR, 0x0005) + i_lr(0, L_ESR) + i_lw(0, L_ESR, 0) +
               i_lr(0, L_ESR) + i_msi(0xfee00000, 0x0007) + i_rte(3, 0x0009) + i_gsi(3, 1) +
               i_lw(0, L_EOI, 0) + i_lw(0, L_TPR + 1, 0xff, 1) + i_lw(0, L_SVR + 2, 0x1ff, 2) +
               i_lw(0, L_ICR + 3, 0x51, 1) + i_lw(0, 0x38c, 5, 8) + i_lr(0, 0x301, 4) +
               i_lr(0, 0xffc) + i_lw(0, 0xff8, 1, 8) +
               i_rte(11, 0x8055) + i_gsi(11, 1) + i_ack(0, False) +
               bytes([I_MORE, 0, 0, 0x55]) + bytes([I_MORE, 0, 0, 0x20]) + i_gsi(11, 0) +
               i_lw(0, L_EOI, 0) +
               i_msi(0xfee00000, 0x0056) + i_ack(0, False) + bytes([I_MORE, 0, 0, 0x56]) +
               i_msr(0, 0x1b, 0xfee00100 | 1 << 11 | 1 << 40) + i_msr(0, 0x1b, 0xfee00400) +
               i_msr(0, 0x1b, 0xfed00800) + i_lr(0, L_ID) + i_msr(0, 0x1b, 0) +
               i_lw(0, L_SVR, 0x1ff) + i_msr(0, 0x1b, 0xfee00800) + i_msr(0, 0x830, 5) +
               i_msr(0, 0x6e0, 99) + i_msr(0, 0x899, 1) + i_time(0xffffffff, 7) + i_time(0xffffffff, 15) +
               bytes([I_LINT, 0, 3, I_LINT, 0, 2, I_LINT, 1, 1, I_LINT, 1, 0]) + i_events(0) +
               i_gsi(24, 1) + i_gsi(25, 1) + i_ack(1) + i_ack(2))
    return [timers, ioapic, pic, ipis, hostile]


# -- the legacy PC devices (fuzz_legacy.c) ------------------------------------------------

G_ANY, G_OUT, G_IN, G_TIME, G_SERIAL, G_KEYS, G_PWRBTN = range(7)
# devices of the any-access op, and the ports of the byte ops (fuzz_legacy.c)
G_PIT, G_61, G_RTC, G_UART, G_KDATA, G_KCMD, G_PMEVT, G_PMCNT, G_PMTMR, G_EXIT, G_POST, \
    G_DCON = range(12)
G_PORTS = [0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc,
           0x3fd, 0x3fe, 0x3ff, 0x60, 0x64, 0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x608,
           0xf4, 0x80, 0x402, 0xf7]
G_SIZES = {1: 0, 2: 1, 4: 2, 8: 3, 3: 4}


def g_any(dev, off, size, val=0, write=True):
    return bytes([G_ANY, dev, off + 2, G_SIZES[size] | write << 3]) + struct.pack("<Q", val)


def g_out(port, *vals):
    return b"".join(bytes([G_OUT, G_PORTS.index(port), v]) for v in vals)


def g_in(port, n=1):
    return bytes([G_IN, G_PORTS.index(port), 0]) * n


def g_time(ns, shift=0):
    return bytes([G_TIME]) + struct.pack("<IB", ns, shift)


def g_serial(data):
    return bytes([G_SERIAL, len(data)]) + data


def g_keys(data):
    return bytes([G_KEYS, len(data)]) + data


def g_cmos(reg, val=None):
    return g_out(0x70, reg) + (g_out(0x71, val) if val is not None else g_in(0x71))


def legacy_seeds():
    # The PIT as Linux calibrates it (counter 2 gated through 0x61, OUT polled) and
    # programs it (counter 0: rate generator at HZ, one-shot, square wave, BCD, byte
    # modes), counts latched and read back, time moved by ticks and by seconds.
    pit = (g_out(0x61, 0x01) + g_out(0x43, 0xb0) + g_out(0x42, 0xff, 0xff) + g_in(0x61) +
           g_time(50000) + g_in(0x61) + g_out(0x43, 0x80) + g_in(0x42, 2) + g_time(60000000) +
           g_in(0x61) + g_out(0x61, 0x00) + g_out(0x61, 0x01) +
           g_out(0x43, 0x34) + g_out(0x40, 0xa9, 0x04) + g_time(838 * 1192) + g_time(838 * 2) +
           g_time(1000000) + g_out(0x43, 0x00) + g_in(0x40, 2) + g_out(0x43, 0xc2) +
           g_in(0x40, 3) + g_out(0x43, 0xd2) + g_in(0x40) + g_out(0x43, 0xe2) + g_in(0x40) +
           g_out(0x40, 0x10, 0x00) + g_time(838 * 3000) +
           g_out(0x43, 0x30) + g_out(0x40, 0x10) + g_time(2000) + g_out(0x40, 0x00) + g_time(20000) +
           g_out(0x43, 0x36) + g_out(0x40, 0x0b, 0x00) + g_time(5000) + g_time(838 * 5) +
           g_out(0x43, 0x35) + g_out(0x40, 0x99, 0x99) + g_time(838 * 100) + g_out(0x43, 0x00) +
           g_in(0x40, 2) + g_out(0x43, 0x38) + g_out(0x40, 0x20, 0) + g_time(838 * 0x21) +
           g_time(838 * 2) + g_out(0x43, 0x12) + g_out(0x40, 0x40) + g_out(0x43, 0x22) +
           g_out(0x40, 0x01) + g_time(1, 7) + g_out(0x43, 0x54) + g_out(0x41, 0x12) +
           g_in(0x41) + g_out(0x43, 0xba) + g_out(0x42, 0x10, 0) + g_out(0x61, 0x03) +
           g_time(838 * 20) + g_in(0x61) + g_out(0x43, 0x34) + g_out(0x40, 0xa9, 0x04) +
           g_time(1000000) + g_out(0x40, 0x54, 0x02) + g_time(838 * 1500) + g_time(0xffffffff, 7) +
           g_any(G_PIT, 0, 4, 0x00040034) + g_any(G_PIT, 0, 2, 0, False) + g_any(G_PIT, 0, 8, 0, False))
    # The RTC as Linux's hwclock and the firmware use it: every register, the clock
    # set under SET, binary and 12-hour modes, NVRAM bytes, the NMI bit of the index.
    rtc = (b"".join(g_cmos(r) for r in list(range(0x0e)) + [0x32, 0x0e, 0x10, 0x14, 0x2e, 0x5f, 0x7f]) +
           g_cmos(0x0b, 0x82) + g_cmos(0x00, 0x30) + g_cmos(0x02, 0x59) + g_cmos(0x04, 0x23) +
           g_cmos(0x07, 0x31) + g_cmos(0x08, 0x12) + g_cmos(0x09, 0x99) + g_cmos(0x32, 0x20) +
           g_cmos(0x00) + g_cmos(0x0b, 0x02) + g_cmos(0x00) + g_cmos(0x09) + g_cmos(0x32) +
           g_cmos(0x0b, 0x06) + g_cmos(0x04) + g_cmos(0x04, 23) + g_cmos(0x08) + g_cmos(0x0b, 0x00) +
           g_cmos(0x04) + g_cmos(0x04, 0x81) + g_cmos(0x04) + g_cmos(0x0b, 0x80) + g_cmos(0x08, 0x13) +
           g_cmos(0x07, 0x00) + g_cmos(0x0b, 0x02) + g_cmos(0x07) + g_cmos(0x0a, 0xa6) + g_cmos(0x0a) +
           g_cmos(0x0c, 0xff) + g_cmos(0x0d, 0x00) + g_cmos(0x0c) + g_cmos(0x0d) +
           g_cmos(0x8f, 0x5a) + g_cmos(0x0f) + g_cmos(0x01, 0x12) + g_cmos(0x01) + g_cmos(0x7f, 0xa5) +
           g_cmos(0xff) + g_any(G_RTC, 0, 2, 0x770e) + g_any(G_RTC, 0, 2, 0x0e, False) +
           g_any(G_RTC, 0, 2, 0x0e) + g_any(G_RTC, 1, 1, 0, False) + g_any(G_RTC, -1, 4, 0, False))
    # The UART as Linux's 8250 driver probes and runs it: divisor, FIFO, the loopback
    # test, interrupts enabled, output, input from the host at each trigger level, an
    # overrun in loopback, the modem lines.
    u = lambda r, *v: g_out(0x3f8 + r, *v)
    ui = lambda r, n=1: g_in(0x3f8 + r, n)
    uart = (u(7, 0xa5) + ui(7) + u(3, 0x80) + u(0, 0x01) + u(1, 0x00) + u(3, 0x03) + u(2, 0xc7) +
            ui(2) + u(4, 0x1f) + ui(6) + u(0, 0x55) + ui(5) + ui(0) + u(4, 0x0b) + ui(6) +
            u(1, 0x0f) + ui(2) + ui(2) + b"".join(u(0, c) for c in b"Hello\r\n") + ui(5) +
            g_serial(b"root\n") + ui(2) + ui(5) + ui(0, 6) + ui(2) + u(2, 0x07) +
            g_serial(bytes(range(32))) + ui(2) + u(2, 0xc1) + ui(2) + ui(0, 20) + u(2, 0x00) +
            ui(2) + g_serial(b"x") + ui(2) + ui(0) + u(4, 0x10) + u(2, 0x01) +
            b"".join(u(0, c) for c in range(18)) + ui(5) + ui(0, 17) + g_serial(b"lost") +
            u(4, 0x0b) + u(1, 0x02) + ui(2) + u(0, 0x41) + ui(2) + u(1, 0x00) +
            g_any(G_UART, 0, 8, 0x0b0300c70f4200, True) + g_any(G_UART, 0, 8, 0, False) +
            g_any(G_UART, 6, 4, 0, False) + g_any(G_UART, -2, 4, 0x41) + ui(2))
    # The i8042 as firmware and Linux drive it: self tests, the command byte, the aux
    # port, the keyboard's reset, identify, LEDs, scan code set, typematic and enable,
    # typed keys (more than the queue takes), the output port and A20.
    kc = lambda *v: g_out(0x64, *v)
    kd = lambda *v: g_out(0x60, *v)
    kr = lambda n=1: (g_in(0x64) + g_in(0x60)) * n
    i8042 = (g_in(0x64) + kc(0xaa) + kr() + kc(0x20) + kr() + kc(0x60) + kd(0x65) + kc(0xab) + kr() +
             kc(0xa8) + kc(0xa9) + kr() + kc(0xd4) + kd(0xff) + kr() + kc(0xa7) +
             kd(0xff) + kr(2) + kd(0xf2) + kr(3) + kd(0xed) + kr() + kd(0x07) + kr() +
             kd(0xf0) + kr() + kd(0x00) + kr(2) + kd(0xf3) + kd(0x20) + kr(2) + kd(0xee) + kr() +
             kd(0xf5) + g_keys(b"\x1e\x9e") + kd(0xf4) + kr() + g_keys(b"\x1e\x9e\xe0\x48\xe0\xc8") +
             kr(6) + kd(0xf6) + kd(0xf7) + kd(0x42) + kr(3) + kc(0xd2) + kd(0x1c) + kc(0xd3) + kd(0x9c) +
             kr(2) + kc(0xd0) + kr() + kc(0xd1) + kd(0x01) + kc(0xdd) + kc(0xdf) + kc(0xc0) + kr() +
             kc(0xe0) + kr() + kc(0xad) + g_keys(b"\x10") + kc(0xae) + g_keys(bytes(range(1, 71))) +
             kc(0x60) + kd(0x47) + kr(66) + kc(0x21) + kr() + kc(0x7f) + kd(0x12) + kc(0x3f) + kr() +
             kc(0x61) + kc(0x55) + kd(0x00) + g_any(G_KDATA, 0, 2, 0, False))
    # ACPI: the power button through PM1 EN to the SCI, status cleared, the PM timer,
    # sleep states that wake at once, then S5 (the VM stops).
    acpi = (g_out(0x602, 0x00) + g_out(0x603, 0x01) + bytes([G_PWRBTN]) + g_in(0x600) + g_in(0x601) +
            g_out(0x601, 0x01) + g_any(G_PMEVT, 0, 4, 0x01000000) + bytes([G_PWRBTN]) +
            g_any(G_PMEVT, 0, 4, 0, False) + g_any(G_PMEVT, 0, 2, 0xffff) + g_any(G_PMTMR, 0, 4, 0, False) +
            g_in(0x608) + g_any(G_PMTMR, 2, 2, 0, False) + g_any(G_PMTMR, 0, 4, 5) +
            g_any(G_PMCNT, 0, 2, 0, False) + g_any(G_PMCNT, 0, 2, 0x2400) + g_in(0x600) + g_in(0x601) +
            g_out(0x601, 0x80) + g_any(G_PMCNT, 0, 2, 0x1401) + g_in(0x605) +
            g_any(G_PMCNT, 0, 2, 0x3400) + g_out(0x605, 0x34) + g_any(G_PMEVT, 2, 4, 0))
    # The debug ports: the firmware's console, POST codes, debug exit at each width,
    # and the i8042's two reset paths.
    ports = (b"".join(g_out(0x402, c) for c in b"SeaBIOS (version 1.16)\n") + g_in(0x402) +
             g_any(G_DCON, 0, 1, 0x0d) + g_out(0x80, 0x55) + g_in(0x80) + g_any(G_POST, 0, 2, 0, False) +
             g_out(0xf4, 0x10) + g_out(0xf7, 0x81) + g_any(G_EXIT, 0, 4, 0x12345678) +
             g_any(G_EXIT, 2, 2, 0xffff) + g_any(G_EXIT, 1, 4, 1) + g_any(G_EXIT, 0, 8, 1) +
             g_in(0xf4) + kc(0xfe) + kc(0xd1) + kd(0x00) + kc(0xd1) + kd(0x03) + kc(0xf1) +
             g_any(G_KCMD, 0, 2, 0xfe))
    # Every device at every width, around its range.
    wide = b"".join(g_any(d, off, size, 0x8899aabbccddeeff, w)
                    for d in range(12) for off in (-2, -1, 0, 1, 3) for size in (1, 2, 4, 8)
                    for w in (False, True) if d != G_EXIT)
    return [pit, rtc, uart, i8042, acpi, ports, wide]


# -- the control API -----------------------------------------------------------------

# fuzz_api.c: u8 method, u8 path index (API_PATHS; len(API_PATHS) = the path from the
# input), u8 outcome (bit 0: the front end's action fails), u16 n, n bytes.
API_PATHS = ["/", "/vm/config", "/machine-config", "/version", "/trivisor", "/trivisor/stats",
             "/boot-source", "/drives/rootfs", "/drives/data", "/network-interfaces/eth0",
             "/trivisor/config", "/actions", "/vm", "/snapshot/create", "/snapshot/load"]
API_METHODS = ["GET", "PUT", "PATCH", "DELETE"]


def api_req(method, path, body=b"", fail=False):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    if path in API_PATHS:
        pi, data = API_PATHS.index(path), body
    else:
        pi, data = len(API_PATHS), path.encode() + b"\0" + body
    return bytes([API_METHODS.index(method), pi, int(fail)]) + struct.pack("<H", len(data)) + data


def api_seeds():
    """A Firecracker client's whole session (configure, start, pause, snapshot, resume,
    stop), a snapshot load, the refusals, and a --config-file document."""
    configure = (api_req("GET", "/") +
                 api_req("PUT", "/boot-source", {"kernel_image_path": "/k", "boot_args": "console=ttyS0",
                                                 "initrd_path": "/i"}) +
                 api_req("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}) +
                 api_req("PATCH", "/machine-config", {"mem_size_mib": 128}) +
                 api_req("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": "/r",
                                                   "is_root_device": True, "is_read_only": False}) +
                 api_req("PUT", "/drives/data", {"drive_id": "data", "path_on_host": "/d",
                                                 "is_root_device": False, "is_read_only": True,
                                                 "cache_type": "Unsafe", "io_engine": "Sync"}) +
                 api_req("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0",
                                                             "guest_mac": "52:54:00:01:02:03"}) +
                 api_req("PUT", "/trivisor/config", {"engine": "soft", "mode": "para",
                                                    "cpu_model": "portable"}) +
                 api_req("GET", "/vm/config") + api_req("GET", "/machine-config") +
                 api_req("PUT", "/actions", {"action_type": "InstanceStart"}) +
                 api_req("GET", "/trivisor") + api_req("GET", "/trivisor/stats") +
                 api_req("PATCH", "/vm", {"state": "Paused"}) +
                 api_req("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": "/s",
                                                     "mem_file_path": "/m"}) +
                 api_req("PATCH", "/vm", {"state": "Resumed"}) +
                 api_req("PUT", "/actions", {"action_type": "SendCtrlAltDel"}) +
                 api_req("PUT", "/actions", {"action_type": "Stop"}))
    load = (api_req("PUT", "/snapshot/load", {"snapshot_path": "/s", "mem_backend":
                                             {"backend_type": "File", "backend_path": "/m"},
                                             "resume_vm": False}) +
            api_req("PATCH", "/vm", {"state": "Resumed"}) + api_req("GET", "/"))
    refused = (api_req("PUT", "/machine-config", "{not json") +
               api_req("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 1 << 45}) +
               api_req("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64, "x": 1}) +
               api_req("PUT", "/drives/a%2f..", {"drive_id": "a"}) +
               api_req("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "trivisor_backend": "user"}) +
               api_req("PUT", "/network-interfaces/eth1", {"iface_id": "eth1", "host_dev_name": "t"}) +
               api_req("PUT", "/boot-source", {"kernel_image_path": "/k"}) +
               api_req("PUT", "/actions", {"action_type": "InstanceStart"}, fail=True) +
               api_req("PUT", "/snapshot/load", {"snapshot_path": "/s", "mem_file_path": "/m"}, fail=True) +
               api_req("DELETE", "/vm") + api_req("GET", "/nowhere") +
               api_req("PUT", "/actions", {"action_type": "InstanceStart"}) +
               api_req("PATCH", "/vm", {"state": "Paused"}, fail=True) +
               api_req("PUT", "/boot-source", {"kernel_image_path": "/k2"}))
    config = b"\xff" + json.dumps({
        "boot-source": {"kernel_image_path": "/k", "boot_args": "quiet"},
        "machine-config": {"vcpu_count": 4, "mem_size_mib": 512},
        "drives": [{"drive_id": "root", "path_on_host": "/r", "is_root_device": True}],
        "network-interfaces": [{"iface_id": "eth0", "trivisor_backend": "user"}],
        "trivisor": {"engine": "kvm", "mode": "hw", "guest": "full"}, "entropy": {}}).encode()
    return [configure, load, refused, config]


# -- the snapshot loader (fuzz_snapshot.c) ---------------------------------------------------

SNAP_NAMES = ["config", "cpuid", "cpu0", "uart", "rtc", "i8042", "acpi_pm", "debugcon",
              "fw_cfg", "pit", "pci", "chipset", "virtio-rng", "virtio-pci.virtio-rng",
              "virtio-net", "virtio-mmio.virtio-net", "virtio-blk0", "virtio-pci.virtio-blk0",
              "ahci", "e1000", "vga", "rom", "engine"]


SNAP_FORMAT = 2          # machine/snapshot.h: SNAPSHOT_FORMAT_VERSION


def s_str(text):
    b = text.encode()
    return struct.pack("<I", len(b)) + b


def s_config():
    """A kernel boot with a virtio disk, rng and user networking (snapshot.c's layout)."""
    return (s_str("/boot/vmlinuz") + s_str("") + s_str("console=ttyS0") + s_str("") +
            struct.pack("<QIBB", 256 << 20, 1, 1, 1) + s_str("/img/disk.raw") +
            bytes([0, 0, 0]) + bytes([1]) + bytes([1, 0]) + bytes.fromhex("525400123456") +
            bytes([1]) + struct.pack("<BIIHH", 0, 0, 0x0f02000a, 8080, 80) + s_str("") +
            bytes([0, 0, 0, 0, 0]))      # console, transport, boot, VGA, CPU model


def s_cpuid():
    entries = [(0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69),
               (1, 0, 0, 0x306a9, 0x800, 0x80202001, 0x178bfbff),
               (7, 0, 1, 0, 0x9c2, 0, 0)]
    return struct.pack("<I", len(entries)) + b"".join(
        struct.pack("<IIBIIII", *e) for e in entries)


def s_virtio(features, queues):
    """The virtio core's part of a transport's section: nothing negotiated yet."""
    out = struct.pack("<QQBBBB", features, 0, 0, 0, 0, len(queues))
    for qmax in queues:
        out += struct.pack("<HHBQQQHHHB", qmax, qmax, 0, 0, 0, 0, 0, 0, 0, 0)
    return out


SNAP_SECTIONS = {
    "config": s_config(),
    "cpuid": s_cpuid(),
    "uart": bytes([1, 3, 8, 0xa5, 0xc1, 0x0c, 0, 0, 0xb0, 1]) + struct.pack("<I", 3) + b"abc",
    "rtc": bytes([0x0b]) + bytes([0] * 10 + [0x26, 0x02] + [0] * 116) + struct.pack("<Q", 0) +
           struct.pack("<8I", 0, 0, 0, 1, 0, 100, 0, 0),
    "i8042": bytes([0x45] + [0] * 31) + bytes([3, 0, 0, 0, 1, 1, 0, 1, 0xfa, 0]),
    "acpi_pm": struct.pack("<HHHQ", 0, 0x0100, 0, 1000),
    "debugcon": struct.pack("<I", 3) + b"abc",
    "fw_cfg": struct.pack("<BHII", 1, 0, 2, 0),
    "virtio-rng": b"",
    "virtio-net": struct.pack("<I", 1) + struct.pack("<I", 60) + bytes(60),
    "virtio-mmio.virtio-net": struct.pack("<III", 0, 0, 0) +
        s_virtio(1 << 28 | 1 << 29 | 1 << 5 | 1 << 16 | 1 << 32, [256, 256]),
    "virtio-blk0": struct.pack("<Q", 64),
    "chipset": b"",
}


def snap_section(name, payload, xor=False):
    """A section of an assembled state file: its name, whether payload is XORed over
    the target's own valid payload of that name (b"" then means that payload as it is)."""
    return (bytes([SNAP_NAMES.index(name), int(xor)]) + struct.pack("<H", len(payload)) +
            payload)


def snap_assembled(names, damage=0, pos=0):
    return (bytes([0, damage]) + struct.pack("<H", pos) +
            b"".join(snap_section(n, SNAP_SECTIONS[n]) for n in names))


def snap_file(names):
    """A whole state file, framed and checksummed as snapshot.c writes it."""
    import zlib
    head = (b"TRIVSNAP" + struct.pack("<II", SNAP_FORMAT, 128) + b"fuzz".ljust(32, b"\0") +
            b"soft".ljust(16, b"\0") + struct.pack("<QII", 0x20000, 1, 0) + bytes(16) +
            struct.pack("<Q", 0)).ljust(128, b"\0")
    out = bytearray(head)
    for n in list(names) + ["end"]:
        p = SNAP_SECTIONS.get(n, b"")
        out += bytes([len(n)]) + n.encode() + struct.pack("<QI", len(p), zlib.crc32(p)) + p
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def snap_write(target, off, size, val):
    return struct.pack("<BHBI", target, off, {1: 0, 2: 1, 4: 2}[size], val)


def snapshot_seeds():
    legacy = ["uart", "rtc", "i8042", "acpi_pm", "debugcon", "fw_cfg"]
    virtio = ["virtio-rng", "virtio-net", "virtio-mmio.virtio-net", "virtio-blk0", "chipset"]
    seeds = [
        snap_assembled(["config", "cpuid"] + legacy),
        snap_assembled(virtio),
        snap_assembled(legacy + ["uart"]),                     # a section twice
        snap_assembled(legacy, damage=1, pos=300),             # cut short
        snap_assembled(legacy, damage=2, pos=1234),            # a bit flipped
        snap_assembled(["uart"], damage=3),                    # another format version
        bytes([0, 0, 0, 0, len(SNAP_NAMES)]) + bytes([5]) + b"gizmo" + bytes([0]) +
        struct.pack("<H", 2) + b"hi",
        # Every device at its own valid state, then with a byte changed here and there:
        # the loaders past their framing into their range checks.
        bytes([0, 0, 0, 0]) + b"".join(snap_section(n, b"", xor=True) for n in SNAP_NAMES
                                       if n not in ("rom", "engine")),
        bytes([0, 0, 0, 0]) + snap_section("pci", bytes(40) + b"\xff", xor=True) +
        snap_section("e1000", bytes(300) + b"\x01", xor=True) +
        snap_section("ahci", bytes(20) + b"\x40", xor=True) +
        snap_section("cpu0", bytes(16) + b"\x01", xor=True) +
        snap_section("vga", bytes(30) + b"\x07", xor=True) +
        snap_section("pit", bytes(12) + b"\x02", xor=True),
        bytes([1]) + snap_file(["config", "uart", "rtc"]),
        # Values out of range: a UART holding more than its buffer, an i8042 mid-command
        # that does not exist.
        bytes([0, 0, 0, 0]) + snap_section("uart", SNAP_SECTIONS["uart"][:10] +
                                           struct.pack("<I", 1 << 16)) +
        snap_section("i8042", SNAP_SECTIONS["i8042"][:33] + bytes([0x42]) +
                     SNAP_SECTIONS["i8042"][34:]),
        bytes([1]) + b"TRIVSNAP" + bytes(40),
    ]
    # The memory file: written, then read back whole, cut, flipped, a page zeroed.
    writes = struct.pack("<HB", 0x1000, 8) + b"guestram" + struct.pack("<HB", 0x7ff0, 4) + b"tail"
    for damage, pos in ((0, 0), (1, 5000), (2, 4096 * 8 + 8 * 8 + 3), (3, 1), (3, 3)):
        seeds.append(bytes([2, damage]) + struct.pack("<I", pos) + writes)
    # Round trips of state a guest sets: the UART, CMOS, an e1000 ring, AHCI running, the
    # VGA's registers, virtio-mmio status, time moving.
    seeds.append(bytes([3]) + snap_write(0, 0x3ff, 1, 0xa5) + snap_write(0, 0x3fb, 1, 0x83) +
                 snap_write(0, 0x3f8, 1, 0x03) + snap_write(0, 0x3fb, 1, 0x03) +
                 snap_write(0, 0x70, 1, 0x40) + snap_write(0, 0x71, 1, 0x5a) +
                 snap_write(0, 0x64, 1, 0xd2) + snap_write(0, 0x60, 1, 0x1c) +
                 snap_write(7, 0, 4, 1000000))
    seeds.append(bytes([3]) + snap_write(2, 0x2800, 4, 0x4000) + snap_write(2, 0x2808, 4, 4096) +
                 snap_write(2, 0x2818, 4, 10) + snap_write(2, 0x0100, 4, 2) +
                 snap_write(2, 0x3800, 4, 0x6000) + snap_write(2, 0x3808, 4, 1024) +
                 snap_write(2, 0x0400, 4, 2) + snap_write(2, 0x00d0, 4, 0x9f))
    seeds.append(bytes([3]) + snap_write(3, 0x04, 4, 0x80000002) + snap_write(3, 0x100, 4, 0x8000) +
                 snap_write(3, 0x108, 4, 0x9000) + snap_write(3, 0x118, 4, 0x11) +
                 snap_write(4, 0x04, 1, 0x01) + snap_write(4, 0x05, 1, 0x0f) +
                 snap_write(4, 0x08, 1, 0x10) + snap_write(4, 0x09, 1, 0x3f) +
                 snap_write(5, 0x070, 4, 1) + snap_write(5, 0x070, 4, 3) +
                 snap_write(1, 0x0004, 2, 7))
    return seeds


SEEDS = {
    "virtqueue": virtqueue_seeds,
    "blk": blk_seeds,
    "net": net_seeds,
    "console": console_seeds,
    "rng": rng_seeds,
    "mmio": mmio_seeds,
    "translate": translate_seeds,
    "e1000": e1000_seeds,
    "vga": vga_seeds,
    "ahci": ahci_seeds,
    "fw_cfg": fw_cfg_seeds,
    "boot": boot_seeds,
    "pci": pci_seeds,
    "irqchip": irqchip_seeds,
    "legacy": legacy_seeds,
    "api": api_seeds,
    "snapshot": snapshot_seeds,
}


def write(target: str, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    seeds = SEEDS[target]()
    for i, s in enumerate(seeds):
        (directory / f"seed-{i:02d}").write_bytes(s)
    return len(seeds)
