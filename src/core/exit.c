#include "exit.h"

const char *exit_reason_name(enum exit_reason r)
{
	static const char *const names[EXIT__COUNT] = {
		[EXIT_NONE] = "kick",           [EXIT_IO] = "io",
		[EXIT_MMIO] = "mmio",           [EXIT_HLT] = "hlt",
		[EXIT_SHUTDOWN] = "shutdown",   [EXIT_HYPERCALL] = "hypercall",
		[EXIT_DEBUG] = "debug",         [EXIT_SYSTEM_EVENT] = "system_event",
		[EXIT_INTERNAL_ERROR] = "internal_error", [EXIT_FAIL_ENTRY] = "fail_entry",
	};
	return (unsigned)r < EXIT__COUNT && names[r] ? names[r] : "unknown";
}
