/* Software CPU: which exception an x87 / MMX / SSE instruction raises for each setting of
 * CR0.EM, CR0.TS, CR0.MP, CR4.OSFXSR and CR4.OSXMMEXCPT, and with a pending unmasked x87
 * exception (Intel SDM vol. 3A 2.5 table 2-2, 13.1 table 13-1, 22.25.3 tables 22-4 to
 * 22-8). The differential tester only sees the user-mode setting (EM = TS = 0, OSFXSR =
 * OSXMMEXCPT = 1), so the other combinations are checked here: each instruction is run
 * alone, followed by INT3, and the vector it stops with is compared (3: it completed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flat_cpu.h"

#define RAM (1u << 16)
#define DATA 0x8000u   /* RAX points here: 16-byte aligned scratch memory */


/* The instructions, one per column of the expectation table below. */
enum { I_FLD1, I_FWAIT, I_FNSTSW, I_PADDB, I_PSHUFW, I_EMMS, I_ADDPS, I_CVTPI2PS_MM,
       I_CVTPI2PS_M64, I_LDMXCSR, I_FXSAVE, I_MOVNTI, I_SFENCE, I_DIVSS, I__COUNT };

static const struct { const char *name; uint8_t len, code[8]; } insns[I__COUNT] = {
	[I_FLD1] = { "fld1", 2, { 0xd9, 0xe8 } },
	[I_FWAIT] = { "fwait", 1, { 0x9b } },
	[I_FNSTSW] = { "fnstsw ax", 2, { 0xdf, 0xe0 } },
	[I_PADDB] = { "paddb mm0, mm1", 3, { 0x0f, 0xfc, 0xc1 } },
	[I_PSHUFW] = { "pshufw mm0, mm1, 0", 4, { 0x0f, 0x70, 0xc1, 0x00 } },
	[I_EMMS] = { "emms", 2, { 0x0f, 0x77 } },
	[I_ADDPS] = { "addps xmm0, xmm1", 3, { 0x0f, 0x58, 0xc1 } },
	[I_CVTPI2PS_MM] = { "cvtpi2ps xmm0, mm1", 3, { 0x0f, 0x2a, 0xc1 } },
	[I_CVTPI2PS_M64] = { "cvtpi2ps xmm0, [rax]", 3, { 0x0f, 0x2a, 0x00 } },
	[I_LDMXCSR] = { "ldmxcsr [rax]", 3, { 0x0f, 0xae, 0x10 } },
	[I_FXSAVE] = { "fxsave [rax]", 3, { 0x0f, 0xae, 0x00 } },
	[I_MOVNTI] = { "movnti [rax], ecx", 3, { 0x0f, 0xc3, 0x08 } },
	[I_SFENCE] = { "sfence", 3, { 0x0f, 0xae, 0xf8 } },
	[I_DIVSS] = { "divss xmm0, xmm1 (1/0, ZE unmasked)", 4, { 0xf3, 0x0f, 0x5e, 0xc1 } },
};

#define EM CR0_EM
#define TS CR0_TS
#define MP CR0_MP
#define FXSR CR4_OSFXSR
#define XMMX CR4_OSXMMEXCPT

/* Vector per instruction for one setting; 3 = completed (INT3), 6 #UD, 7 #NM, 16 #MF,
 * 19 #XM. */
static const struct {
	const char *name;
	uint64_t cr0, cr4;
	bool pending;            /* FSW.IE set with FCW.IM clear */
	uint8_t want[I__COUNT];
} settings[] = {
	/*                                      fld1 fwait fnstsw paddb pshufw emms addps cvt.mm cvt.m ldmx fxsave movnti sfence divss */
	{ "user mode", MP, FXSR | XMMX, false, { 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 19 } },
	{ "TS, MP", TS | MP, FXSR | XMMX, false, { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 7 } },
	{ "TS, no MP", TS, FXSR | XMMX, false, { 7, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 7 } },
	{ "EM", EM | MP, FXSR | XMMX, false, { 7, 3, 7, 6, 6, 6, 6, 6, 6, 6, 7, 3, 3, 6 } },
	{ "EM, TS, MP", EM | TS | MP, FXSR | XMMX, false, { 7, 7, 7, 6, 6, 6, 6, 6, 6, 6, 7, 3, 3, 6 } },
	{ "no OSFXSR", MP, 0, false, { 3, 3, 3, 3, 3, 3, 6, 6, 6, 6, 3, 3, 3, 6 } },
	{ "no OSXMMEXCPT", MP, FXSR, false, { 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 6 } },
	{ "x87 exception pending", MP, FXSR | XMMX, true, { 16, 16, 3, 16, 16, 16, 3, 16, 3, 3, 3, 3, 3, 19 } },
	{ "pending, TS", TS | MP, FXSR | XMMX, true, { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 7 } },
};

int main(void)
{
	struct flat_cpu fc;
	if (flat_cpu_new(&fc, RAM))
		return 1;
	uint8_t *ram = fc.ram;
	struct soft_cpu *c = fc.c;
	int failures = 0;
	for (unsigned k = 0; k < I__COUNT; k++) {
		uint8_t *p = ram + 0x1000 + 0x20 * k;
		memset(p, 0xcc, 0x20);
		memcpy(p, insns[k].code, insns[k].len);
	}
	for (unsigned s = 0; s < sizeof(settings) / sizeof(settings[0]); s++) {
		for (unsigned k = 0; k < I__COUNT; k++) {
			soft_fpu_reset(&c->fpu);
			if (settings[s].pending) {
				c->fpu.fcw = 0x37e;      /* IM clear */
				c->fpu.fsw = 0x0001;     /* IE */
			}
			if (k == I_DIVSS) {
				c->fpu.mxcsr = MXCSR_DEFAULT & ~0x200u; /* ZM clear */
				c->fpu.xmm[0].f[0] = 1.0f;
				c->fpu.xmm[1].f[0] = 0.0f;
			}
			memset(ram + DATA, 0, 512);
			memcpy(ram + DATA, &(uint32_t){ MXCSR_DEFAULT }, 4); /* for LDMXCSR */
			c->sys.cr0 = (c->sys.cr0 & ~(EM | TS | MP)) | settings[s].cr0;
			c->sys.cr4 = (c->sys.cr4 & ~(FXSR | XMMX)) | settings[s].cr4;
			c->gpr[R_RAX] = DATA;
			c->gpr[R_RSP] = 0x7000;
			c->rip = 0x1000 + 0x20 * k;
			int r = soft_run(c, 100);
			unsigned got = r == SOFT_RUN_EXCEPTION ? c->fault.vector : 0xff;
			if (got != settings[s].want[k]) {
				failures++;
				printf("FAIL %s with %s: vector %u, want %u\n", insns[k].name, settings[s].name,
				       got, settings[s].want[k]);
			}
			/* A gated instruction changes nothing: the RIP stays on it. */
			if (got != 3 && c->rip != 0x1000 + 0x20 * k) {
				failures++;
				printf("FAIL %s with %s: rip moved on a fault\n", insns[k].name, settings[s].name);
			}
		}
	}
	flat_cpu_free(&fc);
	printf("test_soft_fpgate: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
