/* Port I/O: IN/OUT/INS/OUTS with REP (Intel SDM vol. 1 chapter 19, vol. 2 instruction
 * pages). Every access leaves the CPU as an engine exit (sys.io), which vcpu_run returns
 * to the core as EXIT_IO, exactly as the kvm engine does. OUT/OUTS complete before the
 * exit; IN/INS complete in soft_io_complete() once the core has filled in the data.
 * A string operation moves at most one page of memory per exit; RCX/RSI/RDI then
 * describe the finished part and the instruction restarts for the rest. */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/sys/ops_sys.h"

/* Protection: CPL > IOPL (or virtual-8086 mode) consults the TSS I/O bitmap. */
static int io_allowed(struct soft_cpu *c, unsigned port, unsigned size)
{
	const struct soft_sys *y = &c->sys;
	unsigned iopl = (unsigned)((c->rflags & FL_IOPL) >> 12);
	if (!(y->cr0 & CR0_PE) || (c->cpl <= iopl && !(c->rflags & FL_VM)))
		return SOFT_OK;
	unsigned type = SEG_ATTR_TYPE(y->tr.attr);
	uint64_t base, bits;
	if (y->tr.unusable || (type != 9 && type != 11) || y->tr.limit < 0x67)
		return raise_exc(c, VEC_GP, true, 0);
	if (soft_sys_read(c, y->tr.base + 0x66, 2, &base))
		return SOFT_EXC;
	uint64_t at = base + port / 8;
	if (at + 1 > y->tr.limit)
		return raise_exc(c, VEC_GP, true, 0);
	if (soft_sys_read(c, y->tr.base + at, 2, &bits))
		return SOFT_EXC;
	if ((bits >> (port & 7)) & ((1u << size) - 1))
		return raise_exc(c, VEC_GP, true, 0);
	return SOFT_OK;
}

static int io_exit(struct soft_cpu *c, unsigned port, unsigned size, bool write, uint32_t count)
{
	struct soft_io_exit *io = &c->sys.io;
	io->port = (uint16_t)port;
	io->size = (uint8_t)size;
	io->is_write = write;
	io->count = count;
	c->sys.exit_kind = SOFT_EXIT_IO;
	return SOFT_EXIT;
}

/* How many elements of a string I/O fit one exit: the REP count, the buffer, and the
 * rest of the memory operand's page. */
static uint32_t chunk(struct soft_cpu *c, const struct sinsn *i, uint64_t la, unsigned size)
{
	uint64_t n = i->rep ? (c->gpr[R_RCX] & sz_mask(i->adsz)) : 1;
	uint64_t max = SOFT_IO_BUF / size;
	if (c->rflags & FL_DF) {
		uint64_t room = (la & 0xfff) / size + 1;
		if (max > room)
			max = room;
	} else {
		uint64_t room = (0x1000 - (la & 0xfff)) / size;
		if (max > (room ? room : 1))
			max = room ? room : 1;
	}
	return (uint32_t)(n < max ? n : max);
}

static uint64_t str_la(struct soft_cpu *c, unsigned seg, uint64_t off)
{
	return (off + c->seg_base[seg]) & c->sys.la_mask;
}

int h_io(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned port = i->imm2 ? (unsigned)(c->gpr[R_RDX] & 0xffff) : (unsigned)(i->imm & 0xff);
	unsigned size = i->opsz;
	struct soft_io_exit *io = &c->sys.io;
	uint64_t amask = sz_mask(i->adsz);
	int64_t step = (c->rflags & FL_DF) ? -(int64_t)size : (int64_t)size;

	if (io_allowed(c, port, size))
		return SOFT_EXC;
	switch (i->op) {
	case IO_OUT:
		store_n(io->data, size, c->gpr[R_RAX]);
		c->rip = c->next_rip;
		return io_exit(c, port, size, true, 1);
	case IO_IN:
		io->string = 0;
		io->next_rip = c->next_rip;
		c->sys.in_pending = true;
		return io_exit(c, port, size, false, 1);
	case IO_OUTS: {
		if (i->rep && (c->gpr[R_RCX] & amask) == 0)
			return SOFT_OK;
		uint64_t si = c->gpr[R_RSI] & amask;
		uint32_t n = chunk(c, i, str_la(c, i->seg, si), size), k;
		for (k = 0; k < n; k++) {
			uint64_t off = (si + (uint64_t)step * k) & amask, v;
			if (((c->sys.seg_check >> i->seg) & 1) && soft_seg_check(c, i->seg, off, size, false))
				break;
			if (mem_read(c, str_la(c, i->seg, off), size, &v, i->seg == S_SS ? MF_SS : 0))
				break;
			store_n(io->data + k * size, size, v);
		}
		if (k == 0)
			return SOFT_EXC;
		reg_set(c, R_RSI, i->adsz, si + (uint64_t)step * k);
		if (i->rep)
			reg_set(c, R_RCX, i->adsz, (c->gpr[R_RCX] - k) & amask);
		if (!i->rep || (c->gpr[R_RCX] & amask) == 0)
			c->rip = c->next_rip; /* else: restart for the rest (or the fault) */
		return io_exit(c, port, size, true, k);
	}
	default: { /* INS */
		if (i->rep && (c->gpr[R_RCX] & amask) == 0)
			return SOFT_OK;
		uint64_t di = c->gpr[R_RDI] & amask, v;
		uint32_t n = chunk(c, i, str_la(c, S_ES, di), size);
		/* Check the destination (writable, mapped) before the device sees a read. */
		for (uint32_t k = 0; k < n; k += n - 1 ? n - 1 : 1) {
			uint64_t off = (di + (uint64_t)step * k) & amask;
			if (((c->sys.seg_check >> S_ES) & 1) && soft_seg_check(c, S_ES, off, size, true))
				return SOFT_EXC;
			if (mem_read(c, str_la(c, S_ES, off), size, &v, MF_RMW))
				return SOFT_EXC;
			if (n == 1)
				break;
		}
		io->string = i->rep ? 2 : 1;
		io->adsz = i->adsz;
		io->next_rip = c->next_rip;
		c->sys.in_pending = true;
		return io_exit(c, port, size, false, n);
	}
	}
}

void soft_io_complete(struct soft_cpu *c)
{
	struct soft_io_exit *io = &c->sys.io;
	if (!c->sys.in_pending)
		return;
	c->sys.in_pending = false;
	unsigned size = io->size;
	if (!io->string) {
		reg_set(c, R_RAX, size == 1 ? 1 : size, load_n(io->data, size));
		c->rip = io->next_rip;
		return;
	}
	bool rep = io->string == 2;
	uint64_t amask = sz_mask(io->adsz);
	int64_t step = (c->rflags & FL_DF) ? -(int64_t)size : (int64_t)size;
	uint64_t di = c->gpr[R_RDI] & amask;
	for (uint32_t k = 0; k < io->count; k++) {
		uint64_t off = (di + (uint64_t)step * k) & amask;
		/* Checked before the exit; a failure here can only come from another vCPU
		 * changing the page tables meanwhile: the data is dropped. */
		if (mem_write(c, str_la(c, S_ES, off), size, load_n(io->data + k * size, size), 0))
			break;
	}
	reg_set(c, R_RDI, io->adsz, di + (uint64_t)step * io->count);
	if (rep)
		reg_set(c, R_RCX, io->adsz, (c->gpr[R_RCX] - io->count) & amask);
	if (!rep || (c->gpr[R_RCX] & amask) == 0)
		c->rip = io->next_rip;
}
