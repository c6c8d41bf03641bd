/* Software CPU: the lazy flags' fast paths agree with the full computation. After each
 * flag-setting operation the CPU keeps its operands and result (cpu.h), and answers
 * SETcc/Jcc (cond()) and ADC/SBB/RCL/RCR/INC/DEC (get_cf()) from them directly; PUSHF
 * computes all six flags (soft_flags_compute), which the differential test checks
 * against the host CPU one instruction at a time. Here each producer runs followed by
 * SETcc, PUSHF and ADC, so the fast answers are compared with the full flags, for every
 * condition, operand size and a spread of operands and shift counts. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "flat_cpu.h"

#define RAM (1u << 16)
#define CODE 0x1000

#define CF 0x001u
#define PF 0x004u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u

/* The condition cc (Jcc/SETcc encoding order) from flags f, as the SDM tables give it. */
static int cond_of(uint64_t f, unsigned cc)
{
	bool cf = f & CF, pf = f & PF, zf = f & ZF, sf = f & SF, of = f & OF, r;
	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return r ^ (cc & 1);
}

struct producer {
	const char *name;
	uint8_t len;
	uint8_t code[4];
};

/* rax is the destination, rbx the source, cl the count. */
static const struct producer producers[] = {
	{ "add rax, rbx", 3, { 0x48, 0x01, 0xd8 } },  { "add al, bl", 2, { 0x00, 0xd8 } },
	{ "adc rax, rbx", 3, { 0x48, 0x11, 0xd8 } },  { "adc ax, bx", 3, { 0x66, 0x11, 0xd8 } },
	{ "sub eax, ebx", 2, { 0x29, 0xd8 } },        { "cmp rax, rbx", 3, { 0x48, 0x39, 0xd8 } },
	{ "sbb al, bl", 2, { 0x18, 0xd8 } },          { "sbb rax, rbx", 3, { 0x48, 0x19, 0xd8 } },
	{ "and rax, rbx", 3, { 0x48, 0x21, 0xd8 } },  { "xor eax, ebx", 2, { 0x31, 0xd8 } },
	{ "inc eax", 2, { 0xff, 0xc0 } },             { "dec al", 2, { 0xfe, 0xc8 } },
	{ "neg rax", 3, { 0x48, 0xf7, 0xd8 } },
	{ "shl rax, cl", 3, { 0x48, 0xd3, 0xe0 } },   { "shl eax, cl", 2, { 0xd3, 0xe0 } },
	{ "shl ax, cl", 3, { 0x66, 0xd3, 0xe0 } },    { "shl al, cl", 2, { 0xd2, 0xe0 } },
	{ "shr rax, cl", 3, { 0x48, 0xd3, 0xe8 } },   { "shr eax, cl", 2, { 0xd3, 0xe8 } },
	{ "shr al, cl", 2, { 0xd2, 0xe8 } },          { "sar rax, cl", 3, { 0x48, 0xd3, 0xf8 } },
	{ "sar ax, cl", 3, { 0x66, 0xd3, 0xf8 } },    { "sar al, cl", 2, { 0xd2, 0xf8 } },
	{ "shl rax, 1", 3, { 0x48, 0xd1, 0xe0 } },    { "sar eax, 1", 2, { 0xd1, 0xf8 } },
};

static const uint64_t values[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
	0x8000000000000000ull, 0x7fffffffffffffffull, 0xffffffffffffffffull,
	0x123456789abcdef0ull, 0xf0e1d2c3b4a59687ull,
};
static const uint64_t counts[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63 };

int main(void)
{
	struct flat_cpu fc;
	if (flat_cpu_new(&fc, RAM))
		return 1;
	uint8_t *ram = fc.ram;
	struct soft_cpu *c = fc.c;
	unsigned mismatches = 0;

	for (size_t p = 0; p < sizeof(producers) / sizeof(producers[0]); p++) {
		for (unsigned cc = 0; cc < 16; cc++) {
			/* stc or clc ; producer ; setcc dl ; pushfq ; pop rsi ; adc rdi, 0 ; int3 */
			uint8_t code[32];
			size_t n = 1;
			memcpy(code + n, producers[p].code, producers[p].len);
			n += producers[p].len;
			const uint8_t tail[] = { 0x0f, (uint8_t)(0x90 + cc), 0xc2, 0x9c, 0x5e,
			                         0x48, 0x83, 0xd7, 0x00, 0xcc };
			memcpy(code + n, tail, sizeof(tail));
			n += sizeof(tail);
			for (unsigned cin = 0; cin < 2; cin++) {
				code[0] = cin ? 0xf9 : 0xf8;
				memcpy(ram + CODE, code, n);
				soft_code_invalidate(&c->cache, CODE, n);
				for (size_t a = 0; a < sizeof(values) / sizeof(values[0]); a++) {
					for (size_t b = 0; b < sizeof(values) / sizeof(values[0]); b++) {
						c->rip = CODE;
						c->gpr[R_RSP] = 0x8000;
						c->gpr[R_RAX] = values[a];
						c->gpr[R_RBX] = values[b];
						c->gpr[R_RCX] = counts[b % (sizeof(counts) / sizeof(counts[0]))];
						c->gpr[R_RDX] = 0x55;
						c->gpr[R_RDI] = 0;
						int r = soft_run(c, 64);
						uint64_t f = c->gpr[R_RSI];
						bool ok = r == SOFT_RUN_EXCEPTION && c->fault.vector == 3 &&
						          (c->gpr[R_RDX] & 0xff) == (uint64_t)cond_of(f, cc) &&
						          c->gpr[R_RDI] == (f & CF);
						if (!ok && mismatches++ < 10)
							fprintf(stderr, "%s, cc %u, CF in %u, rax %#llx, rbx %#llx: "
							        "setcc %llu, adc %llu, flags %#llx\n",
							        producers[p].name, cc, cin,
							        (unsigned long long)values[a],
							        (unsigned long long)values[b],
							        (unsigned long long)(c->gpr[R_RDX] & 0xff),
							        (unsigned long long)c->gpr[R_RDI],
							        (unsigned long long)f);
						CHECK(ok);
					}
				}
			}
		}
	}
	flat_cpu_free(&fc);
	return check_done();
}
