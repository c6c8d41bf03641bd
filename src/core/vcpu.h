/* A vCPU thread is an explicit state machine. Other threads never poke its fields:
 * they post a request (pause/resume/stop) and kick; the vCPU thread acts on it between
 * runs. */
#ifndef TRIVISOR_VCPU_H
#define TRIVISOR_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpuid.h"
#include "exit.h"
#include "stats.h"

enum vcpu_state { VCPU_CREATED, VCPU_RUNNING, VCPU_PAUSED, VCPU_STOPPED };
enum vcpu_request { VCPU_REQ_NONE, VCPU_REQ_PAUSE, VCPU_REQ_RESUME, VCPU_REQ_STOP };

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned id;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock;     /* protects state and request */
	pthread_cond_t cond;
	enum vcpu_state state;
	_Atomic int request;      /* enum vcpu_request; read lock-free on the hot path */

	struct cpuid_table cpuid; /* this vCPU's CPUID table (APIC IDs differ) */
	struct vcpu_stats stats;  /* written by the vCPU thread only */
	void *engine_data;        /* owned by the engine */
};

/* Initialise the synchronisation fields (before the engine's vcpu_init). */
void vcpu_setup(struct vcpu *v, struct vm *vm, unsigned id);
void vcpu_cleanup(struct vcpu *v);
int vcpu_start(struct vcpu *v, struct err *e);
/* Post a request and kick the vCPU out of the engine. */
void vcpu_post(struct vcpu *v, enum vcpu_request req);
/* Wait until the vCPU reaches state (or STOPPED). */
void vcpu_wait_state(struct vcpu *v, enum vcpu_state st);
void vcpu_join(struct vcpu *v);

#endif
