/* The libslirp backend without a guest: an ARP request for the gateway sent through
 * the backend's queue is answered on the slirp thread; a port forward that cannot bind
 * is an error naming the port; teardown stops the thread. */
#include "vtest.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "host/slirp.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static uint8_t reply[128];
static size_t reply_len;
static unsigned frames;

static void receive(void *opaque, const uint8_t *frame, size_t len)
{
	pthread_mutex_lock(&lock);
	if (len <= sizeof(reply) && frame[12] == 0x08 && frame[13] == 0x06) {
		memcpy(reply, frame, len);
		reply_len = len;
	}
	frames++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

int main(void)
{
	struct err e;
	struct net_backend *be;
	struct vm *vm = vt_vm(4 * MiB);
	struct vm_net_config cfg = { .backend = VM_NET_USER };

	CHECK_EQ(slirp_net_create(vm, &cfg, receive, NULL, &be, &e), 0);

	uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	memcpy(arp + 6, mac, 6);
	arp[12] = 0x08, arp[13] = 0x06;                       /* ARP */
	arp[15] = 1, arp[16] = 0x08, arp[18] = 6, arp[19] = 4; /* Ethernet, IPv4 */
	arp[21] = 1;                                          /* request */
	memcpy(arp + 22, mac, 6);
	memcpy(arp + 28, "\x0a\x00\x02\x0f", 4);              /* from 10.0.2.15 */
	memcpy(arp + 38, "\x0a\x00\x02\x02", 4);              /* who has 10.0.2.2? */
	CHECK_EQ(be->send(be, arp, sizeof(arp)), 0);

	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&lock);
	while (!reply_len && pthread_cond_timedwait(&cond, &lock, &until) == 0)
		;
	pthread_mutex_unlock(&lock);
	CHECK(reply_len >= 42);
	CHECK(memcmp(reply, mac, 6) == 0);                    /* to us */
	CHECK_EQ(reply[21], 2);                               /* a reply */
	CHECK(memcmp(reply + 28, "\x0a\x00\x02\x02", 4) == 0); /* 10.0.2.2 is at ... */
	CHECK(memcmp(reply + 38, "\x0a\x00\x02\x0f", 4) == 0);
	vt_vm_free(vm);

	/* A forward from a port already taken. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ(listen(s, 1), 0);
	CHECK_EQ(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	vm = vt_vm(4 * MiB);
	cfg.nfwd = 1;
	cfg.fwd[0] = (struct vm_hostfwd){ .host_addr = htonl(INADDR_LOOPBACK), .host_port = ntohs(a.sin_port),
	                                  .guest_addr = htonl(0x0a00020f), .guest_port = 80 };
	CHECK(slirp_net_create(vm, &cfg, receive, NULL, &be, &e) < 0);
	char port[16];
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	CHECK(strstr(e.msg, port) != NULL);
	vt_vm_free(vm);
	close(s);
	return check_done();
}
