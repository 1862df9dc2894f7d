/*
 * skynet.h -- the API a C service module is written against.
 *
 * Part of skynet-rs's C ABI (crates/skynet-core/src/ffi.rs and
 * crates/skynet-core/csrc/skynet_error.c); stands for the reference's
 * skynet-src/skynet.h, with the same names, numbers and signatures so that
 * C services written for skynet compile unchanged.
 *
 * A module NAME is a shared object found along the `cpath` config setting.
 * It exports
 *     void * NAME_create(void);                                  (optional)
 *     int    NAME_init(void *inst, struct skynet_context *ctx, const char *args);
 *     void   NAME_release(void *inst);                           (optional)
 *     void   NAME_signal(void *inst, int signal);                (optional)
 * NAME_init returns 0 on success; anything else fails the launch. Without
 * NAME_create the instance pointer is (void *)~0. The functions below are
 * resolved from the `skynet` executable when the module is loaded.
 */
#ifndef SKYNET_H
#define SKYNET_H

#include "skynet_malloc.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Message types (the low byte of `type`). */
#define PTYPE_TEXT 0
#define PTYPE_RESPONSE 1
#define PTYPE_MULTICAST 2
#define PTYPE_CLIENT 3
#define PTYPE_SYSTEM 4
#define PTYPE_HARBOR 5
#define PTYPE_SOCKET 6
#define PTYPE_ERROR 7
#define PTYPE_RESERVED_QUEUE 8
#define PTYPE_RESERVED_DEBUG 9
#define PTYPE_RESERVED_LUA 10
#define PTYPE_RESERVED_SNAX 11

/*
 * Flags or'ed into the `type` of skynet_send / skynet_sendname.
 * DONTCOPY: `msg` came from skynet_malloc and now belongs to the runtime
 *           (it is freed even when the send fails); without it the bytes
 *           are copied and the caller keeps its buffer.
 * ALLOCSESSION: ignore `session`, use a fresh one and return it.
 */
#define PTYPE_TAG_DONTCOPY 0x10000
#define PTYPE_TAG_ALLOCSESSION 0x20000

/* A running service; opaque to modules. */
struct skynet_context;

/* Logs a printf-style line through the logger service as `context` (which
 * may be NULL for a line without a source). */
void skynet_error(struct skynet_context *context, const char *msg, ...);

/* Runs a text command (TIMEOUT, REG, QUERY, NAME, EXIT, KILL, LAUNCH,
 * GETENV, SETENV, STARTTIME, ABORT, MONITOR, STAT, LOGON, LOGOFF, SIGNAL).
 * The result, or NULL, stays valid until the next command of `context`. */
const char *skynet_command(struct skynet_context *context, const char *cmd, const char *parm);

/* The handle of `:hex` or `.localname`; 0 when there is none. */
uint32_t skynet_queryname(struct skynet_context *context, const char *name);

/* Sends `sz` bytes at `msg` to `destination` (source 0 means `context`).
 * Returns the session, or a negative number when the message could not be
 * delivered. */
int skynet_send(struct skynet_context *context, uint32_t source, uint32_t destination, int type, int session, void *msg, size_t sz);

/* As skynet_send, to an address string: `:hex`, `.localname` or a global
 * name. */
int skynet_sendname(struct skynet_context *context, uint32_t source, const char *destination, int type, int session, void *msg, size_t sz);

/* Whether `handle` lives on another node; stores its harbor id (the top
 * byte) in `*harbor` when `harbor` is not NULL. */
int skynet_isremote(struct skynet_context *, uint32_t handle, int *harbor);

/* The message callback. `msg` belongs to the runtime and is freed after the
 * call, unless the callback returns non-zero: then the service keeps it and
 * releases it later with skynet_free. */
typedef int (*skynet_cb)(struct skynet_context *context, void *ud, int type, int session, uint32_t source, const void *msg, size_t sz);

/* Sets (a NULL `cb` clears) the callback of `context`, with its user data. */
void skynet_callback(struct skynet_context *context, void *ud, skynet_cb cb);

/* The handle of the service whose message the calling thread runs. */
uint32_t skynet_current_handle(void);

/* Centiseconds since the node started. */
uint64_t skynet_now(void);

/* Debug aid: writes `info` with the current handle to stderr. */
void skynet_debug_memory(const char *info);

#ifdef __cplusplus
}
#endif

#endif /* SKYNET_H */
