/* The ATAPI CD-ROM behind an AHCI port: IDENTIFY PACKET DEVICE and the PACKET command
 * (SPC-3 and MMC-3 subsets: TEST UNIT READY, REQUEST SENSE, INQUIRY, READ CAPACITY,
 * READ(10/12), MODE SENSE(6/10), GET CONFIGURATION, READ TOC, GET EVENT STATUS
 * NOTIFICATION, PREVENT ALLOW MEDIUM REMOVAL, START STOP UNIT, MECHANISM STATUS).
 * Errors are CHECK CONDITION: ERR in the status, the sense key in the error
 * register's high nibble, and fixed-format sense data kept per port until the next
 * command (REQUEST SENSE reads it). */
#ifndef TRIVISOR_HW_ATAPI_H
#define TRIVISOR_HW_ATAPI_H

#include <stdint.h>

#include "ahci.h"

#define ATAPI_BLOCK 2048
/* The most blocks one READ may move (128 MiB): bounds the work of one command. */
#define ATAPI_MAX_BLOCKS 0x10000u

/* Sense keys (SPC-3 4.5.6) */
#define SENSE_NONE            0x00
#define SENSE_NOT_READY       0x02
#define SENSE_MEDIUM_ERROR    0x03
#define SENSE_ILLEGAL_REQUEST 0x05
#define SENSE_ABORTED_COMMAND 0x0b

/* Fill the 256 words of IDENTIFY PACKET DEVICE. */
void atapi_identify(const struct ahci_port *p, uint16_t id[256]);
/* Run the packet in c->acmd; sets c's status and error. */
void atapi_packet(struct ahci_cmd *c);

#endif
