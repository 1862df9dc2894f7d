/*
 * csocket -- a C service module used by tests/socket.rs to exercise the
 * socket API of include/skynet_socket.h the way a third-party C service
 * would (compare the reference's service-src/service_gate.c). It stands
 * for no reference file.
 *
 * Init listens on 127.0.0.1 port 0 and logs "CSOCKET PORT <port>" when the
 * listen event arrives, then accepts connections. Each read is echoed back
 * (the received buffer is handed to skynet_socket_send). A read that starts
 * with "info" is answered with a line counting the open sockets by type,
 * one that starts with "quit" ends the node (ABORT). Accepts and closes are
 * logged as "CSOCKET ACCEPT <id> <peer>" and "CSOCKET CLOSE <id>".
 */
#include "skynet.h"
#include "skynet_socket.h"

#include <stdio.h>
#include <string.h>

struct csocket {
	struct skynet_context *ctx;
	int listen_id;
};

void *
csocket_create(void) {
	struct csocket *c = skynet_malloc(sizeof(*c));
	c->ctx = NULL;
	c->listen_id = -1;
	return c;
}

void
csocket_release(struct csocket *c) {
	skynet_free(c);
}

static int
starts_with(const char *data, int sz, const char *word) {
	size_t n = strlen(word);
	return sz >= (int)n && memcmp(data, word, n) == 0;
}

static void
send_text(struct csocket *c, int id, const char *text) {
	size_t n = strlen(text);
	char *copy = skynet_malloc(n);
	memcpy(copy, text, n);
	skynet_socket_send(c->ctx, id, copy, (int)n);
}

static void
answer_info(struct csocket *c, int id) {
	int listen = 0, tcp = 0, mine = 1;
	uint32_t self = skynet_current_handle();
	struct socket_info *list = skynet_socket_info();
	struct socket_info *si;
	for (si = list; si; si = si->next) {
		if (si->type == SOCKET_INFO_LISTEN) {
			++listen;
		} else if (si->type == SOCKET_INFO_TCP) {
			++tcp;
		}
		if (si->opaque != self) {
			mine = 0;
		}
	}
	socket_info_release(list);
	char line[128];
	snprintf(line, sizeof(line), "info LISTEN=%d TCP=%d mine=%d\n", listen, tcp, mine);
	send_text(c, id, line);
}

static void
on_socket(struct csocket *c, const struct skynet_socket_message *m, size_t sz) {
	int text_sz = (int)(sz - sizeof(*m));
	const char *text = (const char *)(m + 1);
	switch (m->type) {
	case SKYNET_SOCKET_TYPE_CONNECT:
		if (m->id == c->listen_id && m->ud != 0) {
			skynet_error(c->ctx, "CSOCKET PORT %d", m->ud);
			skynet_socket_start(c->ctx, c->listen_id);
		}
		break;
	case SKYNET_SOCKET_TYPE_ACCEPT:
		skynet_error(c->ctx, "CSOCKET ACCEPT %d %.*s", m->ud, text_sz, text);
		skynet_socket_start(c->ctx, m->ud);
		break;
	case SKYNET_SOCKET_TYPE_DATA:
		if (starts_with(m->buffer, m->ud, "quit")) {
			skynet_free(m->buffer);
			skynet_command(c->ctx, "ABORT", NULL);
		} else if (starts_with(m->buffer, m->ud, "info")) {
			skynet_free(m->buffer);
			answer_info(c, m->id);
		} else if (skynet_socket_send(c->ctx, m->id, m->buffer, m->ud) != 0) {
			skynet_error(c->ctx, "CSOCKET SEND FAILED %d", m->id);
		}
		break;
	case SKYNET_SOCKET_TYPE_CLOSE:
		skynet_error(c->ctx, "CSOCKET CLOSE %d", m->id);
		skynet_socket_close(c->ctx, m->id);
		break;
	case SKYNET_SOCKET_TYPE_ERROR:
		skynet_error(c->ctx, "CSOCKET ERROR %d %.*s", m->id, text_sz, text);
		skynet_socket_close(c->ctx, m->id);
		break;
	}
}

static int
cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg, size_t sz) {
	(void)ctx; (void)session; (void)source;
	if (type == PTYPE_SOCKET) {
		on_socket(ud, msg, sz);
	}
	return 0;
}

int
csocket_init(struct csocket *c, struct skynet_context *ctx, const char *args) {
	(void)args;
	c->ctx = ctx;
	skynet_callback(ctx, c, cb);
	c->listen_id = skynet_socket_listen(ctx, "127.0.0.1", 0, 32);
	if (c->listen_id < 0) {
		skynet_error(ctx, "CSOCKET LISTEN FAILED");
		return 1;
	}
	return 0;
}
