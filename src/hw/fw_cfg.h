/* QEMU's fw_cfg interface, traditional (port I/O, no DMA) flavour: lets firmware and
 * Linux's qemu_fw_cfg driver read a few facts about the machine. */
#ifndef TRIVISOR_HW_FW_CFG_H
#define TRIVISOR_HW_FW_CFG_H

#include "core/err.h"

struct vm;

/* Item keys (QEMU's documented numbering). */
#define FW_CFG_SIGNATURE 0x0000 /* "QEMU" */
#define FW_CFG_ID        0x0001 /* u32 LE feature bits: 1 = traditional interface */
#define FW_CFG_RAM_SIZE  0x0003 /* u64 LE bytes */
#define FW_CFG_NB_CPUS   0x0005 /* u16 LE */
#define FW_CFG_MAX_CPUS  0x000f /* u16 LE */
#define FW_CFG_FILE_DIR  0x0019 /* u32 BE count, then entries: empty */

/* Claim PC_FW_CFG_PORT (16-bit selector) and PC_FW_CFG_PORT + 1 (8-bit data). */
int fw_cfg_create(struct vm *vm, struct err *e);

#endif
