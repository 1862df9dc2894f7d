/*
 * skynet_error for C services: formats the printf-style message and hands
 * the text to the Rust runtime (stable Rust cannot define a variadic
 * function). Part of skynet-rs's C ABI; see src/ffi.rs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skynet_context;

void skynet_rs_log(struct skynet_context *context, const char *text, size_t len);

void
skynet_error(struct skynet_context *context, const char *fmt, ...) {
	va_list ap;
	char small[256];
	if (strcmp(fmt, "%*s") == 0) {
		/* a length-prefixed string, as lua-skynet.c's error uses */
		va_start(ap, fmt);
		int len = va_arg(ap, int);
		const char *s = va_arg(ap, const char *);
		va_end(ap);
		skynet_rs_log(context, s, len < 0 ? 0 : (size_t)len);
		return;
	}
	va_start(ap, fmt);
	int len = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (len < 0) {
		return;
	}
	if ((size_t)len < sizeof(small)) {
		skynet_rs_log(context, small, (size_t)len);
		return;
	}
	char *big = malloc((size_t)len + 1);
	if (big == NULL) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)len + 1, fmt, ap);
	va_end(ap);
	skynet_rs_log(context, big, (size_t)len);
	free(big);
}
