/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* real.c: the next definitions of the functions the interposer wraps. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose.h"

static const char *const names[_REAL_MAX] = {
#define REAL_NAME(fn) [REAL_##fn] = #fn,
        REAL_FUNCTIONS(REAL_NAME)
#undef REAL_NAME
};

static _Atomic(void *) resolved[_REAL_MAX];

void *real_function(enum real_function fn) {
        void *p = atomic_load_explicit(&resolved[fn], memory_order_acquire);

        if (p)
                return p;
        /* RTLD_NEXT, not libc by name: another preload (fakeroot) stays in
         * the chain. Two threads resolving at once get the same answer. */
        p = dlsym(RTLD_NEXT, names[fn]);
        if (!p) {
                static const char msg[] = "daxdctl exec: a libc function the interposer wraps is missing\n";

                /* Nothing sensible is left to call; not even write(). */
                (void) syscall(SYS_write, STDERR_FILENO, msg, sizeof(msg) - 1);
                abort();
        }
        atomic_store_explicit(&resolved[fn], p, memory_order_release);
        return p;
}
