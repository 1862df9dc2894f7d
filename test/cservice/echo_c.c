/*
 * echo_c -- a C service module used by tests/cservice.rs to exercise
 * skynet-rs's skynet.h ABI (include/skynet.h) the way a third-party C
 * service would. It stands for no reference file; it plays the part of the
 * C services of the reference's service-src/.
 *
 * Init registers the callback and the name ".echo_c" and logs a formatted
 * line. Its argument "fail" makes init fail. PTYPE_TEXT requests are
 * answered to their source with their session as PTYPE_RESPONSE; the first
 * word of a request chooses how:
 *   copy ...      the same bytes, sent in copy mode
 *   dontcopy ...  the same bytes, in a skynet_malloc'd buffer handed over
 *                 with PTYPE_TAG_DONTCOPY
 *   sendname ...  first a session-0 PTYPE_TEXT notice to ".echo_driver"
 *                 (skynet_sendname), then the echo
 *   keep ...      no answer yet: the callback returns 1 and keeps the buffer
 *   release ...   answers the kept request with its bytes, skynet_free's the
 *                 kept buffer, then echoes this request
 *   info          answers a line with the handles, harbor bits and time the
 *                 service sees
 * NAME_signal logs the signal number; NAME_release logs what it frees.
 */
#include "skynet.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct echo_c {
	struct skynet_context *ctx;
	char *args;
	/* a request the callback kept (returned 1 for) */
	void *kept;
	size_t kept_sz;
	uint32_t kept_source;
	int kept_session;
	int answered;
};

/* Whether the `sz` bytes at `msg` start with the word `word`. */
static int
starts_with(const void *msg, size_t sz, const char *word) {
	size_t n = strlen(word);
	if (sz < n || memcmp(msg, word, n) != 0) {
		return 0;
	}
	return sz == n || ((const char *)msg)[n] == ' ';
}

/* Sends the bytes back in a buffer of our own, handing it over. */
static void
answer_dontcopy(struct echo_c *e, uint32_t dest, int session, const void *msg, size_t sz) {
	/* grow a small buffer to the size, to use realloc as well */
	char *buf = skynet_malloc(1);
	if (buf == NULL) {
		skynet_error(e->ctx, "echo_c: out of memory");
		return;
	}
	char *bigger = skynet_realloc(buf, sz == 0 ? 1 : sz);
	if (bigger == NULL) {
		skynet_free(buf);
		skynet_error(e->ctx, "echo_c: out of memory");
		return;
	}
	memcpy(bigger, msg, sz);
	int r = skynet_send(e->ctx, 0, dest, PTYPE_RESPONSE | PTYPE_TAG_DONTCOPY, session, bigger, sz);
	if (r < 0) {
		skynet_error(e->ctx, "echo_c: dontcopy answer to :%08x failed (%d)", dest, r);
	}
	e->answered++;
}

static void
answer_copy(struct echo_c *e, uint32_t dest, int session, const void *msg, size_t sz) {
	int r = skynet_send(e->ctx, 0, dest, PTYPE_RESPONSE, session, (void *)msg, sz);
	if (r < 0) {
		skynet_error(e->ctx, "echo_c: copy answer to :%08x failed (%d)", dest, r);
	}
	e->answered++;
}

static void
answer_info(struct echo_c *e, uint32_t dest, int session) {
	int harbor_self = -1;
	int harbor_other = -1;
	uint32_t self = skynet_current_handle();
	int remote_self = skynet_isremote(e->ctx, self, &harbor_self);
	int remote_other = skynet_isremote(e->ctx, 0x05000001u, &harbor_other);
	uint32_t queried = skynet_queryname(e->ctx, ".echo_c");
	uint32_t by_hex = 0;
	const char *reg = skynet_command(e->ctx, "REG", NULL);
	if (reg != NULL && reg[0] == ':') {
		char addr[16];
		snprintf(addr, sizeof(addr), "%s", reg);
		by_hex = skynet_queryname(e->ctx, addr);
	}
	char line[256];
	int n = snprintf(line, sizeof(line),
		"current=%08x queried=%08x reg=%08x remote_self=%d harbor_self=%d remote_other=%d harbor_other=%d now=%llu answered=%d",
		self, queried, by_hex, remote_self, harbor_self, remote_other, harbor_other,
		(unsigned long long)skynet_now(), e->answered);
	answer_copy(e, dest, session, line, (size_t)n);
}

static int
echo_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg, size_t sz) {
	struct echo_c *e = ud;
	if (type != PTYPE_TEXT) {
		skynet_error(ctx, "echo_c: ignored message of type %d from :%08x", type, source);
		return 0;
	}
	if (starts_with(msg, sz, "copy")) {
		answer_copy(e, source, session, msg, sz);
	} else if (starts_with(msg, sz, "dontcopy")) {
		answer_dontcopy(e, source, session, msg, sz);
	} else if (starts_with(msg, sz, "sendname")) {
		char notice[64];
		int n = snprintf(notice, sizeof(notice), "notice from :%08x", skynet_current_handle());
		int r = skynet_sendname(ctx, 0, ".echo_driver", PTYPE_TEXT, 0, notice, (size_t)n);
		if (r < 0) {
			skynet_error(ctx, "echo_c: sendname failed (%d)", r);
		}
		answer_copy(e, source, session, msg, sz);
	} else if (starts_with(msg, sz, "keep")) {
		if (e->kept != NULL) {
			skynet_error(ctx, "echo_c: already keeping a message");
			return 0;
		}
		e->kept = (void *)msg;
		e->kept_sz = sz;
		e->kept_source = source;
		e->kept_session = session;
		return 1;
	} else if (starts_with(msg, sz, "release")) {
		if (e->kept != NULL) {
			answer_copy(e, e->kept_source, e->kept_session, e->kept, e->kept_sz);
			skynet_free(e->kept);
			e->kept = NULL;
		}
		answer_copy(e, source, session, msg, sz);
	} else if (starts_with(msg, sz, "info")) {
		answer_info(e, source, session);
	} else {
		skynet_error(ctx, "echo_c: unknown request of %zu bytes from :%08x", sz, source);
	}
	return 0;
}

void *
echo_c_create(void) {
	return skynet_calloc(1, sizeof(struct echo_c));
}

int
echo_c_init(void *inst, struct skynet_context *ctx, const char *args) {
	struct echo_c *e = inst;
	e->ctx = ctx;
	e->args = skynet_strdup(args == NULL ? "" : args);
	if (strcmp(e->args, "fail") == 0) {
		skynet_error(ctx, "echo_c: init refuses the argument [%s]", e->args);
		return 1;
	}
	skynet_callback(ctx, e, echo_cb);
	const char *name = skynet_command(ctx, "REG", ".echo_c");
	if (name == NULL) {
		skynet_error(ctx, "echo_c: the name .echo_c is taken");
	}
	skynet_error(ctx, "echo_c init args=[%s] int=%d hex=%#x str=%-6s| float=%6.2f pct=100%%",
		e->args, 42, 42, "ab", 3.14159);
	/* a line longer than skynet_error's small buffer */
	char wide[301];
	memset(wide, 'w', 300);
	wide[300] = '\0';
	skynet_error(ctx, "echo_c wide %s end", wide);
	skynet_debug_memory("echo_c debug memory");
	return 0;
}

void
echo_c_release(void *inst) {
	struct echo_c *e = inst;
	skynet_error(e->ctx, "echo_c release args=[%s] kept=%d answered=%d",
		e->args, e->kept != NULL, e->answered);
	if (e->kept != NULL) {
		skynet_free(e->kept);
	}
	skynet_free(e->args);
	skynet_free(e);
}

void
echo_c_signal(void *inst, int signal) {
	struct echo_c *e = inst;
	skynet_error(e->ctx, "echo_c signal %d", signal);
}
