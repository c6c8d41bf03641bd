/* The PC platform trivisor presents: fixed port and address assignments shared by the
 * devices (src/hw) and the firmware tables that describe them (src/boot). */
#ifndef TRIVISOR_PC_H
#define TRIVISOR_PC_H

#include <stdbool.h>

#include "core/err.h"

struct vm;

/* Legacy ISA ports and IRQs */
#define PC_COM1_PORT        0x3f8
#define PC_COM1_IRQ         4
#define PC_I8042_DATA_PORT  0x60
#define PC_I8042_CMD_PORT   0x64
#define PC_I8042_KBD_IRQ    1
#define PC_I8042_AUX_IRQ    12
#define PC_RTC_PORT         0x70    /* 0x70 index, 0x71 data */
#define PC_RTC_IRQ          8
#define PC_POST_PORT        0x80    /* POST diagnostic port: writes ignored */
#define PC_DEBUG_EXIT_PORT  0xf4    /* isa-debug-exit compatible */
#define PC_DEBUGCON_PORT    0x402   /* the firmware's debug console (isa-debugcon) */
#define PC_FW_CFG_PORT      0x510   /* 0x510 selector (16-bit), 0x511 data */
#define PC_FW_CFG_DMA_PORT  0x514   /* 0x514 high, 0x518 low half of the DMA address (BE) */

/* ACPI fixed hardware (PM1a event/control blocks and PM timer), described by the FADT. */
#define PC_ACPI_PM1A_EVT    0x600   /* 4 bytes: status (2) + enable (2) */
#define PC_ACPI_PM1A_CNT    0x604   /* 2 bytes */
#define PC_ACPI_PM_TMR      0x608   /* 4 bytes, 3.579545 MHz */
#define PC_ACPI_PM_TMR_BITS 32      /* counter width: 32 needs the FADT's TMR_VAL_EXT flag */
#define PC_ACPI_SCI_IRQ     9
#define PC_ACPI_S5_TYP      5       /* SLP_TYP value the DSDT's \_S5 package gives */

/* Interrupt controllers (MMIO) */
#define PC_IOAPIC_ADDR      0xfec00000u
#define PC_LAPIC_ADDR       0xfee00000u
#define PC_IOAPIC_PINS      24

/* PCI: configuration mechanism #1 ports, the ECAM window (bus 0 only: 32 devices x 8
 * functions x 4 KiB) and the 32-bit window BARs are placed in (between the end of low
 * RAM at MEM_HOLE_START and the ECAM window). All in the ACPI DSDT/MCFG. */
#define PC_PCI_CONF_ADDR    0xcf8
#define PC_PCI_CONF_DATA    0xcfc
#define PC_PCI_ECAM_ADDR    0xe0000000u
#define PC_PCI_ECAM_BUSES   1
#define PC_PCI_ECAM_SIZE    (PC_PCI_ECAM_BUSES << 20)
#define PC_PCI_MEM32_ADDR   0xc0000000u
#define PC_PCI_MEM32_SIZE   0x20000000u
#define PC_PCI_IO_ADDR      0xc000u     /* where firmware puts I/O BARs */
#define PC_PCI_IO_SIZE      0x4000u

/* Where firmware tables live (the BIOS read-only area a guest scans for the RSDP). */
#define PC_ACPI_ADDR        0xe0000u
#define PC_ACPI_SIZE        0x10000u

struct uart;
struct vm_config;

/* The board has a VGA: booted through the firmware (a PC), or something shows its
 * screen (--display, --screen-dump). */
bool pc_has_vga(const struct vm_config *cfg);

/* Create the legacy PC devices on vm's buses (COM1, i8042, RTC, port 0x80, debug exit,
 * fw_cfg, ACPI PM). Registers their teardown with vm_add_device. */
int pc_board_init(struct vm *vm, struct err *e);

#endif
