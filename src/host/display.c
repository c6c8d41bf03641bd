/* The VGA's host side: a thread that copies the text screen out of the adapter at most
 * DISPLAY_FPS times a second, redraws the terminal rows that changed, keeps the dump
 * file current, and turns the terminal's bytes into PS/2 scancodes. */
#include "display.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stats.h"
#include "core/vm.h"
#include "host/console.h"

/* -- code page 437 -------------------------------------------------------------------- */

/* Unicode for the glyphs of code page 437 outside printable ASCII (0x00 and 0xFF, a
 * blank and a no-break space on the screen, become plain spaces). */
static const uint16_t cp437_low[32] = {
	0x0020, 0x263a, 0x263b, 0x2665, 0x2666, 0x2663, 0x2660, 0x2022,
	0x25d8, 0x25cb, 0x25d9, 0x2642, 0x2640, 0x266a, 0x266b, 0x263c,
	0x25ba, 0x25c4, 0x2195, 0x203c, 0x00b6, 0x00a7, 0x25ac, 0x21a8,
	0x2191, 0x2193, 0x2192, 0x2190, 0x221f, 0x2194, 0x25b2, 0x25bc,
};
static const uint16_t cp437_high[129] = {
	0x2302, /* 0x7F */
	0x00c7, 0x00fc, 0x00e9, 0x00e2, 0x00e4, 0x00e0, 0x00e5, 0x00e7,
	0x00ea, 0x00eb, 0x00e8, 0x00ef, 0x00ee, 0x00ec, 0x00c4, 0x00c5,
	0x00c9, 0x00e6, 0x00c6, 0x00f4, 0x00f6, 0x00f2, 0x00fb, 0x00f9,
	0x00ff, 0x00d6, 0x00dc, 0x00a2, 0x00a3, 0x00a5, 0x20a7, 0x0192,
	0x00e1, 0x00ed, 0x00f3, 0x00fa, 0x00f1, 0x00d1, 0x00aa, 0x00ba,
	0x00bf, 0x2310, 0x00ac, 0x00bd, 0x00bc, 0x00a1, 0x00ab, 0x00bb,
	0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556,
	0x2555, 0x2563, 0x2551, 0x2557, 0x255d, 0x255c, 0x255b, 0x2510,
	0x2514, 0x2534, 0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f,
	0x255a, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256c, 0x2567,
	0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256b,
	0x256a, 0x2518, 0x250c, 0x2588, 0x2584, 0x258c, 0x2590, 0x2580,
	0x03b1, 0x00df, 0x0393, 0x03c0, 0x03a3, 0x03c3, 0x00b5, 0x03c4,
	0x03a6, 0x0398, 0x03a9, 0x03b4, 0x221e, 0x03c6, 0x03b5, 0x2229,
	0x2261, 0x00b1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00f7, 0x2248,
	0x00b0, 0x2219, 0x00b7, 0x221a, 0x207f, 0x00b2, 0x25a0, 0x0020,
};

/* The UTF-8 of character c (1 to 3 bytes) at out; returns its length. */
static size_t cp437_utf8(uint8_t c, char *out)
{
	uint16_t u = c < 0x20 ? cp437_low[c] : c < 0x7f ? c : cp437_high[c - 0x7f];
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | u >> 12);
	out[1] = (char)(0x80 | (u >> 6 & 0x3f));
	out[2] = (char)(0x80 | (u & 0x3f));
	return 3;
}

static bool blank(uint8_t c)
{
	return c == 0x00 || c == 0x20 || c == 0xff;
}

/* -- the text dump -------------------------------------------------------------------- */

size_t display_format_text(const struct vga_text *t, char *buf, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return 0;
	if (t->graphics) {
		int k = snprintf(buf, cap, "[graphics mode %ux%ux%u]\n", t->gfx_width, t->gfx_height,
		                 t->gfx_bpp);
		return k < 0 ? 0 : (size_t)k < cap ? (size_t)k : cap - 1;
	}
	unsigned rows = t->rows <= VGA_TEXT_MAX_ROWS ? t->rows : VGA_TEXT_MAX_ROWS;
	unsigned cols = t->cols <= VGA_TEXT_MAX_COLS ? t->cols : VGA_TEXT_MAX_COLS;
	for (unsigned r = 0; r < rows; r++) {
		unsigned end = cols;
		while (end > 0 && blank(t->ch[r][end - 1]))
			end--;
		for (unsigned c = 0; c < end; c++) {
			char u[3];
			size_t k = cp437_utf8(t->ch[r][c], u);
			if (n + k + 1 > cap)
				return n;
			memcpy(buf + n, u, k);
			n += k;
		}
		if (n + 1 > cap)
			return n;
		buf[n++] = '\n';
	}
	return n;
}

int display_dump_text(const struct vga_text *t, const char *path, struct err *e)
{
	char *text = malloc(DISPLAY_TEXT_MAX);
	char *tmp = NULL;
	int fd = -1, r = 0;

	if (!text || asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		r = err_set(e, ENOMEM, "screen dump: out of memory");
		goto out;
	}
	size_t len = display_format_text(t, text, DISPLAY_TEXT_MAX);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = err_set(e, errno, "screen dump: cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = err_set(e, w < 0 ? errno : EIO, "screen dump: cannot write %s", tmp);
			unlink(tmp);
			goto out;
		}
		done += (size_t)w;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = err_set(e, errno, "screen dump: cannot write %s", tmp);
		unlink(tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = err_set(e, errno, "screen dump: cannot rename %s to %s: %s", tmp, path,
		            strerror(errno));
		unlink(tmp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(text);
	return r;
}

/* -- keys ----------------------------------------------------------------------------- */

enum { MOD_SHIFT = 1, MOD_ALT = 2, MOD_CTRL = 4 };
#define SC_ESC       0x01
#define SC_BACKSPACE 0x0e
#define SC_TAB       0x0f
#define SC_ENTER     0x1c
#define SC_LCTRL     0x1d
#define SC_LSHIFT    0x2a
#define SC_LALT      0x38
#define SC_SPACE     0x39
#define SC_F1        0x3b      /* F1-F10: 0x3B-0x44 */
#define SC_F11       0x57
#define SC_F12       0x58
#define SC_EXT       0x100     /* an 0xE0-prefixed key */
#define SC_UP        (SC_EXT | 0x48)
#define SC_DOWN      (SC_EXT | 0x50)
#define SC_LEFT      (SC_EXT | 0x4b)
#define SC_RIGHT     (SC_EXT | 0x4d)
#define SC_HOME      (SC_EXT | 0x47)
#define SC_END       (SC_EXT | 0x4f)
#define SC_PGUP      (SC_EXT | 0x49)
#define SC_PGDN      (SC_EXT | 0x51)
#define SC_INSERT    (SC_EXT | 0x52)
#define SC_DELETE    (SC_EXT | 0x53)

/* The US layout's rows: the key at position i of a row has scancode base + i; the
 * shifted row gives the characters typed with Shift. */
static const struct {
	uint8_t base;
	const char *plain, *shifted;
} key_rows[] = {
	{ 0x02, "1234567890-=", "!@#$%^&*()_+" },
	{ 0x10, "qwertyuiop[]", "QWERTYUIOP{}" },
	{ 0x1e, "asdfghjkl;'`", "ASDFGHJKL:\"~" },
	{ 0x2b, "\\zxcvbnm,./", "|ZXCVBNM<>?" },
};

/* The key and modifiers that type ASCII character ch, or 0. */
static unsigned ascii_key(uint8_t ch, unsigned *mods)
{
	if (ch == ' ')
		return SC_SPACE;
	for (size_t r = 0; r < sizeof(key_rows) / sizeof(key_rows[0]); r++) {
		const char *p = ch ? strchr(key_rows[r].plain, ch) : NULL;
		if (p)
			return key_rows[r].base + (unsigned)(p - key_rows[r].plain);
		p = ch ? strchr(key_rows[r].shifted, ch) : NULL;
		if (p) {
			*mods |= MOD_SHIFT;
			return key_rows[r].base + (unsigned)(p - key_rows[r].shifted);
		}
	}
	return 0;
}

/* Press and release key with mods held around it: at most 10 bytes. */
static size_t emit(uint8_t *out, unsigned key, unsigned mods)
{
	size_t n = 0;
	if (!key)
		return 0;
	if (mods & MOD_CTRL)
		out[n++] = SC_LCTRL;
	if (mods & MOD_ALT)
		out[n++] = SC_LALT;
	if (mods & MOD_SHIFT)
		out[n++] = SC_LSHIFT;
	if (key & SC_EXT)
		out[n++] = 0xe0;
	out[n++] = (uint8_t)key;
	if (key & SC_EXT)
		out[n++] = 0xe0;
	out[n++] = (uint8_t)(key | 0x80);
	if (mods & MOD_SHIFT)
		out[n++] = SC_LSHIFT | 0x80;
	if (mods & MOD_ALT)
		out[n++] = SC_LALT | 0x80;
	if (mods & MOD_CTRL)
		out[n++] = SC_LCTRL | 0x80;
	return n;
}

/* One byte that is not part of an escape sequence, with extra modifiers (Alt). */
static size_t plain_byte(uint8_t b, unsigned mods, uint8_t *out)
{
	unsigned key = 0;

	switch (b) {
	case '\r': case '\n': key = SC_ENTER; break;
	case '\t': key = SC_TAB; break;
	case 0x7f: case 0x08: key = SC_BACKSPACE; break;
	case 0x1b: key = SC_ESC; break;
	case 0x00: key = SC_SPACE; mods |= MOD_CTRL; break;
	case 0x1c: key = 0x2b; mods |= MOD_CTRL; break;     /* Ctrl-\ */
	case 0x1d: key = 0x1b; mods |= MOD_CTRL; break;     /* Ctrl-] */
	case 0x1e: key = 0x07; mods |= MOD_CTRL; break;     /* Ctrl-^ (6) */
	case 0x1f: key = 0x0c; mods |= MOD_CTRL; break;     /* Ctrl-_ (-) */
	default:
		if (b < 0x20) {                               /* Ctrl-A .. Ctrl-Z */
			unsigned ignored = 0;
			key = ascii_key((uint8_t)('a' + b - 1), &ignored);
			mods |= MOD_CTRL;
		} else if (b < 0x7f) {
			key = ascii_key(b, &mods);
		}
		break;                                        /* >= 0x80: not typed */
	}
	return emit(out, key, mods);
}

/* A complete CSI (ESC [) or SS3 (ESC O) sequence: seq[2..n-1] are parameters and the
 * final byte. xterm's modifier parameter (";2" Shift, ";3" Alt, ";5" Ctrl...) is kept. */
static size_t sequence(const uint8_t *seq, unsigned n, uint8_t *out)
{
	unsigned p[2] = { 0, 0 }, np = 0, mods = 0, key = 0;
	uint8_t fin = seq[n - 1];

	for (unsigned i = 2; i + 1 < n; i++) {
		if (seq[i] >= '0' && seq[i] <= '9' && np < 2)
			p[np] = p[np] * 10 + (unsigned)(seq[i] - '0') % 1000;
		else if (seq[i] == ';' && np < 2)
			np++;
	}
	if (p[1] >= 2 && p[1] <= 8)
		mods = p[1] - 1;
	switch (fin) {
	case 'A': key = SC_UP; break;
	case 'B': key = SC_DOWN; break;
	case 'C': key = SC_RIGHT; break;
	case 'D': key = SC_LEFT; break;
	case 'H': key = SC_HOME; break;
	case 'F': key = SC_END; break;
	case 'P': case 'Q': case 'R': case 'S': key = SC_F1 + (unsigned)(fin - 'P'); break;
	case '~':
		switch (p[0]) {
		case 1: case 7: key = SC_HOME; break;
		case 2: key = SC_INSERT; break;
		case 3: key = SC_DELETE; break;
		case 4: case 8: key = SC_END; break;
		case 5: key = SC_PGUP; break;
		case 6: key = SC_PGDN; break;
		case 11: case 12: case 13: case 14: case 15: key = SC_F1 + p[0] - 11; break;
		case 17: case 18: case 19: case 20: case 21: key = SC_F1 + 5 + p[0] - 17; break;
		case 23: key = SC_F11; break;
		case 24: key = SC_F12; break;
		}
		break;
	}
	return emit(out, key, mods);
}

size_t display_keys_feed(struct display_keys *k, uint8_t b, uint8_t *out)
{
	if (k->nseq == 0) {
		if (b == 0x1b) {
			k->seq[k->nseq++] = b;
			return 0;
		}
		return plain_byte(b, 0, out);
	}
	if (k->nseq == 1) {
		if (b == '[' || b == 'O') {
			k->seq[k->nseq++] = b;
			return 0;
		}
		if (b == 0x1b)                          /* Esc, and another sequence starts */
			return emit(out, SC_ESC, 0);
		k->nseq = 0;
		return plain_byte(b, MOD_ALT, out);      /* ESC x: Alt-x */
	}
	if (b >= 0x40 && b <= 0x7e) {
		k->seq[k->nseq++] = b;
		size_t n = sequence(k->seq, k->nseq, out);
		k->nseq = 0;
		return n;
	}
	if (b >= 0x20 && b < 0x40 && k->nseq < sizeof(k->seq) - 1) {
		k->seq[k->nseq++] = b;
		return 0;
	}
	/* Not a sequence we know (or too long): drop it, keep the byte. */
	k->nseq = 0;
	return display_keys_feed(k, b, out);
}

size_t display_keys_flush(struct display_keys *k, uint8_t *out)
{
	size_t n = 0;
	if (k->nseq == 1)
		n = emit(out, SC_ESC, 0);
	else if (k->nseq == 2)
		n = plain_byte(k->seq[1], MOD_ALT, out);
	k->nseq = 0;
	return n;
}

/* -- the thread ----------------------------------------------------------------------- */

#define PENDING_MAX   4096
#define KBD_BURST     16              /* scancode bytes offered per turn */
#define ESC_WAIT_NS   30000000ull     /* a lone ESC is the Esc key after this long */
#define NS_PER_S      1000000000ull

struct display {
	struct vm *vm;
	struct vga *vga;
	struct display_config cfg;
	char *dump_path;
	int stop_fd;                  /* eventfd: display_stop was called */
	pthread_t thread;
	bool started, stopped;
	pthread_mutex_t stop_lock;    /* display_stop from the front end or vm_destroy */

	struct termios saved;
	bool raw;                     /* in_fd is a terminal we put in raw mode */
	bool in_open;
	bool escape;                  /* Ctrl-A was typed */
	struct display_keys keys;
	uint64_t last_key_ns;
	uint8_t pending[PENDING_MAX]; /* scancodes the keyboard has not taken yet */
	size_t npending;

	struct vga_text cur;          /* the latest snapshot */
	struct vga_text shown;        /* what the terminal shows */
	bool shown_valid;
	unsigned term_rows, term_cols;
	char *out;                    /* one frame of escape sequences */
	size_t outlen, outcap;

	uint64_t dumped_gen;          /* cur.generation when last dumped */
	char *dump_text;              /* what the file holds */
	size_t dump_len;
	bool dump_failed;             /* warned once already */
};

static void put(struct display *d, const char *s, size_t n)
{
	if (d->outlen + n > d->outcap) {
		size_t cap = d->outcap ? d->outcap : 65536;
		while (cap < d->outlen + n)
			cap *= 2;
		char *p = realloc(d->out, cap);
		if (!p)
			return;         /* this frame comes out short; the next one is whole */
		d->out = p;
		d->outcap = cap;
	}
	memcpy(d->out + d->outlen, s, n);
	d->outlen += n;
}

static void putf(struct display *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct display *d, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(d, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Write the frame out; false if the terminal would not take it (redraw all later). */
static bool flush_out(struct display *d)
{
	size_t done = 0;
	while (done < d->outlen) {
		ssize_t w = write(d->cfg.out_fd, d->out + done, d->outlen - done);
		if (w > 0) {
			done += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = d->cfg.out_fd, .events = POLLOUT };
			if (poll(&p, 1, 100) <= 0)
				break;
		} else {
			break;
		}
	}
	bool ok = done == d->outlen;
	d->outlen = 0;
	return ok;
}

/* VGA colour numbers (bit 0 blue, 1 green, 2 red) as ANSI ones (bit 0 red, 2 blue). */
static unsigned ansi_color(unsigned vga)
{
	return (vga & 1) << 2 | (vga & 2) | (vga & 4) >> 2;
}

static void put_sgr(struct display *d, uint8_t attr, bool blink_mode)
{
	unsigned fg = attr & 0x0f, bg = (attr >> 4) & (blink_mode ? 0x07 : 0x0f);
	putf(d, "\x1b[0;%u;%u%sm", (fg & 8 ? 90 : 30) + ansi_color(fg & 7),
	     (bg & 8 ? 100 : 40) + ansi_color(bg & 7), blink_mode && (attr & 0x80) ? ";5" : "");
}

static void draw_row(struct display *d, unsigned r, unsigned cols)
{
	const struct vga_text *t = &d->cur;
	int last = -1;

	putf(d, "\x1b[%u;1H", r + 1);
	for (unsigned c = 0; c < cols; c++) {
		if (t->attr[r][c] != last) {
			put_sgr(d, t->attr[r][c], t->blink);
			last = t->attr[r][c];
		}
		char u[3];
		put(d, u, cp437_utf8(t->ch[r][c], u));
	}
	put(d, "\x1b[0m", 4);
	if (cols < d->term_cols)
		put(d, "\x1b[K", 3);    /* not after the last column: it would erase it */
}

static void render(struct display *d)
{
	const struct vga_text *t = &d->cur;
	struct winsize ws;
	unsigned trows = 25, tcols = 80;

	if (ioctl(d->cfg.out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		trows = ws.ws_row;
		tcols = ws.ws_col;
	}
	bool full = !d->shown_valid || trows != d->term_rows || tcols != d->term_cols ||
	            t->graphics != d->shown.graphics || t->rows != d->shown.rows ||
	            t->cols != d->shown.cols;
	d->term_rows = trows;
	d->term_cols = tcols;
	put(d, "\x1b[?25l", 6);
	if (full)
		put(d, "\x1b[0m\x1b[2J", 8);
	if (t->graphics) {
		if (full || t->gfx_width != d->shown.gfx_width || t->gfx_height != d->shown.gfx_height ||
		    t->gfx_bpp != d->shown.gfx_bpp)
			putf(d, "\x1b[1;1H\x1b[0m\x1b[K[trivisor] graphics mode %ux%ux%u: not shown by "
			     "--display text", t->gfx_width, t->gfx_height, t->gfx_bpp);
	} else {
		unsigned rows = t->rows < trows ? t->rows : trows;
		unsigned cols = t->cols < tcols ? t->cols : tcols;
		for (unsigned r = 0; r < rows; r++)
			if (full || memcmp(t->ch[r], d->shown.ch[r], cols) ||
			    memcmp(t->attr[r], d->shown.attr[r], cols) || t->blink != d->shown.blink)
				draw_row(d, r, cols);
		if (t->cursor_visible && t->cursor_y < rows && t->cursor_x < cols)
			putf(d, "\x1b[%u;%uH\x1b[?25h", t->cursor_y + 1, t->cursor_x + 1);
	}
	d->shown = *t;
	d->shown_valid = flush_out(d);
}

static void dump(struct display *d)
{
	char *text = malloc(DISPLAY_TEXT_MAX);
	struct err e;

	d->dumped_gen = d->cur.generation;
	if (!text)
		return;
	size_t len = display_format_text(&d->cur, text, DISPLAY_TEXT_MAX);
	if (d->dump_text && len == d->dump_len && memcmp(text, d->dump_text, len) == 0) {
		free(text);
		return;
	}
	if (display_dump_text(&d->cur, d->dump_path, &e)) {
		if (!d->dump_failed)
			log_warn("display", "%s", e.msg);
		d->dump_failed = true;
		free(text);
		return;
	}
	free(d->dump_text);
	d->dump_text = text;
	d->dump_len = len;
}

/* Hand queued scancodes to the keyboard, as many as it takes but at most KBD_BURST
 * per turn (every 10 ms while some wait), so that a paste cannot overrun a controller
 * that drops what does not fit. */
static void feed_keyboard(struct display *d)
{
	if (!d->npending)
		return;
	if (!d->cfg.kbd_input) {
		d->npending = 0;
		return;
	}
	size_t offer = d->npending < KBD_BURST ? d->npending : KBD_BURST;
	size_t took = d->cfg.kbd_input(d->cfg.kbd, d->pending, offer);
	if (took > offer)
		took = offer;
	memmove(d->pending, d->pending + took, d->npending - took);
	d->npending -= took;
}

static void queue_keys(struct display *d, const uint8_t *sc, size_t n)
{
	if (n > PENDING_MAX - d->npending)
		return;         /* the guest is not reading its keyboard: drop whole keys */
	memcpy(d->pending + d->npending, sc, n);
	d->npending += n;
}

/* Terminal bytes: the Ctrl-A escape first, the rest become keys. */
static void typed(struct display *d, const uint8_t *buf, size_t n)
{
	uint8_t sc[2 * DISPLAY_KEY_MAX];

	for (size_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		if (d->raw && d->escape) {
			d->escape = false;
			if (b == 'x' || b == 'X') {
				vm_request_stop(d->vm, VM_STOP_USER, VM_STATUS_OK,
				                "quit from the display (Ctrl-A x)");
				return;
			}
			if (b != CONSOLE_ESCAPE)
				queue_keys(d, sc, display_keys_feed(&d->keys, CONSOLE_ESCAPE, sc));
		} else if (d->raw && b == CONSOLE_ESCAPE) {
			d->escape = true;
			continue;
		}
		queue_keys(d, sc, display_keys_feed(&d->keys, b, sc));
	}
}

static void read_input(struct display *d)
{
	uint8_t buf[512];
	ssize_t n = read(d->cfg.in_fd, buf, sizeof(buf));
	if (n > 0) {
		typed(d, buf, (size_t)n);
		d->last_key_ns = now_ns();
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		d->in_open = false;     /* EOF: the guest runs on without a keyboard */
	}
}

static void *display_thread(void *opaque)
{
	struct display *d = opaque;
	const uint64_t frame_ns = NS_PER_S / DISPLAY_FPS, dump_ns = NS_PER_S / DISPLAY_DUMPS_PER_S;
	uint64_t last_frame = 0, last_dump = 0;

	for (;;) {
		bool waiting = d->npending || d->keys.nseq;
		struct pollfd p[2] = {
			{ .fd = d->stop_fd, .events = POLLIN },
			{ .fd = d->in_open && d->npending < PENDING_MAX / 2 ? d->cfg.in_fd : -1,
			  .events = POLLIN },
		};
		int r = poll(p, 2, waiting ? 10 : (int)(frame_ns / 1000000));
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && p[0].revents)
			break;
		if (r > 0 && p[1].revents)
			read_input(d);

		uint64_t now = now_ns();
		if (d->keys.nseq && now - d->last_key_ns >= ESC_WAIT_NS) {
			uint8_t sc[DISPLAY_KEY_MAX];
			queue_keys(d, sc, display_keys_flush(&d->keys, sc));
		}
		feed_keyboard(d);

		bool text_due = d->cfg.text && now - last_frame >= frame_ns;
		bool dump_due = d->dump_path && now - last_dump >= dump_ns;
		if (!text_due && !dump_due)
			continue;
		vga_text_snapshot(d->vga, &d->cur);
		if (text_due) {
			last_frame = now;
			if (!d->shown_valid || d->cur.generation != d->shown.generation)
				render(d);
		}
		if (dump_due) {
			last_dump = now;
			if (d->cur.generation != d->dumped_gen)
				dump(d);
		}
	}
	return NULL;
}

/* -- start and stop ------------------------------------------------------------------- */

void display_stop(struct display *d)
{
	pthread_mutex_lock(&d->stop_lock);
	if (d->stopped || !d->started) {
		pthread_mutex_unlock(&d->stop_lock);
		return;
	}
	d->stopped = true;
	uint64_t one = 1;
	ssize_t w = write(d->stop_fd, &one, sizeof(one));
	(void)w;
	pthread_join(d->thread, NULL);

	vga_text_snapshot(d->vga, &d->cur);
	if (d->dump_path)
		dump(d);
	if (d->cfg.text) {
		/* Leave the terminal below the last screen, in its normal state. */
		unsigned below = d->shown_valid && !d->cur.graphics ? d->cur.rows : 1;
		if (d->term_rows && below > d->term_rows)
			below = d->term_rows;
		putf(d, "\x1b[0m\x1b[%u;1H\r\n\x1b[?25h", below);
		flush_out(d);
	}
	if (d->raw)
		tcsetattr(d->cfg.in_fd, TCSANOW, &d->saved);
	d->raw = false;
	pthread_mutex_unlock(&d->stop_lock);
}

static void display_destroy(void *opaque)
{
	struct display *d = opaque;
	display_stop(d);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	pthread_mutex_destroy(&d->stop_lock);
	free(d->dump_text);
	free(d->out);
	free(d->dump_path);
	free(d);
}

int display_start(struct vm *vm, struct vga *v, const struct display_config *cfg,
                  struct display **out, struct err *e)
{
	struct display *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return err_set(e, ENOMEM, "display: out of memory");
	d->vm = vm;
	d->vga = v;
	d->cfg = *cfg;
	d->stop_fd = -1;
	pthread_mutex_init(&d->stop_lock, NULL);
	if ((r = vm_add_device(vm, d, display_destroy, e))) {
		display_destroy(d);
		return r;
	}
	vm_set_device_host(vm, d);
	if (cfg->dump_path && !(d->dump_path = strdup(cfg->dump_path)))
		return err_set(e, ENOMEM, "display: out of memory");
	d->cfg.dump_path = d->dump_path;
	d->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (d->stop_fd < 0)
		return err_set(e, errno, "display: eventfd: %s", strerror(errno));

	d->in_open = cfg->text && cfg->in_fd >= 0;
	if (d->in_open && isatty(cfg->in_fd) && tcgetattr(cfg->in_fd, &d->saved) == 0) {
		struct termios raw = d->saved;
		cfmakeraw(&raw);
		d->raw = tcsetattr(cfg->in_fd, TCSANOW, &raw) == 0;
	}

	/* The front end handles the termination signals: none may land on this thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&d->thread, NULL, display_thread, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		if (d->raw)
			tcsetattr(cfg->in_fd, TCSANOW, &d->saved);
		d->raw = false;
		return err_set(e, r, "display: cannot start its thread");
	}
	d->started = true;
	if (out)
		*out = d;
	return 0;
}
