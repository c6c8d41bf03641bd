/* The one exit structure: everything that leaves an engine and needs the core. Each
 * engine converts its native exits into this; vm_handle_exit() dispatches it. */
#ifndef TRIVISOR_EXIT_H
#define TRIVISOR_EXIT_H

#include <stdint.h>

enum exit_reason {
	EXIT_NONE = 0,      /* engine returned without needing the core (e.g. kicked) */
	EXIT_IO,            /* port I/O */
	EXIT_MMIO,          /* access to guest-physical space that is not RAM */
	EXIT_HLT,           /* guest halted with nothing to do (soft engine, or kvm without irqchip) */
	EXIT_SHUTDOWN,      /* triple fault */
	EXIT_HYPERCALL,
	EXIT_DEBUG,
	EXIT_SYSTEM_EVENT,  /* engine-level reset / power-off request */
	EXIT_INTERNAL_ERROR,/* the engine could not continue (emulation failure, bad state) */
	EXIT_FAIL_ENTRY,    /* hardware refused to enter the guest */
	EXIT__COUNT
};

const char *exit_reason_name(enum exit_reason r);

struct vm_exit {
	enum exit_reason reason;
	union {
		struct {
			uint16_t port;
			uint8_t size;      /* 1, 2 or 4 */
			uint8_t is_write;
			uint32_t count;    /* >1 for string I/O (REP INS/OUTS) */
			uint8_t *data;     /* count*size bytes, owned by the engine */
		} io;
		struct {
			uint64_t gpa;
			uint8_t size;      /* 1..8 */
			uint8_t is_write;
			uint8_t *data;     /* 8 bytes owned by the engine: written bytes, or
			                      the read result the core fills in */
		} mmio;
		struct {
			uint64_t nr;
			uint64_t args[5];
			uint64_t ret;      /* set by the core */
		} hypercall;
		struct {
			uint32_t type;     /* SYSTEM_EVENT_* */
		} system_event;
		struct {
			uint64_t code;     /* engine specific (hardware entry failure reason, ...) */
			char msg[96];
		} error;
	};
};

enum { SYSTEM_EVENT_POWEROFF = 1, SYSTEM_EVENT_RESET = 2, SYSTEM_EVENT_CRASH = 3 };

#endif
