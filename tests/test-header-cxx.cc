// SPDX-License-Identifier: LGPL-2.1-or-later
// The public header compiles as C++ (extern "C", no C-only constructs).
#include "libdaxd.h"

int main() {
        struct daxd_client *c = nullptr;
        daxd_listener l = {};
        (void) l;
        return daxd_client_unref(c) == nullptr ? 0 : 1;
}
