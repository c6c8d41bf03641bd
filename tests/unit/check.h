/* A tiny unit-test harness: CHECK() records failures with file:line and keeps going;
 * check_done() prints "N passed, N failed" for this executable and returns the exit code. */
#ifndef TRIVISOR_CHECK_H
#define TRIVISOR_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned check_pass_, check_fail_;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (cond) {                                                      \
			check_pass_++;                                           \
		} else {                                                         \
			check_fail_++;                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,   \
			        __LINE__, #cond);                                \
		}                                                                \
	} while (0)

#define CHECK_EQ(a, b)                                                           \
	do {                                                                     \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                 \
		if (a_ == b_) {                                                  \
			check_pass_++;                                           \
		} else {                                                         \
			check_fail_++;                                           \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s "      \
			        "(0x%" PRIx64 " != 0x%" PRIx64 ")\n", __FILE__,  \
			        __LINE__, #a, #b, a_, b_);                       \
		}                                                                \
	} while (0)

#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

/* One xorshift64 step: random tests with a fixed seed, so a failure reproduces. */
static inline uint64_t check_xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static inline int check_done(void)
{
	printf("%u passed, %u failed\n", check_pass_, check_fail_);
	return check_fail_ ? 1 : 0;
}

#endif
