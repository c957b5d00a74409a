/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public header compiles as strict C99 on its own, its callback tables
 * take designated initializers with their size, and every function it
 * declares links against the shared library. */
#include "libdaxd.h"

#define FN(f) (void (*)(void)) f

int main(void) {
        const struct daxd_listener l = { .size = sizeof(struct daxd_listener) };
        const struct daxd_monitor m = { .size = sizeof(struct daxd_monitor) };
        struct daxd_client *c = NULL;
        void (*const functions[])(void) = {
                FN(daxd_client_new), FN(daxd_client_ref), FN(daxd_client_unref), FN(daxd_client_get_fd),
                FN(daxd_client_get_events), FN(daxd_client_get_timeout), FN(daxd_client_dispatch),
                FN(daxd_client_wait), FN(daxd_client_get_error_name), FN(daxd_client_get_error_message),
                FN(daxd_lease_acquire), FN(daxd_lease_release), FN(daxd_lease_get_address), FN(daxd_lease_get_fd),
                FN(daxd_lease_get_length), FN(daxd_lease_get_offset), FN(daxd_lease_get_flags),
                FN(daxd_lease_get_region), FN(daxd_lease_get_object_path), FN(daxd_lease_get_granularity),
                FN(daxd_lease_is_fenced), FN(daxd_lease_get_client), FN(daxd_lease_persist), FN(daxd_lease_flush),
                FN(daxd_lease_drain), FN(daxd_client_list_regions), FN(daxd_region_list_get_count),
                FN(daxd_region_list_get), FN(daxd_region_list_free), FN(daxd_client_get_region),
                FN(daxd_client_update_region), FN(daxd_region_merge), FN(daxd_region_free),
                FN(daxd_region_get_properties), FN(daxd_region_get_name), FN(daxd_region_get_object_path),
                FN(daxd_region_get_backend), FN(daxd_region_get_path), FN(daxd_region_get_size),
                FN(daxd_region_get_align), FN(daxd_region_get_numa_node), FN(daxd_region_get_state),
                FN(daxd_region_get_references), FN(daxd_region_get_owner), FN(daxd_region_get_group),
                FN(daxd_region_get_mode), FN(daxd_region_get_teardown_action),
                FN(daxd_region_get_persistence_domain), FN(daxd_region_get_holder_count),
                FN(daxd_region_get_holder), FN(daxd_holder_get_name), FN(daxd_holder_get_pid),
                FN(daxd_holder_get_lease_count), FN(daxd_region_get_user_count), FN(daxd_region_get_user),
                FN(daxd_user_get_pid), FN(daxd_user_get_command), FN(daxd_user_get_kind),
                FN(daxd_region_get_bad_block_count), FN(daxd_region_get_bad_block), FN(daxd_bad_block_get_offset),
                FN(daxd_bad_block_get_length), FN(daxd_client_list_leases), FN(daxd_lease_list_get_count),
                FN(daxd_lease_list_get), FN(daxd_lease_list_free), FN(daxd_lease_info_get_object_path),
                FN(daxd_lease_info_get_holder), FN(daxd_lease_info_get_region), FN(daxd_lease_info_get_offset),
                FN(daxd_lease_info_get_length), FN(daxd_lease_info_get_flags), FN(daxd_client_teardown_async),
                FN(daxd_client_teardown), FN(daxd_client_reload), FN(daxd_client_get_teardown_timeout),
                FN(daxd_client_monitor),
        };

        for (unsigned i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
                if (!functions[i])
                        return 1;
        /* The library flags stay clear of the bus's 32 bits. */
        if ((DAXD_LEASE_NO_MAP & UINT64_C(0xffffffff)) != 0)
                return 1;
        (void) l;
        (void) m;
        return daxd_client_unref(c) == NULL ? 0 : 1;
}
