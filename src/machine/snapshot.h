/* The snapshot file format: two files, the state file (everything but guest RAM, a few
 * hundred KiB) and the memory file (guest RAM, sparse). See docs/architecture.md,
 * "Snapshots", for the layout; machine.h for saving and restoring a machine with them.
 *
 * State file, all little-endian:
 *   header    "TRIVSNAP", u32 format version, u32 header length (SNAPSHOT_HEADER_LEN),
 *             the trivisor version (32 bytes, NUL-padded), the engine it was taken on
 *             (16 bytes), u64 guest RAM bytes, u32 vCPUs, u32 CRC-32 of the CPU model
 *             (the "cpuid" section), the memory file's id (16 random bytes) and u64
 *             digest of its content; zero padding to the header length
 *   sections  each: u8 name length, the name (1..SNAPSHOT_NAME_MAX-1 bytes of [a-z0-9._-]),
 *             u64 payload length, u32 CRC-32 of the payload, the payload (a snap.h
 *             stream); the last one is "end", empty
 *   trailer   u32 CRC-32 of every byte before it
 *
 * Memory file: a 4 KiB header ("TRIVMEM\0", u32 format version, u32 header length, the
 * id, u64 RAM bytes, u32 slot count, then per RAM slot u64 guest-physical address, u64
 * size, u64 file offset; u64 content digest; u32 CRC-32 of the header before it at
 * SNAPSHOT_MEM_HEADER - 4), then each slot's bytes at its offset, pages of zeros left as
 * holes. The digest covers every page that is not all zeros, with its position.
 *
 * A reader refuses, with a message naming the problem: another format version, a
 * truncated file, a bad checksum, an unknown, missing or repeated section, a section
 * whose content does not parse or is out of range, a memory file that does not belong
 * to the state file or does not match the machine. */
#ifndef TRIVISOR_MACHINE_SNAPSHOT_H
#define TRIVISOR_MACHINE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/snap.h"
#include "core/vm.h"

/* The version of the layout of the files and of every section's content. Any change to
 * what a section holds (a new field in struct cpu_state, a device register) bumps it;
 * a reader accepts exactly its own version. */
#define SNAPSHOT_FORMAT_VERSION 2      /* 2: the configuration's CPU model */
#define SNAPSHOT_HEADER_LEN     128
#define SNAPSHOT_NAME_MAX       48       /* a section name, its NUL included */
#define SNAPSHOT_MAX_SECTIONS   256
#define SNAPSHOT_MAX_FILE       (256u << 20)  /* a state file larger than this is refused */
#define SNAPSHOT_MEM_HEADER     4096
#define SNAPSHOT_ID_LEN         16

struct snapshot_header {
	uint32_t format;
	char version[32];                /* NUL-terminated */
	char engine[16];                 /* NUL-terminated */
	uint64_t mem_size;
	uint32_t ncpus;
	uint32_t cpuid_crc;
	uint8_t mem_id[SNAPSHOT_ID_LEN];
	uint64_t mem_digest;
};

/* -- writing ----------------------------------------------------------------------- */

/* Start a state file in w with header h. */
void snapshot_put_header(struct snap_writer *w, const struct snapshot_header *h);
/* Set the memory digest in the header of the finished state file in w (and so its
 * trailer): the state is taken first, at the moment the VM paused, and the memory file,
 * which yields the digest, written after it. */
void snapshot_set_mem_digest(struct snap_writer *w, uint64_t digest);
/* A section: begin writes its framing and returns where its payload starts; the payload
 * is then written into w; end fills in its length and checksum. */
size_t snapshot_section_begin(struct snap_writer *w, const char *name);
void snapshot_section_end(struct snap_writer *w, size_t start);
/* The "end" section and the trailer. */
void snapshot_finish(struct snap_writer *w);

/* -- reading ------------------------------------------------------------------------ */

struct snapshot_section {
	char name[SNAPSHOT_NAME_MAX];
	const uint8_t *data;
	size_t len;
	bool used;
};

struct snapshot_in {
	const char *what;                /* the file, for messages */
	uint8_t *buf;                    /* owned when read from a file */
	size_t len;
	struct snapshot_header h;
	struct snapshot_section sec[SNAPSHOT_MAX_SECTIONS];
	unsigned nsec;
};

/* Check and index a whole state file held in buf (not copied: it must outlive in).
 * what names it in messages. 0, or -EINVAL with e set. */
int snapshot_parse(struct snapshot_in *in, const void *buf, size_t len, const char *what,
                   struct err *e);
/* Read and parse the state file at path. */
int snapshot_read_file(struct snapshot_in *in, const char *path, struct err *e);
void snapshot_in_free(struct snapshot_in *in);

/* Set r up on section name and mark it used; -EINVAL "missing section" if there is none. */
int snapshot_open(struct snapshot_in *in, const char *name, struct snap_reader *r,
                  struct err *e);
bool snapshot_has(const struct snapshot_in *in, const char *name);
/* After a restore took what it needs: refuse a section nobody used. */
int snapshot_check_used(const struct snapshot_in *in, struct err *e);

/* -- the machine's configuration (section "config") ------------------------------------ */

/* What a snapshot keeps of struct vm_config: everything that shapes the machine the
 * guest sees, and the host backends to re-open (disk images by path, the network). */
void snapshot_put_config(struct snap_writer *w, const struct vm_config *cfg);

/* Storage for the strings a loaded configuration points at. */
struct snapshot_strings {
	char kernel[VM_DISK_PATH_MAX], initrd[VM_DISK_PATH_MAX], bios[VM_DISK_PATH_MAX];
	char append[65536];
};
/* Read it back into cfg (whose other fields are left alone), strings into s. Every
 * value is checked as the command line would be. */
int snapshot_get_config(struct snap_reader *r, struct vm_config *cfg, struct snapshot_strings *s);

/* -- the CPU model (section "cpuid") ------------------------------------------------------ */

void snapshot_put_cpuid(struct snap_writer *w, const struct cpuid_table *t);
/* Read a CPU model back (whole section); -EINVAL with the message in r->e. */
int snapshot_get_cpuid(struct snap_reader *r, struct cpuid_table *t);

/* -- the memory file ------------------------------------------------------------------ */

/* Write m's RAM slots to fd (an empty regular file), sparse; returns the digest through
 * *digest. 0 or -errno with e set. */
int snapshot_mem_write(const struct guest_mem *m, int fd, const uint8_t id[SNAPSHOT_ID_LEN],
                       uint64_t *digest, struct err *e);
/* Fill m's RAM from fd, which must be the memory file of the state file whose header is h
 * and match m's layout; every page is checked against the digest. what names the file. */
int snapshot_mem_read(struct guest_mem *m, int fd, const struct snapshot_header *h,
                      const char *what, struct err *e);
/* The same checks of the header, then each RAM slot mapped from the file, private and
 * copy-on-write: nothing is read until the guest touches it, so a restore takes a few
 * milliseconds, but the content is not checked against the digest, and the file must
 * stay as it is while the VM runs (the guest's writes never reach it). Not for RAM that
 * is a memfd (--soft-tier direct). */
int snapshot_mem_map(struct guest_mem *m, int fd, const struct snapshot_header *h,
                     const char *what, struct err *e);

#endif
