/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exec-harness.h: running programs under `daxdctl exec` ($DAXDCTL_BINARY)
 * for the tests, talking to exec-helper through its stdin and stdout, and
 * reading daxd meanwhile. Every helper asserts (test.h). */
#pragma once

#include <stdio.h>
#include <sys/types.h>

#include "harness.h"

/* $name, or the test is skipped (not found at build time). */
const char *test_program(const char *name);

/* A region's References, and the pids of its Holders (at most max). */
uint64_t region_refs(sd_bus *bus, const char *region);
size_t region_holder_pids(sd_bus *bus, const char *region, pid_t *ret, size_t max);
/* Waits (60 s at most) until References is want. */
void wait_region_refs(sd_bus *bus, const char *region, uint64_t want);

struct exec_proc {
        pid_t pid;      /* daxdctl, then (exec) the program itself */
        int in;         /* its stdin */
        FILE *out;      /* its stdout */
        char *err_path; /* its stderr */
        char *line;
};

/* Runs `daxdctl --bus-address=... exec [--on-revoke=POLICY] -- argv...` as
 * uid (nobody, or 0) in a session of its own (term-group must not reach
 * the test); extra_env is "K=V" or NULL. */
void exec_proc_start(struct test_env *env, struct exec_proc *p, uid_t uid, const char *policy, const char *extra_env,
                     const char *const *argv);
/* Its stderr so far (free it). */
char *exec_proc_stderr(struct exec_proc *p);
/* Waits (60 s at most) until its stderr has needle. */
void exec_wait_stderr(struct exec_proc *p, const char *needle);
/* Prints its stderr and fails the test. */
void exec_proc_fail(struct exec_proc *p, const char *what) __attribute__((noreturn));
/* Reads its stdout up to "READY STEP [ARGS]" (90 s at most); returns ARGS,
 * valid until the next call. */
const char *exec_proc_expect(struct exec_proc *p, const char *step);
/* The line exec-helper waits for after each READY. */
void exec_proc_continue(struct exec_proc *p);
/* Waits (90 s at most) for it to end: the wait status, or asserts it
 * succeeded. */
int exec_proc_wait(struct exec_proc *p);
void exec_proc_wait_ok(struct exec_proc *p);
void exec_proc_done(struct exec_proc *p);

/* Runs it to its end, asserting success; its stdout (free it). */
char *exec_run_ok(struct test_env *env, uid_t uid, const char *extra_env, const char *const *argv);
/* daxdctl --bus-address=... with the arguments (NULL-terminated), to its
 * end: the exit status, stdout and stderr in *ret. */
int daxdctl_run(struct test_env *env, char **ret, ...);
/* nobody cannot open path without daxd (EACCES). */
void assert_closed_to_nobody(const char *path);
