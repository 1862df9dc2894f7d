/*
 * skynet_malloc.h -- the memory functions skynet-rs exports to C services.
 *
 * Part of skynet-rs's C ABI for service modules (crates/skynet-core/src/
 * ffi.rs); stands for the reference's skynet-src/skynet_malloc.h.
 *
 * These are real functions of the running `skynet` binary, not macros for
 * the libc allocator. Every message buffer the runtime hands to a service,
 * and every buffer a service hands over with PTYPE_TAG_DONTCOPY, belongs to
 * this allocator: allocate it with skynet_malloc (or calloc/realloc/strdup)
 * and release it with skynet_free.
 */
#ifndef SKYNET_MALLOC_H
#define SKYNET_MALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A block of `sz` bytes, or NULL when memory is exhausted. */
void * skynet_malloc(size_t sz);

/* `nmemb` zeroed elements of `size` bytes each. */
void * skynet_calloc(size_t nmemb, size_t size);

/* Resizes a block from this allocator (NULL `ptr` allocates). */
void * skynet_realloc(void *ptr, size_t size);

/* Releases a block from this allocator; NULL is ignored. */
void skynet_free(void *ptr);

/* A copy of the NUL-terminated `str`, to be released with skynet_free. */
char * skynet_strdup(const char *str);

#ifdef __cplusplus
}
#endif

#endif /* SKYNET_MALLOC_H */
