/*
 * echo_driver -- the bootstrap C service of tests/cservice.rs. It launches
 * echo_c (test/cservice/echo_c.c), drives it through its requests, checks
 * every answer and logs one `CSERVICE PASS <what>` or `CSERVICE FAIL <what>`
 * line per check, then `CSERVICE DONE passed=<n> failed=<n>`, and ends the
 * node with the ABORT command. It stands for no reference file; it plays the
 * part a Lua bootstrap plays in a normal node, without Lua.
 *
 * The run is a list of steps. A step sends requests and records the answers
 * it expects (type, source, session and a check of the bytes); when every
 * expected answer has arrived the next step runs. The fault steps launch a
 * module that does not exist, one without NAME_init and one whose init
 * fails, and then go on exchanging messages to show the node still runs.
 */
#include "skynet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPECT 4

struct driver;

typedef int (*check_fn)(struct driver *d, const char *label, const void *msg, size_t sz);

struct expect {
	int type;
	int session;
	uint32_t source;
	char label[48];
	/* the exact bytes expected, or NULL when `check` decides */
	char *bytes;
	size_t sz;
	check_fn check;
	int arrived;
};

struct driver {
	struct skynet_context *ctx;
	uint32_t self;
	uint32_t echo;
	int step;
	int nexpect;
	struct expect expect[MAX_EXPECT];
	int passed;
	int failed;
	int finished;
};

static void
pass(struct driver *d, const char *what, const char *detail) {
	d->passed++;
	skynet_error(d->ctx, "CSERVICE PASS %s%s%s", what, detail[0] ? " " : "", detail);
}

static void
fail(struct driver *d, const char *what, const char *detail) {
	d->failed++;
	skynet_error(d->ctx, "CSERVICE FAIL %s%s%s", what, detail[0] ? " " : "", detail);
}

static void
verdict(struct driver *d, int ok, const char *what, const char *detail) {
	if (ok) {
		pass(d, what, detail);
	} else {
		fail(d, what, detail);
	}
}

/* The handle in a LAUNCH/REG result (":%08X" or ":%x"), or 0. */
static uint32_t
handle_of(const char *addr) {
	if (addr == NULL || addr[0] != ':') {
		return 0;
	}
	return (uint32_t)strtoul(addr + 1, NULL, 16);
}

/* Records an expected answer; `bytes` (copied) or `check` judges it. */
static void
expect(struct driver *d, const char *label, int type, int session, uint32_t source,
	const void *bytes, size_t sz, check_fn check) {
	if (d->nexpect >= MAX_EXPECT) {
		fail(d, label, "too many expectations in one step");
		return;
	}
	struct expect *x = &d->expect[d->nexpect++];
	memset(x, 0, sizeof(*x));
	x->type = type;
	x->session = session;
	x->source = source;
	snprintf(x->label, sizeof(x->label), "%s", label);
	if (bytes != NULL) {
		x->bytes = skynet_malloc(sz == 0 ? 1 : sz);
		memcpy(x->bytes, bytes, sz);
		x->sz = sz;
	}
	x->check = check;
}

/* Sends a copy of `sz` bytes to echo_c with a fresh session and expects
 * them back. Returns the session (or a negative error). */
static int
request_echo(struct driver *d, const char *label, const void *bytes, size_t sz) {
	int session = skynet_send(d->ctx, 0, d->echo, PTYPE_TEXT | PTYPE_TAG_ALLOCSESSION, 0, (void *)bytes, sz);
	if (session <= 0) {
		char detail[64];
		snprintf(detail, sizeof(detail), "send returned %d", session);
		fail(d, label, detail);
		return session;
	}
	expect(d, label, PTYPE_RESPONSE, session, d->echo, bytes, sz, NULL);
	return session;
}

static int
check_notice(struct driver *d, const char *label, const void *msg, size_t sz) {
	char want[64];
	int n = snprintf(want, sizeof(want), "notice from :%08x", d->echo);
	(void)label;
	return sz == (size_t)n && memcmp(msg, want, sz) == 0;
}

static int
check_info(struct driver *d, const char *label, const void *msg, size_t sz) {
	char text[256];
	unsigned current, queried, reg;
	int remote_self, harbor_self, remote_other, harbor_other, answered;
	unsigned long long now;
	(void)label;
	if (sz >= sizeof(text)) {
		return 0;
	}
	memcpy(text, msg, sz);
	text[sz] = '\0';
	int n = sscanf(text,
		"current=%x queried=%x reg=%x remote_self=%d harbor_self=%d remote_other=%d harbor_other=%d now=%llu answered=%d",
		&current, &queried, &reg, &remote_self, &harbor_self, &remote_other, &harbor_other, &now, &answered);
	if (n != 9) {
		return 0;
	}
	/* echo_c read the clock before this service, so it cannot be later */
	uint64_t mine = skynet_now();
	return current == d->echo && queried == d->echo && reg == d->echo
		&& remote_self == 0 && harbor_self == 0
		&& remote_other == 1 && harbor_other == 5
		&& now <= mine && answered == 6;
}

static void finish(struct driver *d);

/* Runs step `d->step`; each step either expects answers or moves on. */
static void
run_step(struct driver *d) {
	for (;;) {
		d->nexpect = 0;
		switch (d->step++) {
		case 0: {
			/* copy mode, bytes with a NUL inside */
			static const char copy[] = "copy hello\0world";
			request_echo(d, "copy", copy, sizeof(copy) - 1);
			break;
		}
		case 1: {
			/* a buffer handed over with DONTCOPY; echo_c answers in kind */
			static const char text[] = "dontcopy handed over";
			size_t sz = sizeof(text) - 1;
			char *buf = skynet_malloc(sz);
			memcpy(buf, text, sz);
			int session = skynet_send(d->ctx, 0, d->echo,
				PTYPE_TEXT | PTYPE_TAG_DONTCOPY | PTYPE_TAG_ALLOCSESSION, 0, buf, sz);
			if (session <= 0) {
				fail(d, "dontcopy", "send failed");
			} else {
				expect(d, "dontcopy", PTYPE_RESPONSE, session, d->echo, text, sz, NULL);
			}
			break;
		}
		case 2: {
			/* by name both ways: a notice comes first, then the answer */
			static const char text[] = "sendname by local name";
			int session = skynet_sendname(d->ctx, 0, ".echo_c", PTYPE_TEXT | PTYPE_TAG_ALLOCSESSION,
				0, (void *)text, sizeof(text) - 1);
			if (session <= 0) {
				fail(d, "sendname .echo_c", "send failed");
				break;
			}
			expect(d, "sendname notice", PTYPE_TEXT, 0, d->echo, NULL, 0, check_notice);
			expect(d, "sendname .echo_c", PTYPE_RESPONSE, session, d->echo, text, sizeof(text) - 1, NULL);
			break;
		}
		case 3: {
			static const char text[] = "copy by hex address";
			char addr[16];
			snprintf(addr, sizeof(addr), ":%08x", d->echo);
			int session = skynet_sendname(d->ctx, 0, addr, PTYPE_TEXT, 77, (void *)text, sizeof(text) - 1);
			if (session != 77) {
				fail(d, "sendname :hex", "wrong session");
				break;
			}
			expect(d, "sendname :hex", PTYPE_RESPONSE, 77, d->echo, text, sizeof(text) - 1, NULL);
			break;
		}
		case 4: {
			/* echo_c keeps the first buffer and answers it on "release" */
			static const char keep[] = "keep this buffer";
			static const char release[] = "release";
			request_echo(d, "keep", keep, sizeof(keep) - 1);
			request_echo(d, "release", release, sizeof(release) - 1);
			break;
		}
		case 5: {
			static const char info[] = "info";
			int session = skynet_send(d->ctx, 0, d->echo, PTYPE_TEXT | PTYPE_TAG_ALLOCSESSION, 0,
				(void *)info, sizeof(info) - 1);
			if (session <= 0) {
				fail(d, "info", "send failed");
				break;
			}
			expect(d, "info", PTYPE_RESPONSE, session, d->echo, NULL, 0, check_info);
			break;
		}
		case 6: {
			/* faults: none of them may stop the node */
			const char *r = skynet_command(d->ctx, "LAUNCH", "nosuch");
			verdict(d, r == NULL, "launch nosuch", "returned NULL");
			r = skynet_command(d->ctx, "LAUNCH", "noinit");
			verdict(d, r == NULL, "launch noinit", "returned NULL");
			r = skynet_command(d->ctx, "LAUNCH", "echo_c fail");
			verdict(d, r == NULL, "launch echo_c fail", "returned NULL");
			int s = skynet_send(d->ctx, 0, 0x00ffff00u, PTYPE_TEXT, 1, "x", 1);
			verdict(d, s == -1, "send to a missing service", "returned -1");
			char *buf = skynet_malloc(4);
			memcpy(buf, "gone", 4);
			s = skynet_send(d->ctx, 0, 0x00ffff00u, PTYPE_TEXT | PTYPE_TAG_DONTCOPY, 1, buf, 4);
			verdict(d, s == -1, "dontcopy send to a missing service", "returned -1");
			verdict(d, skynet_queryname(d->ctx, ".nosuchname") == 0, "queryname .nosuchname", "is 0");
			static const char after[] = "copy after the faults";
			request_echo(d, "echo after faults", after, sizeof(after) - 1);
			break;
		}
		case 7: {
			/* a second instance: its REG fails, it takes a signal, and
			 * KILL releases it at once (it never had a message) */
			const char *r = skynet_command(d->ctx, "LAUNCH", "echo_c second");
			uint32_t second = handle_of(r);
			char detail[64];
			snprintf(detail, sizeof(detail), ":%08x", second);
			verdict(d, second != 0 && second != d->echo, "launch echo_c second", detail);
			if (second == 0) {
				break;
			}
			char param[32];
			snprintf(param, sizeof(param), ":%08x 7", second);
			skynet_command(d->ctx, "SIGNAL", param);
			snprintf(param, sizeof(param), ":%x", second);
			skynet_command(d->ctx, "KILL", param);
			verdict(d, skynet_queryname(d->ctx, ".echo_c") == d->echo, "name .echo_c kept", "");
			static const char last[] = "dontcopy last words";
			request_echo(d, "echo after kill", last, sizeof(last) - 1);
			break;
		}
		default:
			finish(d);
			return;
		}
		if (d->nexpect > 0) {
			return;
		}
	}
}

static void
finish(struct driver *d) {
	d->finished = 1;
	skynet_error(d->ctx, "CSERVICE DONE passed=%d failed=%d", d->passed, d->failed);
	skynet_command(d->ctx, "ABORT", NULL);
}

static int
driver_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg, size_t sz) {
	struct driver *d = ud;
	(void)ctx;
	if (d->finished) {
		return 0;
	}
	if (skynet_current_handle() != d->self) {
		fail(d, "current handle", "differs from REG");
	}
	struct expect *x = NULL;
	int i;
	for (i = 0; i < d->nexpect; i++) {
		struct expect *e = &d->expect[i];
		if (!e->arrived && e->type == type && e->session == session && e->source == source) {
			x = e;
			break;
		}
	}
	if (x == NULL) {
		char detail[96];
		snprintf(detail, sizeof(detail), "type=%d session=%d source=:%08x sz=%zu", type, session, source, sz);
		fail(d, "unexpected message", detail);
		return 0;
	}
	x->arrived = 1;
	int ok;
	if (x->check != NULL) {
		ok = x->check(d, x->label, msg, sz);
	} else {
		ok = sz == x->sz && (sz == 0 || memcmp(msg, x->bytes, sz) == 0);
	}
	char detail[64];
	snprintf(detail, sizeof(detail), "session=%d sz=%zu", session, sz);
	verdict(d, ok, x->label, detail);
	for (i = 0; i < d->nexpect; i++) {
		if (!d->expect[i].arrived) {
			return 0;
		}
	}
	for (i = 0; i < d->nexpect; i++) {
		skynet_free(d->expect[i].bytes);
		d->expect[i].bytes = NULL;
	}
	run_step(d);
	return 0;
}

void *
echo_driver_create(void) {
	return skynet_calloc(1, sizeof(struct driver));
}

int
echo_driver_init(void *inst, struct skynet_context *ctx, const char *args) {
	struct driver *d = inst;
	(void)args;
	d->ctx = ctx;
	d->self = handle_of(skynet_command(ctx, "REG", NULL));
	if (skynet_command(ctx, "REG", ".echo_driver") == NULL) {
		skynet_error(ctx, "CSERVICE FAIL REG .echo_driver");
		return 1;
	}
	skynet_callback(ctx, d, driver_cb);
	const char *launched = skynet_command(ctx, "LAUNCH", "echo_c args");
	d->echo = handle_of(launched);
	char detail[64];
	snprintf(detail, sizeof(detail), "%s", launched == NULL ? "NULL" : launched);
	verdict(d, d->echo != 0 && skynet_queryname(ctx, ".echo_c") == d->echo, "launch echo_c", detail);
	if (d->echo == 0) {
		finish(d);
		return 0;
	}
	run_step(d);
	return 0;
}

void
echo_driver_release(void *inst) {
	struct driver *d = inst;
	int i;
	for (i = 0; i < d->nexpect; i++) {
		skynet_free(d->expect[i].bytes);
	}
	skynet_free(d);
}
