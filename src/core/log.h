/* Logging with levels and categories; cheap when off. Messages carry file:line. */
#ifndef TRIVISOR_LOG_H
#define TRIVISOR_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Process-wide verbosity chosen by the front end (the only global besides main's). */
extern enum log_level log_threshold;

void log_emit(enum log_level lvl, const char *cat, const char *file, int line,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define LOG_AT(lvl, cat, ...)                                                  \
	do {                                                                   \
		if ((lvl) <= log_threshold)                                    \
			log_emit((lvl), (cat), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)
#define log_err(cat, ...)   LOG_AT(LOG_ERROR, cat, __VA_ARGS__)
#define log_warn(cat, ...)  LOG_AT(LOG_WARN, cat, __VA_ARGS__)
#define log_info(cat, ...)  LOG_AT(LOG_INFO, cat, __VA_ARGS__)
#define log_debug(cat, ...) LOG_AT(LOG_DEBUG, cat, __VA_ARGS__)

#endif
