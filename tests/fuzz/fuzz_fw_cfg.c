/* fw_cfg (hw/fw_cfg.c) as the firmware drives it: selecting items and files, reading
 * them through the data port, and DMA descriptors anywhere in guest RAM or outside it.
 * Invariants: an item read past its end gives zeros, and a DMA read never writes guest
 * RAM outside [address, address + length) of its descriptor, nor beyond the descriptor's
 * own control word (checked against a copy of RAM taken before each DMA).
 *
 * Input: ops until it ends, each an op byte and its operands:
 *   0 u16 key              select
 *   1 u8 n                 read n bytes, one at a time, from the data port
 *   2 u32 gpa, 16 bytes    a descriptor written at gpa (when in RAM), then DMA from it
 *   3 u8 off, u8 size, u32 value, u8 write   any access to the 12 ports */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "hw/fw_cfg.h"
#include "hw/pc.h"

static struct fw_cfg *fw;
static unsigned long selects, bytes, dmas, raw;
static uint8_t before[FUZZ_RAM];

static void stats(FILE *out)
{
	struct fw_cfg_stats st;
	fw_cfg_get_stats(fw, &st);
	fprintf(out, " selects=%lu bytes=%lu dmas=%lu raw=%lu dma_ops=%lu dma_errors=%lu",
	        selects, bytes, dmas, raw, st.dma_ops, st.dma_errors);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static void dma(struct vm *vm, struct fz *f)
{
	uint32_t gpa = fz_u32(f) % (FUZZ_RAM + 0x1000);    /* mostly RAM, sometimes not */
	uint8_t d[16];
	fz_bytes(f, d, sizeof(d));
	mem_write(&vm->mem, gpa, d, sizeof(d));
	mem_read(&vm->mem, 0, before, FUZZ_RAM);
	uint8_t a[4] = { (uint8_t)(gpa >> 24), (uint8_t)(gpa >> 16), (uint8_t)(gpa >> 8),
	                 (uint8_t)gpa };
	uint8_t zero[4] = { 0 };
	bus_access(&vm->pio, PC_FW_CFG_DMA_PORT, zero, 4, true);
	bus_access(&vm->pio, PC_FW_CFG_DMA_PORT + 4, a, 4, true);
	dmas++;

	/* What may have changed: the control word, and the target when it was a read. */
	bool in_ram = gpa + sizeof(d) <= FUZZ_RAM;
	uint64_t addr = in_ram ? (uint64_t)be32(d + 8) << 32 | be32(d + 12) : 0;
	uint32_t len = in_ram ? be32(d + 4) : 0;
	bool read = in_ram && (be32(d) & FW_CFG_DMA_READ) && !(be32(d) & FW_CFG_DMA_WRITE);
	uint8_t *now = malloc(FUZZ_RAM);
	if (!now)
		abort();
	mem_read(&vm->mem, 0, now, FUZZ_RAM);
	for (uint64_t i = 0; i < FUZZ_RAM; i++) {
		if (now[i] == before[i] || (i >= gpa && i < (uint64_t)gpa + 4) ||
		    (read && i >= addr && i - addr < len))
			continue;
		fuzz_fail("DMA wrote guest RAM at 0x%llx, outside its target 0x%llx+0x%x",
		          (unsigned long long)i, (unsigned long long)addr, len);
	}
	free(now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = fuzz_vm();
	if (!fw) {
		struct err e;
		static uint8_t big[5000];
		for (unsigned i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 7 + 1);
		if (fw_cfg_create(vm, &fw, &e) || fw_cfg_add_file(fw, "etc/small", "abc", 3, &e) ||
		    fw_cfg_add_file(fw, "etc/big", big, sizeof(big), &e) ||
		    fw_cfg_add_file(fw, "etc/empty", "", 0, &e))
			fuzz_fail("fw_cfg: %s", e.msg);
		fuzz_stats_at_exit(stats);
	}
	struct fz f = { data, size };
	while (f.n) {
		switch (fz_u8(&f) % 4) {
		case 0: {
			uint16_t key = fz_u16(&f);
			uint8_t k[2] = { (uint8_t)key, (uint8_t)(key >> 8) };
			bus_access(&vm->pio, PC_FW_CFG_PORT, k, 2, true);
			selects++;
			break;
		}
		case 1:
			for (unsigned n = fz_u8(&f); n; n--) {
				uint8_t b;
				bus_access(&vm->pio, PC_FW_CFG_PORT + 1, &b, 1, false);
				bytes++;
			}
			break;
		case 2:
			dma(vm, &f);
			break;
		default: {
			unsigned off = fz_u8(&f) % 12, sz = 1u << (fz_u8(&f) % 3);
			uint32_t v = fz_u32(&f);
			uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
			bus_access(&vm->pio, PC_FW_CFG_PORT + off, b, sz, fz_u8(&f) & 1);
			raw++;
			break;
		}
		}
	}
	return 0;
}
