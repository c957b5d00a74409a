// SPDX-License-Identifier: LGPL-2.1-or-later
// The public header compiles as C++ (extern "C", no C-only constructs), and
// its callback tables take the size field first.
#include "libdaxd.h"

int main() {
        struct daxd_client *c = nullptr;
        daxd_listener l = {};
        daxd_monitor m = {};

        l.size = sizeof(l);
        m.size = sizeof(m);
        (void) l;
        (void) m;
        return daxd_client_unref(c) == nullptr && daxd_region_free(nullptr) == nullptr ? 0 : 1;
}
