/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz.h: the libFuzzer entry point every target in fuzz/ defines. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
