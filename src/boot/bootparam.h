/* Linux x86 boot protocol structures: the setup header (Documentation/arch/x86/boot.rst)
 * and the zero page, struct boot_params (Documentation/arch/x86/zero-page.rst).
 * Written from the documents; offsets are checked below. All fields little-endian. */
#ifndef TRIVISOR_BOOT_BOOTPARAM_H
#define TRIVISOR_BOOT_BOOTPARAM_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define SETUP_HDR_OFFSET   0x1f1      /* of the setup header, in the file and the zero page */
#define SETUP_BOOT_FLAG    0xaa55
#define SETUP_HDR_MAGIC    0x53726448 /* "HdrS" */

/* loadflags */
#define LOADED_HIGH        (1u << 0)
#define KASLR_FLAG         (1u << 1)
#define QUIET_FLAG         (1u << 5)
#define KEEP_SEGMENTS      (1u << 6)
#define CAN_USE_HEAP       (1u << 7)

/* xloadflags */
#define XLF_KERNEL_64              (1u << 0)
#define XLF_CAN_BE_LOADED_ABOVE_4G (1u << 1)

#define LOADER_TYPE_UNDEFINED 0xff

struct __attribute__((packed)) setup_header {
	uint8_t setup_sects;            /* 0x1f1 */
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;             /* 0x1fe: 0xaa55 */
	uint16_t jump;                  /* 0x200: byte 0x201 gives the header's length */
	uint32_t header;                /* 0x202: "HdrS" */
	uint16_t version;               /* 0x206 */
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;         /* 0x210 */
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;          /* 0x214 */
	uint32_t ramdisk_image;         /* 0x218 */
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;          /* 0x224 */
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;          /* 0x228 */
	uint32_t initrd_addr_max;       /* 0x22c */
	uint32_t kernel_alignment;      /* 0x230 */
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;            /* 0x236, protocol 2.12 */
	uint32_t cmdline_size;          /* 0x238, protocol 2.06 */
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;        /* 0x248 */
	uint32_t payload_length;
	uint64_t setup_data;            /* 0x250 */
	uint64_t pref_address;          /* 0x258, protocol 2.10 */
	uint32_t init_size;             /* 0x260, protocol 2.10 */
	uint32_t handover_offset;
	uint32_t kernel_info_offset;    /* 0x268, protocol 2.15 */
};

#define SETUP_OFF(f) (SETUP_HDR_OFFSET + offsetof(struct setup_header, f))
static_assert(SETUP_OFF(boot_flag) == 0x1fe, "setup_header layout");
static_assert(SETUP_OFF(header) == 0x202, "setup_header layout");
static_assert(SETUP_OFF(type_of_loader) == 0x210, "setup_header layout");
static_assert(SETUP_OFF(code32_start) == 0x214, "setup_header layout");
static_assert(SETUP_OFF(cmd_line_ptr) == 0x228, "setup_header layout");
static_assert(SETUP_OFF(xloadflags) == 0x236, "setup_header layout");
static_assert(SETUP_OFF(cmdline_size) == 0x238, "setup_header layout");
static_assert(SETUP_OFF(pref_address) == 0x258, "setup_header layout");
static_assert(SETUP_OFF(init_size) == 0x260, "setup_header layout");
static_assert(SETUP_OFF(kernel_info_offset) == 0x268, "setup_header layout");
static_assert(sizeof(struct setup_header) == 0x26c - SETUP_HDR_OFFSET, "setup_header size");

/* e820 types */
#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3
#define E820_NVS      4

struct __attribute__((packed)) e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};
static_assert(sizeof(struct e820_entry) == 20, "e820_entry size");

#define E820_MAX_ZEROPAGE 128

struct __attribute__((packed)) boot_params {
	uint8_t screen_info[0x40];      /* 0x000 */
	uint8_t apm_bios_info[0x14];    /* 0x040 */
	uint8_t pad1[4];
	uint64_t tboot_addr;            /* 0x058 */
	uint8_t ist_info[0x10];         /* 0x060 */
	uint64_t acpi_rsdp_addr;        /* 0x070, protocol 2.14 */
	uint8_t pad2[8];
	uint8_t hd0_info[16];           /* 0x080 */
	uint8_t hd1_info[16];
	uint8_t sys_desc_table[16];     /* 0x0a0 */
	uint8_t olpc_ofw_header[16];    /* 0x0b0 */
	uint32_t ext_ramdisk_image;     /* 0x0c0 */
	uint32_t ext_ramdisk_size;
	uint32_t ext_cmd_line_ptr;
	uint8_t pad3[0x13c - 0xcc];
	uint32_t cc_blob_address;       /* 0x13c */
	uint8_t edid_info[0x80];        /* 0x140 */
	uint8_t efi_info[0x20];         /* 0x1c0 */
	uint32_t alt_mem_k;             /* 0x1e0 */
	uint32_t scratch;
	uint8_t e820_entries;           /* 0x1e8 */
	uint8_t eddbuf_entries;
	uint8_t edd_mbr_sig_buf_entries;
	uint8_t kbd_status;
	uint8_t secure_boot;
	uint8_t pad4[2];
	uint8_t sentinel;               /* 0x1ef */
	uint8_t pad5;
	struct setup_header hdr;        /* 0x1f1 */
	uint8_t pad6[0x290 - 0x26c];
	uint32_t edd_mbr_sig_buffer[16]; /* 0x290 */
	struct e820_entry e820_table[E820_MAX_ZEROPAGE]; /* 0x2d0 */
	uint8_t pad7[0xd00 - 0xcd0];
	uint8_t eddbuf[6 * 82];         /* 0xd00 */
	uint8_t pad8[0x1000 - 0xeec];
};

static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "boot_params layout");
static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0, "boot_params layout");
static_assert(offsetof(struct boot_params, ext_cmd_line_ptr) == 0x0c8, "boot_params layout");
static_assert(offsetof(struct boot_params, cc_blob_address) == 0x13c, "boot_params layout");
static_assert(offsetof(struct boot_params, alt_mem_k) == 0x1e0, "boot_params layout");
static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "boot_params layout");
static_assert(offsetof(struct boot_params, sentinel) == 0x1ef, "boot_params layout");
static_assert(offsetof(struct boot_params, hdr) == SETUP_HDR_OFFSET, "boot_params layout");
static_assert(offsetof(struct boot_params, edd_mbr_sig_buffer) == 0x290, "boot_params layout");
static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "boot_params layout");
static_assert(offsetof(struct boot_params, eddbuf) == 0xd00, "boot_params layout");
static_assert(sizeof(struct boot_params) == 0x1000, "boot_params size");

#endif
