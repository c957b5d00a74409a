/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public header compiles as strict C99 on its own. */
#include "libdaxd.h"

int main(void) {
        struct daxd_listener l = { 0 };
        struct daxd_client *c = daxd_client_unref(NULL);

        (void) l;
        return c == NULL ? 0 : 1;
}
