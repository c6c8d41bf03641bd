/* Differential tester: random instructions on the host CPU (in a child process) and on
 * trivisor's software CPU from the same state; every register, RIP, the defined flags,
 * the exception (vector, error code, CR2) and the data memory must match. Where the
 * manuals leave a detail to the implementation and host CPUs differ from the soft CPU
 * in it (fault order, partial stores of a faulting instruction: undo_vendor()), the
 * case is accepted only if that one known difference explains it; such cases are
 * counted by kind in the summary.
 *
 *   difftest [--seed S] [--count N] [--start I] [--max-report K] [--tier interpret|translate]
 *            [--perturb I | --perturb-all I]
 *
 * --start I runs the N cases from case I on, as a run from case 0 numbers them (the
 * cases before it are generated, not run): a divergence a long run reported is rerun
 * alone with --start I --count 1.
 *
 * A native run whose outcome differs from the soft CPU's (or that died) runs again
 * before it counts: the host may have disturbed it (native_rerun). Such runs are listed
 * and counted apart. --perturb I flips RFLAGS.NT in case I's first native result, as a
 * disturbing host might, --perturb-all I in all of them, as a real divergence would: the
 * tests of that rerun.
 *
 * Exit status 0 if there was no divergence. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <Zydis/Zydis.h>

#include "core/cpu_state.h"
#include "dt.h"
#include "engine/soft/decode/lower.h"
#include "engine/soft/soft.h"

/* ---- the software CPU's view of the test address space ---- */

struct flat {
	uint8_t code[4096];
	uint8_t data[DT_DATA_SIZE];
};

/* Is an access to la refused in the test address space? Then *err is its #PF error code. */
static bool flat_fault(uint64_t la, enum soft_acc acc, unsigned cpl, uint32_t *err)
{
	*err = (cpl == 3 ? 4 : 0) | (acc == SOFT_ACC_WRITE ? 2 : 0) | (acc == SOFT_ACC_FETCH ? 0x10 : 0);
	if (la - DT_CODE < 4096) {
		*err |= 1;
		return acc == SOFT_ACC_WRITE;
	}
	if (la - DT_DATA < DT_DATA_SIZE) {
		*err |= 1;
		return acc == SOFT_ACC_FETCH; /* NX */
	}
	if (la >= 0xffff800000000000ull)
		*err |= 1; /* like Linux: the upper half is mapped, supervisor only */
	return true;
}

static int flat_translate(void *opaque, uint64_t la, enum soft_acc acc, unsigned cpl,
                          uint64_t *pa, uint8_t **host, struct soft_fault *f)
{
	struct flat *m = opaque;
	uint32_t err;
	if (flat_fault(la, acc, cpl, &err)) {
		f->vector = 14;
		f->has_err = true;
		f->err = err;
		f->cr2 = la;
		return -1;
	}
	*host = la - DT_CODE < 4096 ? m->code + (la - DT_CODE) : m->data + (la - DT_DATA);
	*pa = la;
	return 0;
}

static void flat_io_read(void *opaque, uint64_t pa, void *dst, unsigned len)
{
	memset(dst, 0xff, len);
}

static void flat_io_write(void *opaque, uint64_t pa, const void *src, unsigned len)
{
}

static const struct soft_mem_ops flat_ops = { flat_translate, flat_io_read, flat_io_write };

/* ---- flags the SDM leaves undefined, per instruction and input ---- */

#define CF 0x001ull
#define PF 0x004ull
#define AF 0x010ull
#define ZF 0x040ull
#define SF 0x080ull
#define OF 0x800ull

static uint64_t undefined_flags(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                                const struct dt_regs *in)
{
	unsigned bits = zi->operand_width;
	uint64_t cnt = 1;
	bool has_cnt = false;
	for (unsigned k = 1; k < zi->operand_count_visible; k++) {
		if (zo[k].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			cnt = zo[k].imm.value.u;
			has_cnt = true;
		} else if (zo[k].type == ZYDIS_OPERAND_TYPE_REGISTER && zo[k].reg.value == ZYDIS_REGISTER_CL) {
			cnt = in->gpr[R_RCX];
			has_cnt = true;
		}
	}
	(void)has_cnt;
	cnt &= bits == 64 ? 63 : 31;

	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_MUL:
	case ZYDIS_MNEMONIC_IMUL:
		return SF | ZF | AF | PF;
	case ZYDIS_MNEMONIC_DIV:
	case ZYDIS_MNEMONIC_IDIV:
		return CF | OF | SF | ZF | AF | PF;
	case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_XOR:
	case ZYDIS_MNEMONIC_TEST:
		return AF;
	case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SAR: {
		if (cnt == 0)
			return 0;
		uint64_t u = AF;
		if (cnt != 1)
			u |= OF;
		if (zi->mnemonic != ZYDIS_MNEMONIC_SAR && cnt >= bits)
			u |= CF;
		return u;
	}
	case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR:
	case ZYDIS_MNEMONIC_RCL: case ZYDIS_MNEMONIC_RCR:
		return cnt == 1 || cnt == 0 ? 0 : OF;
	case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
		if (cnt == 0)
			return 0;
		if (cnt > bits)
			return CF | OF | SF | ZF | AF | PF;
		return cnt == 1 ? AF : AF | OF;
	case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR:
		return CF | OF | SF | AF | PF;
	case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTC:
		return OF | SF | AF | PF;
	case ZYDIS_MNEMONIC_LZCNT: case ZYDIS_MNEMONIC_TZCNT:
		return OF | SF | AF | PF;
	default:
		return 0;
	}
}

/* ---- running and comparing ---- */

struct outcome {
	struct dt_regs r;
	struct dt_fpu f;
	uint32_t vector, err;
	uint64_t cr2;
	const uint8_t *mem;
};

static void run_soft(struct soft_cpu *cpu, struct flat *m, const struct dt_case *c, struct outcome *o)
{
	memset(m->code, 0xcc, sizeof(m->code));
	memcpy(m->code + (DT_INSN - DT_CODE), c->code, c->len);
	memcpy(m->data, c->mem, DT_DATA_SIZE);
	soft_code_invalidate(&cpu->cache, DT_CODE, 4096);
	memcpy(cpu->gpr, c->in.gpr, sizeof(cpu->gpr));
	cpu->rip = c->in.rip;
	soft_set_rflags(cpu, c->in.rflags);
	cpu->cpl = 3;
	/* Linux user mode: x87 and SSE enabled (CR4.OSFXSR, OSXMMEXCPT), no lazy-FPU trap. */
	cpu->sys.cr0 = (cpu->sys.cr0 | CR0_MP) & ~(CR0_EM | CR0_TS);
	cpu->sys.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
	soft_fpu_fxrstor(&cpu->fpu, c->fin.fx, true);
	int r = soft_run(cpu, 1000000);
	soft_fpu_fxsave(&cpu->fpu, o->f.fx, true);
	memcpy(o->r.gpr, cpu->gpr, sizeof(cpu->gpr));
	o->r.rip = cpu->rip;
	o->r.rflags = soft_get_rflags(cpu);
	o->mem = m->data;
	if (r == SOFT_RUN_EXCEPTION) {
		o->vector = cpu->fault.vector;
		o->err = cpu->fault.has_err ? cpu->fault.err : 0;
		o->cr2 = cpu->fault.cr2;
	} else {
		o->vector = 0xffff; /* did not stop */
		o->err = 0;
		o->cr2 = 0;
	}
}

static const char *reg_names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

/* Decode a case's instruction from a buffer padded with int3, as both CPUs see it. */
static bool decode_case(const ZydisDecoder *dec, const struct dt_case *c,
                        ZydisDecodedInstruction *zi, ZydisDecodedOperand *zo)
{
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	memset(buf, 0xcc, sizeof(buf));
	memcpy(buf, c->code, c->len);
	if (ZYAN_FAILED(ZydisDecoderDecodeFull(dec, buf, sizeof(buf), zi, zo)) || zi->length != c->len)
		return false;
	soft_zydis_fixup(zi, zo);
	return true;
}

static void disasm(const struct dt_case *c, char *buf, size_t len)
{
	ZydisDecoder dec;
	ZydisFormatter fmt;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	if (!decode_case(&dec, c, &zi, zo) ||
	    ZYAN_FAILED(ZydisFormatterFormatInstruction(&fmt, &zi, zo, zi.operand_count_visible,
	                                                buf, len, DT_INSN, NULL)))
		snprintf(buf, len, "(invalid)");
}

/* The compared parts of the FXSAVE image: FCW, FSW, abridged FTW, MXCSR, ST0-7, XMM0-15.
 * Not compared: FOP, FIP, FDP (the soft CPU does not track them), MXCSR_MASK (the host's
 * may include AMD's misaligned-SSE bit), reserved bytes. */
static const struct { const char *name; unsigned off, len; } fp_fields[] = {
	{ "fcw", 0, 2 }, { "fsw", 2, 2 }, { "ftw", 4, 1 }, { "mxcsr", 24, 4 },
	{ "st0", 32, 10 }, { "st1", 48, 10 }, { "st2", 64, 10 }, { "st3", 80, 10 },
	{ "st4", 96, 10 }, { "st5", 112, 10 }, { "st6", 128, 10 }, { "st7", 144, 10 },
	{ "xmm0", 160, 16 }, { "xmm1", 176, 16 }, { "xmm2", 192, 16 }, { "xmm3", 208, 16 },
	{ "xmm4", 224, 16 }, { "xmm5", 240, 16 }, { "xmm6", 256, 16 }, { "xmm7", 272, 16 },
	{ "xmm8", 288, 16 }, { "xmm9", 304, 16 }, { "xmm10", 320, 16 }, { "xmm11", 336, 16 },
	{ "xmm12", 352, 16 }, { "xmm13", 368, 16 }, { "xmm14", 384, 16 }, { "xmm15", 400, 16 },
};
#define NFP_FIELDS (sizeof(fp_fields) / sizeof(fp_fields[0]))

static void report_fp(const struct dt_case *c, const struct outcome *nat, const struct outcome *sw);

static void report(uint64_t idx, const struct dt_case *c, const struct outcome *nat,
                   const struct outcome *sw, uint64_t fmask, const char *why)
{
	char text[256];
	disasm(c, text, sizeof(text));
	printf("DIVERGENCE case %" PRIu64 " (%s): ", idx, why);
	for (unsigned k = 0; k < c->len; k++)
		printf("%02x", c->code[k]);
	printf("  %s\n", text);
	printf("  %-6s %-18s %-18s %-18s\n", "", "input", "native", "soft");
	for (int k = 0; k < 16; k++)
		printf("  %-6s %016" PRIx64 "   %016" PRIx64 "   %016" PRIx64 "%s\n", reg_names[k],
		       c->in.gpr[k], nat->r.gpr[k], sw->r.gpr[k], nat->r.gpr[k] != sw->r.gpr[k] ? "  <--" : "");
	printf("  %-6s %016" PRIx64 "   %016" PRIx64 "   %016" PRIx64 "%s\n", "rip", c->in.rip,
	       nat->r.rip, sw->r.rip, nat->r.rip != sw->r.rip ? "  <--" : "");
	printf("  %-6s %016" PRIx64 "   %016" PRIx64 "   %016" PRIx64 "  (compared 0x%" PRIx64 ")%s\n",
	       "rflags", c->in.rflags, nat->r.rflags, sw->r.rflags, fmask,
	       (nat->r.rflags ^ sw->r.rflags) & fmask ? "  <--" : "");
	printf("  %-6s %18s   vec %2u err %4x cr2 %" PRIx64 "   vec %2u err %4x cr2 %" PRIx64 "\n",
	       "exc", "", nat->vector, nat->err, nat->cr2, sw->vector, sw->err, sw->cr2);
	report_fp(c, nat, sw);
	for (unsigned k = 0; k < DT_DATA_SIZE; k++)
		if (nat->mem[k] != sw->mem[k]) {
			printf("  mem first diff at %#" PRIx64 ": native %02x soft %02x (input %02x)\n",
			       DT_DATA + k, nat->mem[k], sw->mem[k], c->mem[k]);
			break;
		}
}

static bool in_test_space(uint64_t la)
{
	return la - DT_CODE < 4096 || la - (DT_DATA - 4096) < DT_DATA_SIZE + 8192 ||
	       la >= 0xffff800000000000ull;
}

/* Is the page at la mapped in this process (and so, after fork, in the child)? Under
 * sanitizers the host has shadow memory at addresses the soft CPU treats as unmapped. */
static bool host_mapped(uint64_t la)
{
	unsigned char v;
	return mincore((void *)(uintptr_t)(la & ~0xfffull), 4096, &v) == 0;
}

/* Linear address of a memory operand from the case's input registers (no segment base). */
static uint64_t case_ea(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *mo,
                        const struct dt_case *c)
{
	uint64_t a = mo->mem.disp.has_displacement ? (uint64_t)mo->mem.disp.value : 0;
	ZydisRegister regs[2] = { mo->mem.base, mo->mem.index };
	for (unsigned k = 0; k < 2; k++) {
		ZydisRegister r = regs[k];
		uint64_t v;
		if (r == ZYDIS_REGISTER_NONE)
			continue;
		if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP)
			v = DT_INSN + zi->length;
		else
			v = c->in.gpr[ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r) -
			              ZYDIS_REGISTER_RAX];
		a += k ? v * (mo->mem.scale ? mo->mem.scale : 1) : v;
	}
	return zi->address_width == 32 ? (uint32_t)a : a;
}

/* Memory equal, except (for FXSAVE) the MXCSR_MASK field: the host's includes AMD's
 * misaligned-SSE bit (17), which the soft CPU does not implement. */
static bool mem_equal(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                      const struct dt_case *c, const uint8_t *a, const uint8_t *b)
{
	if (zi && (zi->mnemonic == ZYDIS_MNEMONIC_FXSAVE || zi->mnemonic == ZYDIS_MNEMONIC_FXSAVE64)) {
		unsigned m = 0;
		while (m + 1 < zi->operand_count && zo[m].type != ZYDIS_OPERAND_TYPE_MEMORY)
			m++;
		uint64_t la = case_ea(zi, &zo[m], c) + 28;
		if (la - DT_DATA <= DT_DATA_SIZE - 4) {
			size_t off = la - DT_DATA;
			return !memcmp(a, b, off) && !memcmp(a + off + 4, b + off + 4, DT_DATA_SIZE - off - 4);
		}
	}
	return !memcmp(a, b, DT_DATA_SIZE);
}

static bool fp_multipart(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo)
{
	for (unsigned k = 0; k < zi->operand_count; k++)
		if (zo[k].type == ZYDIS_OPERAND_TYPE_MEMORY && zo[k].size > 64 &&
		    (zi->meta.category == ZYDIS_CATEGORY_X87_ALU || zi->meta.isa_set == ZYDIS_ISA_SET_X87 ||
		     zi->mnemonic == ZYDIS_MNEMONIC_FXSAVE || zi->mnemonic == ZYDIS_MNEMONIC_FXSAVE64 ||
		     zi->mnemonic == ZYDIS_MNEMONIC_FXRSTOR || zi->mnemonic == ZYDIS_MNEMONIC_FXRSTOR64))
			return true;
	return false;
}

/* Differences a manual leaves to the implementation, accepted narrowly and counted. */
enum accept {
	ACC_NONE,
	ACC_SKIPPED,        /* an address the host maps (vsyscall page included): not compared */
	ACC_CALL_ORDER,
	ACC_CALL_PUSHED,
	ACC_FP_PF_ADDR,
	ACC_M80_PARTIAL,
	ACC_X87_NO_STORE,
	ACC_MASKMOV_PF,
	ACC_MMX_TOP,
	ACC_REP_UNTOUCHED,
	ACC_PAUSE_REXB,
	ACC_N
};

static const char *const accept_text[ACC_N] = {
	[ACC_CALL_ORDER] = "CALL: the push's fault, not the non-canonical target's #GP",
	[ACC_CALL_PUSHED] = "CALL: return address stored below RSP before the target's #GP",
	[ACC_FP_PF_ADDR] = "#PF address of an FP state access crossing into an unmapped page",
	[ACC_M80_PARTIAL] = "m80 store: first quadword stored before the #PF on the last word",
	[ACC_X87_NO_STORE] = "x87 store skipped for an unmasked exception, no #PF",
	[ACC_MASKMOV_PF] = "MASKMOVDQU: #PF on the upper quadword reported first",
	[ACC_MMX_TOP] = "MMX store faulting: x87 TOP already 0",
	[ACC_REP_UNTOUCHED] = "REP, 32-bit addresses, no iteration done: upper halves cleared",
	[ACC_PAUSE_REXB] = "F3 REX.B 90 run as PAUSE, not XCHG r8, rAX",
};

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* x87 status word: exception flags (IE DE ZE OE UE PE) and SF, ES, C1, TOP, B. */
#define FSW_EXC 0x007fu
#define FSW_ES 0x0080u
#define FSW_C1 0x0200u
#define FSW_TOP 0x3800u
#define FSW_B 0x8000u

/* The outcomes compared field by field, with the differences that concern whole classes
 * of instructions (undefined flags, host mappings, vendor fault orders) allowed for. */
static const char *differs(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                           const ZydisDecodedOperand *zo, const struct outcome *nat,
                           const struct outcome *sw, uint64_t *fmask_out, enum accept *acc)
{
	/* CF PF AF ZF SF TF IF DF OF NT AC ID; RF and the rest are not compared. */
	uint64_t fmask = 0x244FD5;
	bool mem_defined = true;
	if (zi) {
		fmask &= ~undefined_flags(zi, zo, &c->in);
		/* ENTER faulting on its final stack pointer: AMD parts have already stored
		 * the frame by then (the SDM promises nothing about that memory). */
		if (zi->mnemonic == ZYDIS_MNEMONIC_ENTER && nat->vector != 3)
			mem_defined = false;
	}
	*fmask_out = fmask;

	if (sw->vector == 14 && !in_test_space(sw->cr2) && host_mapped(sw->cr2) &&
	    (nat->vector != 14 || nat->cr2 != sw->cr2)) {
		*acc = ACC_SKIPPED; /* host environment */
		return NULL;
	}
	/* A jump into Linux's vsyscall page (0xffffffffff600000): on the host a user-mode
	 * fetch there is the kernel's to emulate or kill, in the test space it is a
	 * supervisor page's #PF. Host environment too. */
	if (sw->vector == 14 && (sw->err & 0x10) && sw->cr2 >> 12 == 0xffffffffff600ull &&
	    nat->vector != 14) {
		*acc = ACC_SKIPPED;
		return NULL;
	}
	if (nat->vector != sw->vector) {
		/* CALL with both a non-canonical target and a faulting push: Intel's SDM
		 * pseudocode checks the target first (the soft CPU does), AMD and Intel parts
		 * report the push's fault. */
		if (zi && zi->mnemonic == ZYDIS_MNEMONIC_CALL && sw->vector == 13 &&
		    ((nat->vector == 14 && (nat->err & 2) && nat->cr2 - (c->in.gpr[R_RSP] - 8) < 8) ||
		     (nat->vector == 12 && !canonical(c->in.gpr[R_RSP] - 8)))) {
			*acc = ACC_CALL_ORDER;
			return NULL;
		}
		return "exception";
	}
	/* A multi-part FP state access (FXSAVE, FLDENV, m80...) crossing into an unmapped
	 * page: the host reports another byte of the same page than the soft CPU (which
	 * reports the first byte of the page). Accepted: same vector, error code and page. */
	if (zi && nat->vector == 14 && sw->vector == 14 && nat->err == sw->err &&
	    (nat->cr2 ^ sw->cr2) < 4096 && (nat->cr2 & ~0xfffull) == (sw->cr2 & ~0xfffull) &&
	    nat->cr2 != sw->cr2 && fp_multipart(zi, zo)) {
		*acc = ACC_FP_PF_ADDR;
		return NULL;
	}
	/* The P bit depends on what the host has mapped outside the test space. */
	uint32_t pmask = in_test_space(nat->cr2) ? 0x1f : 0x1e;
	if (nat->vector == 14 && (nat->cr2 != sw->cr2 || (nat->err & pmask) != (sw->err & pmask)))
		return "page fault details";
	if (nat->vector == 13 && nat->err != sw->err)
		return "#GP error code";
	if (nat->r.rip != sw->r.rip)
		return "rip";
	for (int k = 0; k < 16; k++)
		if (nat->r.gpr[k] != sw->r.gpr[k])
			return "register";
	if ((nat->r.rflags ^ sw->r.rflags) & fmask)
		return "flags";
	if (mem_defined && !mem_equal(zi, zo, c, nat->mem, sw->mem))
		return "memory";
	/* FSTP1 (the undocumented D9 D8+i store-and-pop alias) of an empty ST0: the value the
	 * host copies is not the register's content; not compared. */
	unsigned top = (c->fin.fx[3] >> 3) & 7;
	bool skip_st = zi && zi->mnemonic == ZYDIS_MNEMONIC_FSTPNCE && !((c->fin.fx[4] >> top) & 1);
	for (unsigned k = 0; k < NFP_FIELDS; k++) {
		if (skip_st && fp_fields[k].name[0] == 's')
			continue;
		if (memcmp(nat->f.fx + fp_fields[k].off, sw->f.fx + fp_fields[k].off, fp_fields[k].len))
			return "fpu state";
	}
	return NULL;
}

/* ---- one instruction's implementation-specific behaviour ----
 *
 * Each function below recognises one behaviour of a host CPU that the manuals allow and
 * the soft CPU does not copy: for one instruction and fault, it checks that the native
 * outcome shows exactly that deviation and undoes it in *alt (a copy of the native
 * outcome, memory included). The caller accepts the case only if *alt then matches the
 * soft CPU's outcome in every compared field. */

/* The first memory operand, if its segment adds no base (FS and GS do). */
static const ZydisDecodedOperand *flat_mem_operand(const ZydisDecodedInstruction *zi,
                                                   const ZydisDecodedOperand *zo)
{
	for (unsigned k = 0; k < zi->operand_count; k++)
		if (zo[k].type == ZYDIS_OPERAND_TYPE_MEMORY)
			return zo[k].mem.segment == ZYDIS_REGISTER_FS ||
			       zo[k].mem.segment == ZYDIS_REGISTER_GS ? NULL : &zo[k];
	return NULL;
}

/* Are [la, la + n) all in the data area? */
static bool in_data(uint64_t la, unsigned n)
{
	return la - DT_DATA <= DT_DATA_SIZE - n;
}

/* The first byte of [la, la + n) a CPL-3 write may not touch, and its error code. */
static bool first_write_fault(uint64_t la, unsigned n, uint64_t *at, uint32_t *err)
{
	for (unsigned k = 0; k < n; k++)
		if (flat_fault(la + k, SOFT_ACC_WRITE, 3, err)) {
			*at = la + k;
			return true;
		}
	return false;
}

/* A near CALL's target, when the case's input gives it (register, data or code page). */
static bool call_target(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                        const ZydisDecodedOperand *zo, uint64_t *target)
{
	const ZydisDecodedOperand *o = &zo[0];
	if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && o->size == 64) {
		*target = c->in.gpr[ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64,
		                                                     o->reg.value) - ZYDIS_REGISTER_RAX];
		return true;
	}
	if (o->type != ZYDIS_OPERAND_TYPE_MEMORY || o->size != 64 || !flat_mem_operand(zi, zo))
		return false;
	uint64_t la = case_ea(zi, o, c);
	if (in_data(la, 8)) {
		memcpy(target, c->mem + (la - DT_DATA), 8);
		return true;
	}
	if (la - DT_CODE > 4096 - 8)
		return false;
	uint8_t b[8];   /* the code page: int3 but for the instruction */
	for (unsigned k = 0; k < 8; k++)
		b[k] = la + k - DT_INSN < c->len ? c->code[la + k - DT_INSN] : 0xcc;
	memcpy(target, b, 8);
	return true;
}

/* Intel's CALL pseudocode raises #GP(0) for a non-canonical target before Push(RIP)
 * (SDM vol. 2A, CALL), as the soft CPU and AMD parts do. Intel parts store the return
 * address first: RSP and RIP are left as they were, but the 8 bytes below RSP hold it.
 * Those are the bytes the CALL overwrites whenever it succeeds, so no program can keep
 * anything there across it. Accepted for a near CALL to a target known non-canonical,
 * #GP(0) on both, the return address in exactly those 8 bytes. */
static bool call_pushed(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                        const ZydisDecodedOperand *zo, const struct outcome *nat,
                        const struct outcome *sw, uint8_t *mem)
{
	uint64_t target, slot = c->in.gpr[R_RSP] - 8, ret = DT_INSN + zi->length;
	if (zi->mnemonic != ZYDIS_MNEMONIC_CALL || zi->meta.branch_type != ZYDIS_BRANCH_TYPE_NEAR ||
	    nat->vector != 13 || sw->vector != 13 || !call_target(c, zi, zo, &target) ||
	    canonical(target) || !in_data(slot, 8) || memcmp(nat->mem + (slot - DT_DATA), &ret, 8))
		return false;
	memcpy(mem + (slot - DT_DATA), sw->mem + (slot - DT_DATA), 8);
	return true;
}

/* FSTP m80 and FBSTP store 10 bytes. An x87 store of more than a quadword may be carried
 * out as several accesses, some of which complete before another faults, their effects
 * then visible (SDM vol. 3A, "Guaranteed Atomic Operations", 8.1.1 / 9.1.1 by edition).
 * Intel parts store the quadword at the operand's start, then the word after it; the
 * soft CPU, like AMD parts, checks all 10 bytes first. Accepted: the same #PF on both, on
 * the last word, and only the first quadword stored natively, holding what the store
 * writes there: ST0's significand (FSTP m80) or packed BCD digits (FBSTP). */
static bool m80_partial(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                        const ZydisDecodedOperand *zo, const struct outcome *nat,
                        const struct outcome *sw, uint8_t *mem)
{
	const ZydisDecodedOperand *mo = flat_mem_operand(zi, zo);
	bool fstp = zi->mnemonic == ZYDIS_MNEMONIC_FSTP;
	if (!mo || mo->size != 80 || (!fstp && zi->mnemonic != ZYDIS_MNEMONIC_FBSTP) ||
	    nat->vector != 14 || sw->vector != 14 || nat->cr2 != sw->cr2 || nat->err != sw->err)
		return false;
	uint64_t la = case_ea(zi, mo, c);
	if (!in_data(la, 8) || nat->cr2 - (la + 8) >= 2)
		return false;
	const uint8_t *q = nat->mem + (la - DT_DATA);
	/* The low quadword of the indefinite, stored by a masked invalid operation: an
	 * empty ST0, or for FBSTP also a NaN or a value out of range. */
	static const uint8_t indefinite[8] = { 0, 0, 0, 0, 0, 0, 0, 0xc0 };
	unsigned top = (sw->f.fx[3] >> 3) & 7;
	bool st0_valid = (sw->f.fx[4] >> top) & 1;
	if (fstp && memcmp(q, st0_valid ? sw->f.fx + 32 : indefinite, 8))
		return false;
	for (unsigned k = 0; !fstp && memcmp(q, indefinite, 8) && k < 8; k++)
		if ((q[k] & 0xf) > 9 || (q[k] >> 4) > 9)
			return false;
	memcpy(mem + (la - DT_DATA), sw->mem + (la - DT_DATA), 8);
	return true;
}

/* An x87 store with an unmasked invalid-operation (stack underflow included), denormal,
 * overflow or underflow exception leaves its destination unchanged (SDM vol. 1, 8.5).
 * Whether the destination's access is still checked, the SDM does not say: Intel parts
 * make no access and take no #PF; AMD parts and the soft CPU fault on the address first.
 * Accepted: the soft CPU's memory fault against a native run that completed and stored
 * nothing, whose status word gained exception flags (one of them an unmasked one of
 * those four), ES and B, and maybe changed C1, nothing else. */
static bool x87_no_store(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                         const ZydisDecodedOperand *zo, const struct outcome *nat,
                         const struct outcome *sw, struct outcome *alt)
{
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_FST: case ZYDIS_MNEMONIC_FSTP: case ZYDIS_MNEMONIC_FIST:
	case ZYDIS_MNEMONIC_FISTP: case ZYDIS_MNEMONIC_FISTTP: case ZYDIS_MNEMONIC_FBSTP:
		break;
	default:
		return false;
	}
	if (zo[0].type != ZYDIS_OPERAND_TYPE_MEMORY || nat->vector != 3 ||
	    (sw->vector != 12 && sw->vector != 13 && sw->vector != 14) ||
	    nat->r.rip != c->in.rip + zi->length + 1)   /* after the int3 that follows */
		return false;
	uint16_t fcw = get16(c->fin.fx), in = get16(c->fin.fx + 2), out = get16(nat->f.fx + 2);
	uint16_t raised = out & ~in, suppressing = 0x1b; /* IE, DE, OE, UE */
	if (((out ^ in) & ~(FSW_EXC | FSW_ES | FSW_C1 | FSW_B)) || !(out & FSW_ES) ||
	    !(raised & ~fcw & suppressing))
		return false;
	alt->vector = sw->vector;
	alt->err = sw->err;
	alt->cr2 = sw->cr2;
	alt->r.rip = sw->r.rip;
	put16(alt->f.fx + 2, in);
	return true;
}

/* MASKMOVDQU stores 16 bytes; the SDM lets such a store be carried out as several
 * accesses (SDM vol. 3A, "Guaranteed Atomic Operations") and, even for bytes the mask
 * leaves out, fault (vol. 2B, MASKMOVDQU). Intel parts check the upper quadword first;
 * the soft CPU, like AMD parts, reports the first faulting byte of all 16. Accepted: #PF
 * on both, the soft CPU's at that first byte, the native one at the first faulting byte
 * of the upper quadword, or of the lower one if the upper is writable. */
static bool maskmov_upper_first(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                                const ZydisDecodedOperand *zo, const struct outcome *nat,
                                const struct outcome *sw, struct outcome *alt)
{
	const ZydisDecodedOperand *mo = flat_mem_operand(zi, zo);
	if (zi->mnemonic != ZYDIS_MNEMONIC_MASKMOVDQU || !mo || nat->vector != 14 || sw->vector != 14)
		return false;
	uint64_t la = case_ea(zi, mo, c), first, want;
	uint32_t err, want_err;
	if (!first_write_fault(la, 16, &first, &err) || sw->cr2 != first || sw->err != err)
		return false;
	/* The upper quadword's address is computed at the address size: it wraps at 4 GiB. */
	uint64_t hi = zi->address_width == 32 ? (uint32_t)(la + 8) : la + 8;
	if (!first_write_fault(hi, 8, &want, &want_err) &&
	    !first_write_fault(la, 8, &want, &want_err))
		return false;
	uint32_t pmask = in_test_space(want) ? 0x1f : 0x1e;
	if (nat->cr2 != want || (nat->err & pmask) != (want_err & pmask))
		return false;
	alt->cr2 = sw->cr2;
	alt->err = sw->err;
	return true;
}

/* An MMX instruction sets TOP to 0 and every tag to valid (SDM vol. 3A, 12.2); for one
 * that faults the SDM does not say whether that has happened yet. When an MMX register
 * store (MOVD, MOVQ, MOVNTQ to memory) faults, Intel parts have set TOP, not the tags;
 * the soft CPU, like AMD parts, leaves the x87 state alone. Accepted: the same fault on
 * both, native TOP 0, the rest of the status word and the stack itself unchanged (the
 * FXSAVE image lists the stack from TOP, so the native image is rotated back). */
static bool mmx_store_top(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                          const struct outcome *nat, const struct outcome *sw,
                          struct outcome *alt)
{
	if (zi->operand_count_visible != 2 || zo[0].type != ZYDIS_OPERAND_TYPE_MEMORY ||
	    zo[1].type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    ZydisRegisterGetClass(zo[1].reg.value) != ZYDIS_REGCLASS_MMX ||
	    nat->vector == 3 || nat->vector != sw->vector)
		return false;
	uint16_t nsw = get16(nat->f.fx + 2), ssw = get16(sw->f.fx + 2);
	unsigned top = (ssw & FSW_TOP) >> 11;
	if ((nsw & FSW_TOP) || !top || ((nsw ^ ssw) & ~FSW_TOP))
		return false;
	put16(alt->f.fx + 2, ssw);
	for (unsigned k = 0; k < 8; k++)   /* ST(k) is physical register TOP + k */
		memcpy(alt->f.fx + 32 + 16 * k, nat->f.fx + 32 + 16 * ((top + k) & 7), 10);
	return true;
}

/* A REP string instruction writes its registers only as iterations complete: a count of
 * 0 runs none (SDM vol. 2B, REP: WHILE CountReg != 0), and a fault in an iteration leaves
 * them as the completed ones did ("the state of the registers is preserved", ibid.).
 * Intel parts, with a 32-bit address size, write ECX and, for MOVS and STOS, ESI and EDI
 * before the first iteration, so with ECX 0, or when the first iteration faults, the
 * upper halves of those registers are cleared though none completed (undocumented;
 * Linux's KVM emulator copies it, commit 428e3d08574b). The soft CPU, like AMD parts,
 * leaves them. Accepted: each of those registers the soft CPU left alone either
 * unchanged natively or zero-extended. */
static bool rep_untouched(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                          const struct outcome *nat, const struct outcome *sw,
                          struct outcome *alt)
{
	if (zi->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT || zi->opcode < 0xa4 || zi->opcode > 0xaf ||
	    zi->opcode == 0xa8 || zi->opcode == 0xa9 || zi->address_width != 32 ||
	    !(zi->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)))
		return false;
	bool movs = zi->opcode <= 0xa5, stos = zi->opcode == 0xaa || zi->opcode == 0xab;
	const int regs[] = { R_RCX, movs ? R_RSI : -1, movs || stos ? R_RDI : -1 };
	bool any = false;
	for (unsigned k = 0; k < 3; k++) {
		int r = regs[k];
		uint64_t in = c->in.gpr[r < 0 ? 0 : r];
		if (r >= 0 && sw->r.gpr[r] == in && nat->r.gpr[r] != in &&
		    nat->r.gpr[r] == (uint32_t)in) {
			alt->r.gpr[r] = in;
			any = true;
		}
	}
	return any;
}

/* F3 90 is PAUSE and REX.B 90 is XCHG r8, rAX (SDM vol. 2B, PAUSE and XCHG; AMD APM
 * vol. 3, XCHG); neither manual says which one F3 REX.B 90 is. AMD parts (and the soft
 * CPU, lower.c) exchange, Intel parts pause. Accepted: both completed, RAX and R8
 * unchanged natively. */
static bool pause_rexb(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                       const struct outcome *nat, const struct outcome *sw, struct outcome *alt)
{
	if (zi->mnemonic != ZYDIS_MNEMONIC_PAUSE || !zi->raw.rex.B || nat->vector != 3 ||
	    sw->vector != 3 || nat->r.gpr[R_RAX] != c->in.gpr[R_RAX] ||
	    nat->r.gpr[R_R8] != c->in.gpr[R_R8])
		return false;
	alt->r.gpr[R_RAX] = sw->r.gpr[R_RAX];
	alt->r.gpr[R_R8] = sw->r.gpr[R_R8];
	return true;
}

/* Which implementation-specific behaviour, if any, the native outcome shows; undone in
 * *alt (whose memory is mem). */
static enum accept undo_vendor(const struct dt_case *c, const ZydisDecodedInstruction *zi,
                               const ZydisDecodedOperand *zo, const struct outcome *nat,
                               const struct outcome *sw, struct outcome *alt, uint8_t *mem)
{
	if (call_pushed(c, zi, zo, nat, sw, mem))
		return ACC_CALL_PUSHED;
	if (m80_partial(c, zi, zo, nat, sw, mem))
		return ACC_M80_PARTIAL;
	if (x87_no_store(c, zi, zo, nat, sw, alt))
		return ACC_X87_NO_STORE;
	if (maskmov_upper_first(c, zi, zo, nat, sw, alt))
		return ACC_MASKMOV_PF;
	if (mmx_store_top(zi, zo, nat, sw, alt))
		return ACC_MMX_TOP;
	if (rep_untouched(c, zi, nat, sw, alt))
		return ACC_REP_UNTOUCHED;
	if (pause_rexb(c, zi, nat, sw, alt))
		return ACC_PAUSE_REXB;
	return ACC_NONE;
}

/* Compare; returns NULL if equal (*acc then says whether a difference was accepted, and
 * which), else what differs. */
static const char *compare(const struct dt_case *c, const struct outcome *nat,
                           const struct outcome *sw, uint64_t *fmask_out, enum accept *acc)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	bool decoded = decode_case(&dec, c, &zi, zo);
	*acc = ACC_NONE;
	const char *why = differs(c, decoded ? &zi : NULL, zo, nat, sw, fmask_out, acc);
	if (!why || !decoded)
		return why;
	struct outcome alt = *nat;
	uint8_t mem[DT_DATA_SIZE];
	memcpy(mem, nat->mem, sizeof(mem));
	alt.mem = mem;
	enum accept kind = undo_vendor(c, &zi, zo, nat, sw, &alt, mem), other;
	uint64_t fmask;
	if (kind == ACC_NONE || differs(c, &zi, zo, &alt, sw, &fmask, &other))
		return why;
	*acc = kind;
	return NULL;
}


static void print_bytes(const uint8_t *p, unsigned len)
{
	for (unsigned k = len; k-- > 0;)
		printf("%02x", p[k]);
}

static void report_fp(const struct dt_case *c, const struct outcome *nat, const struct outcome *sw)
{
	for (unsigned k = 0; k < NFP_FIELDS; k++) {
		unsigned off = fp_fields[k].off, len = fp_fields[k].len;
		if (!memcmp(nat->f.fx + off, sw->f.fx + off, len) && memcmp(c->fin.fx + off, nat->f.fx + off, len) == 0)
			continue;
		printf("  %-6s ", fp_fields[k].name);
		print_bytes(c->fin.fx + off, len);
		printf(" -> native ");
		print_bytes(nat->f.fx + off, len);
		printf(" soft ");
		print_bytes(sw->f.fx + off, len);
		printf("%s\n", memcmp(nat->f.fx + off, sw->f.fx + off, len) ? "  <--" : "");
	}
}

static void native_outcome(struct dt_shared *sh, int k, struct outcome *o)
{
	o->r = sh->out[k].r;
	o->f = sh->out[k].f;
	o->vector = sh->out[k].vector;
	o->err = sh->out[k].err;
	o->cr2 = sh->out[k].cr2;
	o->mem = sh->out[k].mem;
}

/* --perturb / --perturb-all: the case whose native results to disturb. */
static uint64_t perturb = UINT64_MAX;
static bool perturb_all;

/* Run case c (batch slot k) natively again, up to twice, in slot 0 (whose case has been
 * compared already): true if a rerun agrees with the soft CPU's outcome sw. Something
 * outside the child can disturb a native run in the window between the instruction and
 * the int3 after it: a sandbox or hypervisor that preempts the child without restoring
 * all of its state (RFLAGS.NT, say), or that cannot deliver an event while RSP is not
 * canonical. Such a disturbance does not repeat; a real divergence does. */

static bool native_rerun(struct dt_native *nat, struct dt_shared *sh, int k, uint64_t idx,
                         const struct dt_case *c, const struct outcome *sw)
{
	static struct dt_result first;   /* slot k = 0: its first result, for the report */
	if (k)
		sh->cases[0] = *c;
	else
		first = sh->out[0];
	for (int tries = 0; tries < 2; tries++) {
		struct outcome no;
		uint64_t fmask;
		if (dt_native_run(nat, 1) != 1)
			continue;
		if (perturb_all && idx == perturb)
			sh->out[0].r.rflags ^= FL_NT;
		native_outcome(sh, 0, &no);
		enum accept acc;
		if (!compare(&sh->cases[0], &no, sw, &fmask, &acc))
			return true;
	}
	if (!k)
		sh->out[0] = first;
	return false;
}

static void usage(void)
{
	fprintf(stderr, "usage: difftest [--seed S] [--count N] [--start I] [--max-report K] "
	        "[--perturb I | --perturb-all I] [--tier interpret|translate]\n");
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, count = 100000, max_report = 20, start = 0;
	enum soft_tier tier = SOFT_TIER_INTERPRET; /* the soft CPU's reference tier */
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--seed") && k + 1 < argc)
			seed = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--count") && k + 1 < argc)
			count = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--start") && k + 1 < argc)
			start = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--perturb") && k + 1 < argc)
			perturb = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--perturb-all") && k + 1 < argc)
			perturb = strtoull(argv[++k], NULL, 0), perturb_all = true;
		else if (!strcmp(argv[k], "--max-report") && k + 1 < argc)
			max_report = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--tier") && k + 1 < argc && !strcmp(argv[k + 1], "translate"))
			tier = SOFT_TIER_TRANSLATE, k++;
		else if (!strcmp(argv[k], "--tier") && k + 1 < argc && !strcmp(argv[k + 1], "interpret"))
			tier = SOFT_TIER_INTERPRET, k++;
		else {
			usage();
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	struct dt_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct flat *m = calloc(1, sizeof(*m));
	struct soft_cpu *cpu = calloc(1, sizeof(*cpu));
	if (sh == MAP_FAILED || !m || !cpu || soft_cpu_init(cpu, &flat_ops, m) ||
	    soft_cpu_set_tier(cpu, tier)) {
		fprintf(stderr, "difftest: out of memory\n");
		return 1;
	}
	struct dt_native nat;
	if (dt_native_start(&nat, sh)) {
		fprintf(stderr, "difftest: cannot start the native child\n");
		return 1;
	}

	struct dt_rng rng = { seed };
	/* Case numbers are positions in the generator's sequence. */
	for (uint64_t k = 0; k < start; k++)
		dt_gen_case(&rng, &sh->cases[0]);
	uint64_t done = 0, diverged = 0, died = 0, accepted[ACC_N] = {0}, vec_count[33] = {0};
	uint64_t unrepeatable = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < count) {
		int batch = count - done < DT_BATCH ? (int)(count - done) : DT_BATCH;
		for (int k = 0; k < batch; k++)
			dt_gen_case(&rng, &sh->cases[k]);
		/* Cases [first, batch) of the batch are still to run natively; a native death
		 * restarts the child, and the cases after the one that killed it run then. */
		for (int first = 0, skip = 0; first < batch;) {
			int n = batch - first;
			if (skip)   /* the cases after the one that killed the child, to the front */
				memmove(&sh->cases[0], &sh->cases[skip], (size_t)n * sizeof(sh->cases[0]));
			int got = dt_native_run(&nat, n);
			if (got < 0) {
				fprintf(stderr, "difftest: cannot restart the native child\n");
				return 1;
			}
			if (done + (uint64_t)first <= perturb - start &&
			    perturb - start < done + (uint64_t)first + (uint64_t)got)
				sh->out[perturb - start - done - (uint64_t)first].r.rflags ^= FL_NT;
			for (int k = 0; k < n && k <= got; k++) {
				const struct dt_case *c = &sh->cases[k];
				uint64_t idx = start + done + (uint64_t)(first + k), fmask = 0;
				enum accept acc = ACC_NONE;
				struct outcome no, so;
				const char *why = NULL;
				run_soft(cpu, m, c, &so);
				if (k < got) {
					native_outcome(sh, k, &no);
					vec_count[no.vector < 32 ? no.vector : 32]++;
					why = compare(c, &no, &so, &fmask, &acc);
				}
				/* A native run the host disturbed (it died, or its result differs): run
				 * it again before calling it a divergence. Only a rerun that agrees
				 * with the soft CPU excuses it; a real divergence repeats. */
				if ((k == got || why) && native_rerun(&nat, sh, k, idx, c, &so)) {
					if (k == got)   /* counted by the rerun's outcome, in slot 0 */
						vec_count[sh->out[0].vector < 32 ? sh->out[0].vector : 32]++;
					if (unrepeatable++ < max_report) {
						char text[256];
						disasm(c, text, sizeof(text));
						printf("case %" PRIu64 ": native %s, not on a rerun, which agrees "
						       "with the soft CPU: %s\n", idx,
						       k == got ? "run died" : "result differed", text);
					}
					continue;
				}
				if (k == got) {
					char text[256];
					disasm(c, text, sizeof(text));
					died++;
					diverged++;
					printf("DIVERGENCE case %" PRIu64 ": native run died: %s\n", idx, text);
					continue;
				}
				if (!why)
					accepted[acc]++;
				if (why) {
					if (diverged < max_report)
						report(idx, c, &no, &so, fmask, why);
					diverged++;
				}
			}
			skip = got + 1;
			first += got < n ? got + 1 : n;
		}
		done += (uint64_t)batch;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt_native_stop(&nat);

	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("difftest: seed %" PRIu64 ", %" PRIu64 " cases in %.2fs, %" PRIu64 " divergences"
	       " (%" PRIu64 " native crashes)\n", seed, done, secs, diverged, died);
	printf("difftest: ended by #BP (completed) %" PRIu64 ", #DE %" PRIu64 ", #UD %" PRIu64
	       ", #GP %" PRIu64 ", #SS %" PRIu64 ", #PF %" PRIu64 ", #MF %" PRIu64 ", #XM %" PRIu64
	       ", other %" PRIu64 "\n",
	       vec_count[3], vec_count[0], vec_count[6], vec_count[13], vec_count[12], vec_count[14],
	       vec_count[16], vec_count[19],
	       done - vec_count[3] - vec_count[0] - vec_count[6] - vec_count[13] - vec_count[12] -
	       vec_count[14] - vec_count[16] - vec_count[19]);
	uint64_t n_acc = 0;
	for (int k = ACC_SKIPPED + 1; k < ACC_N; k++)
		n_acc += accepted[k];
	printf("difftest: %" PRIu64 " skipped (address mapped in the host process), %" PRIu64
	       " accepted implementation-specific differences:\n", accepted[ACC_SKIPPED], n_acc);
	for (int k = ACC_SKIPPED + 1; k < ACC_N; k++)
		printf("difftest: %10" PRIu64 "  %s\n", accepted[k], accept_text[k]);
	printf("difftest: %" PRIu64 " native runs not repeatable (disturbed by the host; the rerun"
	       " agrees with the soft CPU)\n", unrepeatable);
	printf("difftest: soft cpu: %" PRIu64 " instructions, %" PRIu64 " #UD raised, %" PRIu64
	       " blocks decoded\n", cpu->stats.insns, cpu->stats.ud, cpu->stats.blocks_decoded);
	soft_cpu_destroy(cpu);
	free(cpu);
	free(m);
	munmap(sh, sizeof(*sh));
	return diverged ? 1 : 0;
}
