/* QEMU's fw_cfg interface (documented in QEMU's docs/specs/fw_cfg.rst, which SeaBIOS
 * and Linux's qemu_fw_cfg driver implement): the firmware reads facts about the machine
 * and named files (ACPI tables, e820 map, boot order, option ROMs) through a selector
 * port and a data port, or in bulk through the DMA interface. Read-only: data-port and
 * DMA writes are refused (QEMU dropped guest writes too). */
#ifndef TRIVISOR_HW_FW_CFG_H
#define TRIVISOR_HW_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct vm;
struct fw_cfg;

/* Item keys (QEMU's documented numbering). */
#define FW_CFG_SIGNATURE 0x0000 /* "QEMU" */
#define FW_CFG_ID        0x0001 /* u32 LE feature bits: 1 = traditional, 2 = DMA */
#define FW_CFG_RAM_SIZE  0x0003 /* u64 LE bytes */
#define FW_CFG_NB_CPUS   0x0005 /* u16 LE */
#define FW_CFG_MAX_CPUS  0x000f /* u16 LE */
#define FW_CFG_FILE_DIR  0x0019 /* u32 BE count, then 64-byte entries */
#define FW_CFG_FILE_FIRST 0x0020 /* the files' own keys, in the order they were added */

#define FW_CFG_MAX_FILES 32
#define FW_CFG_NAME_MAX  56      /* bytes of a file name, NUL included */
#define FW_CFG_FILE_MAX  (16u << 20)

/* The DMA interface (ID bit 1): the guest writes a descriptor's address, big-endian, to
 * PC_FW_CFG_DMA_PORT (high half) and PC_FW_CFG_DMA_PORT + 4 (low half, which starts it). */
#define FW_CFG_DMA_ERROR  0x01
#define FW_CFG_DMA_READ   0x02
#define FW_CFG_DMA_SKIP   0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE  0x10

struct fw_cfg_stats {
	unsigned long dma_ops;       /* descriptors processed */
	unsigned long dma_errors;    /* refused: descriptor or buffer outside RAM, writes */
};

/* Claim the selector (16-bit) and data (8-bit) ports at PC_FW_CFG_PORT and the DMA
 * registers; the signature, ID, RAM size and CPU counts are there from the start. Owned
 * by the VM. */
int fw_cfg_create(struct vm *vm, struct fw_cfg **out, struct err *e);

/* Add a named file (len bytes, copied). Before the vCPUs start. */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len,
                    struct err *e);

void fw_cfg_get_stats(struct fw_cfg *f, struct fw_cfg_stats *out);

#endif
