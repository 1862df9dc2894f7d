/*
 * skynet_socket.h -- the socket API of skynet-rs for C services.
 *
 * Part of skynet-rs's C ABI (crates/skynet-core/src/socket/capi.rs and
 * socket/message.rs); stands for the reference's skynet-src/skynet_socket.h,
 * socket_buffer.h and socket_info.h, with the same names, numbers, layouts
 * and signatures.
 *
 * Socket events reach the owning service as PTYPE_SOCKET messages whose data
 * is a struct skynet_socket_message. DATA and UDP messages carry `buffer`
 * (ud bytes; for UDP followed by the sender's address), which the receiver
 * owns and frees with skynet_free. CONNECT, ERROR and ACCEPT carry a text
 * after the struct instead (buffer NULL, no NUL terminator; its length is
 * the message size minus sizeof(struct skynet_socket_message)).
 */
#ifndef SKYNET_SOCKET_H
#define SKYNET_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct skynet_context;

/* ---- socket_buffer.h ---- */
#ifndef socket_buffer_h
#define socket_buffer_h

#define SOCKET_BUFFER_MEMORY 0     /* skynet_malloc'd, handed over */
#define SOCKET_BUFFER_OBJECT 1     /* not supported by skynet-rs: sends fail */
#define SOCKET_BUFFER_RAWPOINTER 2 /* borrowed, copied if it must wait */

struct socket_sendbuffer {
	int id;
	int type;
	const void *buffer;
	size_t sz;
};

#endif

/* ---- socket_info.h ---- */
#ifndef socket_info_h
#define socket_info_h

#define SOCKET_INFO_UNKNOWN 0
#define SOCKET_INFO_LISTEN 1
#define SOCKET_INFO_TCP 2
#define SOCKET_INFO_UDP 3
#define SOCKET_INFO_BIND 4
#define SOCKET_INFO_CLOSING 5

struct socket_info {
	int id;
	int type;
	uint64_t opaque;   /* the owning service */
	uint64_t read;     /* bytes read; accepted connections for LISTEN */
	uint64_t write;
	uint64_t rtime;    /* skynet_now() of the last read / write */
	uint64_t wtime;
	int64_t wbuffer;   /* bytes waiting to be written */
	uint8_t reading;
	uint8_t writing;
	char name[128];    /* peer "ip:port" (LISTEN: own address) or "" */
	struct socket_info *next;
};

void socket_info_release(struct socket_info *);

#endif

#define SKYNET_SOCKET_TYPE_DATA 1
#define SKYNET_SOCKET_TYPE_CONNECT 2
#define SKYNET_SOCKET_TYPE_CLOSE 3
#define SKYNET_SOCKET_TYPE_ACCEPT 4
#define SKYNET_SOCKET_TYPE_ERROR 5
#define SKYNET_SOCKET_TYPE_UDP 6
#define SKYNET_SOCKET_TYPE_WARNING 7

struct skynet_socket_message {
	int type;
	int id;
	int ud;
	char *buffer;
};

/* 0 on success, -1 when the socket is gone (a MEMORY buffer is freed). */
int skynet_socket_sendbuffer(struct skynet_context *ctx, struct socket_sendbuffer *buffer);
int skynet_socket_sendbuffer_lowpriority(struct skynet_context *ctx, struct socket_sendbuffer *buffer);
/* These return a socket id, or -1. */
int skynet_socket_listen(struct skynet_context *ctx, const char *host, int port, int backlog);
int skynet_socket_connect(struct skynet_context *ctx, const char *host, int port);
int skynet_socket_bind(struct skynet_context *ctx, int fd);
void skynet_socket_close(struct skynet_context *ctx, int id);
void skynet_socket_shutdown(struct skynet_context *ctx, int id);
void skynet_socket_start(struct skynet_context *ctx, int id);
void skynet_socket_pause(struct skynet_context *ctx, int id);
void skynet_socket_nodelay(struct skynet_context *ctx, int id);

int skynet_socket_udp(struct skynet_context *ctx, const char *addr, int port);
int skynet_socket_udp_connect(struct skynet_context *ctx, int id, const char *addr, int port);
int skynet_socket_udp_dial(struct skynet_context *ctx, const char *addr, int port);
int skynet_socket_udp_listen(struct skynet_context *ctx, const char *addr, int port);
int skynet_socket_udp_sendbuffer(struct skynet_context *ctx, const char *address, struct socket_sendbuffer *buffer);
const char *skynet_socket_udp_address(struct skynet_socket_message *, int *addrsz);

/* A list of every open socket; free it with socket_info_release. */
struct socket_info *skynet_socket_info(void);

/* Shorthands: a negative size means an OBJECT buffer. */

static inline struct socket_sendbuffer skynet_sendbuffer_of_(int id, const void *buffer, int sz) {
	struct socket_sendbuffer b;
	b.id = id;
	b.type = sz >= 0 ? SOCKET_BUFFER_MEMORY : SOCKET_BUFFER_OBJECT;
	b.buffer = buffer;
	b.sz = (size_t)sz;
	return b;
}

static inline int skynet_socket_send(struct skynet_context *ctx, int id, void *buffer, int sz) {
	struct socket_sendbuffer b = skynet_sendbuffer_of_(id, buffer, sz);
	return skynet_socket_sendbuffer(ctx, &b);
}

static inline int skynet_socket_send_lowpriority(struct skynet_context *ctx, int id, void *buffer, int sz) {
	struct socket_sendbuffer b = skynet_sendbuffer_of_(id, buffer, sz);
	return skynet_socket_sendbuffer_lowpriority(ctx, &b);
}

static inline int skynet_socket_udp_send(struct skynet_context *ctx, int id, const char *address, const void *buffer, int sz) {
	struct socket_sendbuffer b = skynet_sendbuffer_of_(id, buffer, sz);
	return skynet_socket_udp_sendbuffer(ctx, address, &b);
}

#ifdef __cplusplus
}
#endif

#endif
