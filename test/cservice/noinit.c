/*
 * noinit -- a broken C service module for tests/cservice.rs: it loads, but
 * lacks noinit_init, so the runtime must refuse to launch it (the reference's
 * skynet_module.c treats a module without NAME_init as not found) and the
 * node must go on running. It stands for no reference file.
 */
#include "skynet.h"

void *
noinit_create(void) {
	return skynet_malloc(16);
}

void
noinit_release(void *inst) {
	skynet_free(inst);
}
