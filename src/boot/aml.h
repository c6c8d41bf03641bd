/* A tiny AML builder (ACPI 6.x, chapter 20 "ACPI Machine Language Specification" and
 * 6.4 "Resource Data Types"), enough for the DSDT trivisor writes: names, integers,
 * strings, EISA IDs, packages, scopes, devices, and buffers of resource descriptors
 * (I/O, memory, bus numbers, interrupts).
 *
 * Objects with a PkgLength (scope, device, package, buffer) are opened, filled and
 * closed: aml_close encodes the length in as few bytes as it needs. Writes past the end
 * of the buffer are dropped and set `overflow`, so callers check once at the end. */
#ifndef TRIVISOR_BOOT_AML_H
#define TRIVISOR_BOOT_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_le(struct aml *a, uint64_t v, unsigned bytes);

/* NameString: "\\_SB_.PCI0", "_HID", "\\_S5"; segments shorter than 4 characters are
 * padded with '_'. */
void aml_name_string(struct aml *a, const char *path);
/* Integer constants: Zero, One, Byte/Word/DWord/QWord prefix, the shortest that fits. */
void aml_int(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* EISAID("PNP0A08"): the 32-bit compressed ID, as a DWordConst. */
void aml_eisaid(struct aml *a, const char id[7]);
uint32_t aml_eisaid_value(const char id[7]);

/* Name(path, <the data object the caller writes next>) */
void aml_name(struct aml *a, const char *path);

/* PkgLength-framed objects: open returns a handle for close. */
size_t aml_scope(struct aml *a, const char *path);
size_t aml_device(struct aml *a, const char *path);
size_t aml_package(struct aml *a, uint8_t nelems);
void aml_close(struct aml *a, size_t handle);
/* Buffer(){bytes}: the caller writes the bytes between these two. */
size_t aml_buffer(struct aml *a);
void aml_buffer_close(struct aml *a, size_t handle);

/* Resource descriptors (6.4), for a ResourceTemplate() buffer. Address space
 * descriptors are producers with fixed minimum and maximum (bridge windows). */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max);
void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max);
void aml_res_mem32_window(struct aml *a, uint32_t min, uint32_t max);
void aml_res_mem64_window(struct aml *a, uint64_t min, uint64_t max);
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len);
/* Extended Interrupt descriptor (6.4.3.6) for one GSI that the device consumes,
 * exclusively: Interrupt (ResourceConsumer, Level|Edge, ActiveHigh|ActiveLow,
 * Exclusive) { gsi } */
void aml_res_interrupt(struct aml *a, uint32_t gsi, bool edge, bool active_low);
void aml_res_end(struct aml *a);

/* PkgLength encoding of a length that counts itself: writes 1 to 4 bytes to out,
 * returns how many (0 if len cannot be encoded). */
unsigned aml_pkg_length(uint8_t out[4], size_t len_without_self);

#endif
