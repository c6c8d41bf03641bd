/* Firmware boot: with no --kernel, the machine starts like a PC. The BIOS image
 * (SeaBIOS, from Debian's seabios package) is mapped read-only at the top of 4 GiB,
 * its last 128 KiB also sit in the legacy BIOS area below 1 MiB (the shadow copy a
 * chipset would give it), and the boot CPU starts at the reset vector. The firmware
 * then reads what it needs about the machine through fw_cfg (firmware_fw_cfg). */
#ifndef TRIVISOR_BOOT_FIRMWARE_H
#define TRIVISOR_BOOT_FIRMWARE_H

#include "core/cpu_state.h"
#include "core/err.h"

struct vm;
struct fw_cfg;

#define FIRMWARE_DEFAULT_BIOS "/usr/share/seabios/bios.bin"
#define FIRMWARE_DEFAULT_VGA_ROM "/usr/share/seabios/vgabios-stdvga.bin"
#define FIRMWARE_MAX_SIZE (16u << 20)

/* Map vm->cfg.bios_path (or FIRMWARE_DEFAULT_BIOS) and fill *bsp with the reset state
 * (SDM vol. 3A 9.1.1: real mode, CS.base 0xFFFF0000, IP 0xFFF0). */
int firmware_load(struct vm *vm, struct cpu_state *bsp, struct err *e);

/* What the firmware needs to know of the board besides the VM's configuration. */
struct firmware_board {
	const char *vga_rom;        /* the VGA BIOS file, NULL without a VGA */
};

/* Add the files SeaBIOS reads: the e820 RAM map, the ACPI tables with their loader
 * script, the serial console port, boot settings, the VGA BIOS. */
int firmware_fw_cfg(struct vm *vm, struct fw_cfg *f, const struct firmware_board *b,
                    struct err *e);

#endif
