#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "engine/engine.h"
#include "log.h"
#include "vm.h"

void vcpu_setup(struct vcpu *v, struct vm *vm, unsigned id)
{
	v->vm = vm;
	v->id = id;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	v->state = VCPU_CREATED;
	atomic_store(&v->request, VCPU_REQ_NONE);
}

void vcpu_cleanup(struct vcpu *v)
{
	pthread_mutex_destroy(&v->lock);
	pthread_cond_destroy(&v->cond);
}

static void set_state(struct vcpu *v, enum vcpu_state st)
{
	pthread_mutex_lock(&v->lock);
	v->state = st;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

/* Act on a posted request. Returns false when the thread must end. */
static bool handle_request(struct vcpu *v)
{
	bool keep_running = true;

	pthread_mutex_lock(&v->lock);
	for (;;) {
		int req = atomic_exchange(&v->request, VCPU_REQ_NONE);
		if (req == VCPU_REQ_STOP) {
			keep_running = false;
			/* Keep STOP sticky so a later RESUME cannot revive the thread. */
			atomic_store(&v->request, VCPU_REQ_STOP);
			break;
		}
		if (req == VCPU_REQ_PAUSE) {
			v->state = VCPU_PAUSED;
			pthread_cond_broadcast(&v->cond);
			while (atomic_load(&v->request) == VCPU_REQ_NONE)
				pthread_cond_wait(&v->cond, &v->lock);
			continue;
		}
		/* NONE or RESUME */
		v->state = VCPU_RUNNING;
		pthread_cond_broadcast(&v->cond);
		break;
	}
	pthread_mutex_unlock(&v->lock);
	return keep_running;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct vm_exit exit;
	struct err e = { "" };

	set_state(v, VCPU_RUNNING);
	for (;;) {
		if (atomic_load_explicit(&v->request, memory_order_acquire) != VCPU_REQ_NONE &&
		    !handle_request(v))
			break;

		uint64_t t0 = now_ns();
		memset(&exit, 0, sizeof(exit));
		int r = vm->engine->vcpu_run(v, &exit, &e);
		uint64_t t1 = now_ns();
		v->stats.ns_in_guest += t1 - t0;
		if (r < 0) {
			vm_request_stop(vm, VM_STOP_ERROR, VM_STATUS_ERROR, "vCPU %u: %s", v->id, e.msg);
			break;
		}
		int stop = vm_handle_exit(vm, v, &exit);
		v->stats.ns_in_core += now_ns() - t1;
		if (stop)
			break;
	}
	set_state(v, VCPU_STOPPED);
	return NULL;
}

int vcpu_start(struct vcpu *v, struct err *e)
{
	int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (r)
		return err_set(e, r, "cannot start vCPU %u thread: %s", v->id, strerror(r));
	v->thread_started = true;
	return 0;
}

void vcpu_post(struct vcpu *v, enum vcpu_request req)
{
	pthread_mutex_lock(&v->lock);
	if (atomic_load(&v->request) != VCPU_REQ_STOP)
		atomic_store_explicit(&v->request, req, memory_order_release);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	if (v->vm->engine)
		v->vm->engine->vcpu_kick(v);
}

void vcpu_wait_state(struct vcpu *v, enum vcpu_state st)
{
	pthread_mutex_lock(&v->lock);
	while (v->state != st && v->state != VCPU_STOPPED)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

void vcpu_join(struct vcpu *v)
{
	if (v->thread_started) {
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
}
