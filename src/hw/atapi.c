/* ATAPI CD-ROM commands (see atapi.h), from SPC-3 and MMC-3. Every reply is cut to
 * the command's allocation length; the PRDs must hold what is sent. */
#include "atapi.h"

#include <string.h>

/* Operation codes */
enum {
	TEST_UNIT_READY = 0x00, REQUEST_SENSE = 0x03, INQUIRY = 0x12, MODE_SENSE_6 = 0x1a,
	START_STOP_UNIT = 0x1b, PREVENT_ALLOW = 0x1e, READ_CAPACITY = 0x25, READ_10 = 0x28,
	SEEK_10 = 0x2b, READ_TOC = 0x43, GET_CONFIGURATION = 0x46, GET_EVENT_STATUS = 0x4a,
	MODE_SENSE_10 = 0x5a, READ_12 = 0xa8, SET_CD_SPEED = 0xbb, MECHANISM_STATUS = 0xbd,
};

/* Additional sense codes */
#define ASC_INVALID_OPCODE   0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD    0x24
#define ASC_SAVING_PARAMS    0x39
#define ASC_NO_MEDIUM        0x3a
#define ASC_DATA_PHASE       0x4b
#define ASC_REMOVAL_PREVENTED 0x53
#define ASC_READ_ERROR       0x11

#define PROFILE_CDROM 0x0008

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v) { put_be16(p, (uint16_t)(v >> 16)); put_be16(p + 2, (uint16_t)v); }

void atapi_identify(const struct ahci_port *p, uint16_t id[256])
{
	memset(id, 0, 512);
	id[0] = 0x85c0;                 /* ATAPI, CD-ROM, removable, 50 us DRQ, 12-byte packets */
	ahci_id_string(&id[10], p->serial, 20);
	ahci_id_string(&id[23], "1.0", 8);
	ahci_id_string(&id[27], "trivisor CD-ROM", 40);
	id[49] = 0x0b00;                /* IORDY, LBA, DMA */
	id[53] = 0x0006;
	ahci_id_dma_modes(p, id);
	id[64] = 0x0003;
	id[65] = id[66] = id[67] = id[68] = 120;
	id[76] = 0x000e;
	id[80] = 0x01f0;
	id[82] = 0x4218;                /* NOP, DEVICE RESET, PACKET, power management */
	id[83] = 0x4000;
	id[84] = 0x4000;
	id[85] = 0x4218;
	id[87] = 0x4000;
	ahci_id_checksum(id);
}

/* CHECK CONDITION with this sense. */
static void check(struct ahci_cmd *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
	c->p->sense = (struct atapi_sense){ key, asc, ascq };
	ahci_cmd_fail(c, (uint8_t)(key << 4 | (key == SENSE_ILLEGAL_REQUEST ? ATA_ER_ABRT : 0)));
}

static void good(struct ahci_cmd *c)
{
	c->status = ATA_ST_DRDY;
	c->error = 0;
}

/* Send the first min(len, alloc) bytes of buf. */
static bool reply(struct ahci_cmd *c, const uint8_t *buf, uint32_t len, uint32_t alloc)
{
	uint32_t n = len < alloc ? len : alloc;
	if (ahci_dma_buf(c, (void *)buf, n, true) != AHCI_XFER_OK) {
		ahci_cmd_malformed(c);
		c->p->sense = (struct atapi_sense){ SENSE_ABORTED_COMMAND, ASC_DATA_PHASE, 0 };
		c->error |= SENSE_ABORTED_COMMAND << 4;
		return false;
	}
	good(c);
	return true;
}

static bool need_medium(struct ahci_cmd *c)
{
	if (c->p->medium)
		return true;
	check(c, SENSE_NOT_READY, ASC_NO_MEDIUM, 0);
	return false;
}

static void request_sense(struct ahci_cmd *c)
{
	uint8_t b[18] = { 0x70 };       /* current error, fixed format */
	b[2] = c->p->sense.key;
	b[7] = 10;
	b[12] = c->p->sense.asc;
	b[13] = c->p->sense.ascq;
	if (reply(c, b, sizeof(b), c->acmd[4]))
		c->p->sense = (struct atapi_sense){ 0 };
}

static void inquiry(struct ahci_cmd *c)
{
	const uint8_t *cdb = c->acmd;
	uint8_t b[36] = { 0x05, 0x80 }; /* CD/DVD, removable */
	uint32_t len = sizeof(b);

	if (cdb[1] & 1) {               /* vital product data */
		const char *serial = c->p->serial;
		size_t sl = strlen(serial);
		memset(b, 0, sizeof(b));
		b[0] = 0x05;
		b[1] = cdb[2];
		if (cdb[2] == 0x00) {           /* supported pages */
			b[3] = 2;
			b[5] = 0x80;
			len = 6;
		} else if (cdb[2] == 0x80) {    /* unit serial number */
			b[3] = (uint8_t)sl;
			memcpy(b + 4, serial, sl);
			len = 4 + (uint32_t)sl;
		} else {
			check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
			return;
		}
	} else if (cdb[2]) {
		check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
		return;
	} else {
		b[2] = 0x05;                    /* SPC-3 */
		b[3] = 0x02;                    /* response data format */
		b[4] = sizeof(b) - 5;
		memcpy(b + 8, "trivisor", 8);
		memcpy(b + 16, "CD-ROM          ", 16);
		memcpy(b + 32, "1.0 ", 4);
	}
	reply(c, b, len, be16(cdb + 3));
}

static void read_capacity(struct ahci_cmd *c)
{
	uint8_t b[8];
	if (!need_medium(c))
		return;
	uint64_t last = c->p->blocks ? c->p->blocks - 1 : 0;
	put_be32(b, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	put_be32(b + 4, ATAPI_BLOCK);
	reply(c, b, sizeof(b), sizeof(b));
}

static void read_blocks(struct ahci_cmd *c, uint32_t lba, uint32_t n)
{
	struct ahci_port *p = c->p;
	if (!need_medium(c))
		return;
	if (lba > p->blocks || n > p->blocks - lba) {
		check(c, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
		return;
	}
	if (n > ATAPI_MAX_BLOCKS) {
		check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
		return;
	}
	switch (ahci_dma_disk(c, (uint64_t)lba * ATAPI_BLOCK, (uint64_t)n * ATAPI_BLOCK, false)) {
	case AHCI_XFER_MALFORMED:
		ahci_cmd_malformed(c);
		p->sense = (struct atapi_sense){ SENSE_ABORTED_COMMAND, ASC_DATA_PHASE, 0 };
		c->error |= SENSE_ABORTED_COMMAND << 4;
		return;
	case AHCI_XFER_IO_ERROR:
		p->st.io_errors++;
		check(c, SENSE_MEDIUM_ERROR, ASC_READ_ERROR, 0);
		return;
	case AHCI_XFER_OK:
		break;
	}
	p->st.sectors_read += n;
	good(c);
}

/* One TOC track descriptor at b: control 4 (data), address as LBA or MSF. */
static unsigned toc_entry(uint8_t *b, uint8_t track, uint32_t lba, bool msf)
{
	memset(b, 0, 8);
	b[1] = 0x14;
	b[2] = track;
	if (msf) {
		uint32_t f = lba + 150;         /* the 2-second pregap */
		b[5] = (uint8_t)(f / (75 * 60));
		b[6] = (uint8_t)(f / 75 % 60);
		b[7] = (uint8_t)(f % 75);
	} else {
		put_be32(b + 4, lba);
	}
	return 8;
}

/* READ TOC/PMA/ATIP: format 0 (the TOC: track 1, lead-out) and 1 (session info). */
static void read_toc(struct ahci_cmd *c)
{
	const uint8_t *cdb = c->acmd;
	bool msf = cdb[1] & 2;
	unsigned format = cdb[2] & 0xf, start = cdb[6], n = 4;
	uint8_t b[4 + 2 * 8] = { 0, 0, 1, 1 };
	uint32_t end = c->p->blocks > 0xffffffffu ? 0xffffffffu : (uint32_t)c->p->blocks;

	if (!need_medium(c))
		return;
	if (format == 0 && cdb[9] >> 6)  /* the older place of the format field */
		format = cdb[9] >> 6;
	if (format == 0) {
		if (start > 1 && start != 0xaa) {
			check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
			return;
		}
		if (start <= 1)
			n += toc_entry(b + n, 1, 0, msf);
		n += toc_entry(b + n, 0xaa, end, msf);
	} else if (format == 1) {
		n += toc_entry(b + n, 1, 0, msf);
	} else {
		check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
		return;
	}
	put_be16(b, (uint16_t)(n - 2));
	reply(c, b, n, be16(cdb + 7));
}

/* Mode pages: read error recovery (01h) and capabilities (2Ah); changeable values
 * (page control 1) are all zero. Returns the bytes written, 0 for an unknown page. */
static unsigned mode_page(const struct ahci_port *p, uint8_t *b, unsigned page, bool zero)
{
	unsigned n;
	if (page == 0x01) {
		n = 12;
		memset(b, 0, n);
		b[1] = 10;
		if (!zero)
			b[3] = 5;                       /* read retry count */
	} else if (page == 0x2a) {
		n = 22;
		memset(b, 0, n);
		b[1] = 20;
		if (!zero) {
			b[4] = 0x71;                    /* audio play, mode 2 form 1/2, multisession */
			b[6] = 0x29;                    /* tray, eject, lock */
			b[6] |= p->locked ? 0x02 : 0;   /* lock state */
			put_be16(b + 8, 2816);          /* 16x, kB/s */
			put_be16(b + 10, 256);          /* volume levels */
			put_be16(b + 12, 512);          /* buffer KiB */
			put_be16(b + 14, 2816);
		}
	} else {
		return 0;
	}
	b[0] = (uint8_t)page;
	return n;
}

static void mode_sense(struct ahci_cmd *c, bool ten)
{
	const uint8_t *cdb = c->acmd;
	unsigned pc = cdb[2] >> 6, page = cdb[2] & 0x3f, hdr = ten ? 8 : 4, n = hdr;
	uint8_t b[8 + 12 + 22];

	if (pc == 3) {
		check(c, SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMS, 0);
		return;
	}
	memset(b, 0, sizeof(b));
	if (page == 0x3f) {
		n += mode_page(c->p, b + n, 0x01, pc == 1);
		n += mode_page(c->p, b + n, 0x2a, pc == 1);
	} else {
		unsigned k = mode_page(c->p, b + n, page, pc == 1);
		if (!k) {
			check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
			return;
		}
		n += k;
	}
	if (ten)
		put_be16(b, (uint16_t)(n - 2));
	else
		b[0] = (uint8_t)(n - 1);
	reply(c, b, n, ten ? be16(cdb + 7) : cdb[4]);
}

/* GET CONFIGURATION: the profile list (CD-ROM), core, morphing, removable medium,
 * random readable and CD read features; RT 0 all, 1 current ones, 2 just one. */
static void get_configuration(struct ahci_cmd *c)
{
	const uint8_t *cdb = c->acmd;
	bool medium = c->p->medium;
	unsigned rt = cdb[1] & 3, start = be16(cdb + 2), n = 8;
	struct feature {
		uint16_t code;
		bool current;
		uint8_t len;
		uint8_t data[8];
	} f[] = {
		{ 0x0000, true, 4, { PROFILE_CDROM >> 8, PROFILE_CDROM & 0xff, medium } },
		{ 0x0001, true, 8, { 0, 0, 0, 2 } },            /* ATAPI */
		{ 0x0002, true, 4, { 0 } },
		{ 0x0003, true, 4, { 0x29 } },                  /* tray, eject, lock */
		{ 0x0010, medium, 8, { 0, 0, ATAPI_BLOCK >> 8, 0, 0, 1 } },
		{ 0x001e, medium, 4, { 0 } },
	};
	uint8_t b[8 + 6 * 12] = { 0 };

	if (rt == 3) {
		check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
		return;
	}
	for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].code < start || (rt == 1 && !f[i].current) || (rt == 2 && f[i].code != start))
			continue;
		put_be16(b + n, f[i].code);
		b[n + 2] = (uint8_t)((f[i].code <= 0x0001 ? 0x02 : 0) | f[i].current);
		if (f[i].code == 0x0001)
			b[n + 2] |= 0x04;               /* version 1 */
		b[n + 3] = f[i].len;
		memcpy(b + n + 4, f[i].data, f[i].len);
		n += 4u + f[i].len;
	}
	put_be32(b, n - 4);
	put_be16(b + 6, medium ? PROFILE_CDROM : 0);
	reply(c, b, n, be16(cdb + 7));
}

/* GET EVENT STATUS NOTIFICATION, polled only: the media class, never an event. */
static void get_event_status(struct ahci_cmd *c)
{
	const uint8_t *cdb = c->acmd;
	uint8_t b[8] = { 0 };
	unsigned n = 4;

	if (!(cdb[1] & 1)) {
		check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
		return;
	}
	b[3] = 0x10;                        /* supported classes: media */
	if (cdb[4] & 0x10) {
		b[2] = 0x04;
		b[5] = c->p->medium ? 0x02 : 0; /* media present, tray closed */
		n = 8;
	} else {
		b[2] = 0x80;                    /* no event available */
	}
	put_be16(b, (uint16_t)(n - 2));
	reply(c, b, n, be16(cdb + 7));
}

void atapi_packet(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	const uint8_t *cdb = c->acmd;
	uint8_t b[8] = { 0 };

	c->count = 3;                       /* interrupt reason: I/O, C/D (done) */
	if (cdb[0] != REQUEST_SENSE)
		p->sense = (struct atapi_sense){ 0 };
	switch (cdb[0]) {
	case TEST_UNIT_READY:
		if (need_medium(c))
			good(c);
		return;
	case REQUEST_SENSE:
		request_sense(c);
		return;
	case INQUIRY:
		inquiry(c);
		return;
	case READ_CAPACITY:
		read_capacity(c);
		return;
	case READ_10:
		read_blocks(c, be32(cdb + 2), be16(cdb + 7));
		return;
	case READ_12:
		read_blocks(c, be32(cdb + 2), be32(cdb + 6));
		return;
	case MODE_SENSE_6:
	case MODE_SENSE_10:
		mode_sense(c, cdb[0] == MODE_SENSE_10);
		return;
	case GET_CONFIGURATION:
		get_configuration(c);
		return;
	case READ_TOC:
		read_toc(c);
		return;
	case GET_EVENT_STATUS:
		get_event_status(c);
		return;
	case PREVENT_ALLOW:
		p->locked = cdb[4] & 1;
		good(c);
		return;
	case START_STOP_UNIT:
		/* Eject (LoEj without Start) is refused while locked; otherwise nothing moves. */
		if ((cdb[4] & 3) == 2 && p->locked)
			check(c, SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, 2);
		else
			good(c);
		return;
	case MECHANISM_STATUS:
		reply(c, b, sizeof(b), be16(cdb + 8));
		return;
	case SEEK_10:
	case SET_CD_SPEED:
		good(c);
		return;
	default:
		check(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
		return;
	}
}
