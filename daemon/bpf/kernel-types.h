/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kernel-types.h: the few kernel types the kernel-view iterators read.
 *
 * Written by hand instead of a vmlinux.h dumped from the build machine's
 * BTF, so the build is the same on every machine, BTF or not. Only the
 * fields used are declared: with preserve_access_index every access is a
 * CO-RE relocation that libbpf resolves against the running kernel's own
 * BTF at load time, so offsets, padding and the fields left out do not
 * matter, and one object serves 6.1 to 6.18. Names and types must match
 * the kernel's (libbpf matches fields by name and checks their kind).
 */
#pragma once

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;

typedef __u32 dev_t;
typedef unsigned int fmode_t;

typedef struct {
        int counter;
} atomic_t;

typedef struct {
        __s64 counter;
} atomic64_t;

typedef atomic64_t atomic_long_t;
typedef __u16 umode_t;
typedef int pid_t;

#define S_IFMT 00170000
#define S_IFBLK 0060000
#define S_IFCHR 0020000

#define FMODE_READ 0x1u
#define FMODE_WRITE 0x2u

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct super_block {
        dev_t s_dev;
};

/* The parent pointer's low two bits are the node's colour. */
struct rb_node {
        unsigned long __rb_parent_color;
        struct rb_node *rb_right;
        struct rb_node *rb_left;
};

struct rb_root {
        struct rb_node *rb_node;
};

struct rb_root_cached {
        struct rb_root rb_root;
        struct rb_node *rb_leftmost;
};

/* Only the tree of the file's mappings (every VMA of it, shared or
 * private, of every process). */
struct address_space {
        struct rb_root_cached i_mmap;
};

struct inode {
        umode_t i_mode;
        struct super_block *i_sb;
        unsigned long i_ino;
        dev_t i_rdev;
        struct address_space *i_mapping;
        /* Open files that can write it (negative: denied, an executable
         * running); that can only read it (CONFIG_IMA only). */
        atomic_t i_writecount;
        atomic_t i_readcount;
};

struct file {
        struct inode *f_inode;
        struct address_space *f_mapping;
        fmode_t f_mode;
};

struct task_struct {
        pid_t pid;
        pid_t tgid;
};

/* owner: the task the address space is charged to (CONFIG_MEMCG, which
 * Debian's kernels have), kept pointing at a live task of one that uses
 * it; a process and the threads of its group share one. */
struct mm_struct {
        struct task_struct *owner;
};

/* shared.rb links the VMA into its file's i_mmap tree. */
struct vm_area_struct {
        unsigned long vm_start;
        struct mm_struct *vm_mm;
        struct {
                struct rb_node rb;
        } shared;
        struct file *vm_file;
};

struct seq_file;

struct bpf_iter_meta {
        struct seq_file *seq;
        __u64 session_id;
        __u64 seq_num;
};

/* The iterators' contexts; the kernel wraps each pointer in a union of
 * its own, which libbpf's field matching looks through. */
struct bpf_iter__task_file {
        struct bpf_iter_meta *meta;
        struct task_struct *task;
        __u32 fd;
        struct file *file;
};

struct bpf_iter__task_vma {
        struct bpf_iter_meta *meta;
        struct task_struct *task;
        struct vm_area_struct *vma;
};

/* A struct file's reference count, named and encoded two ways: f_count,
 * the count itself (before 6.13), and f_ref, a file_ref_t whose 0 means
 * one reference (6.13 on). The ___ suffixes are CO-RE flavours of
 * struct file: libbpf relocates each against the kernel's struct file and
 * the program asks which field exists. */
typedef struct {
        atomic64_t refcnt;
} file_ref_t;

struct file___f_count {
        atomic_long_t f_count;
};

struct file___f_ref {
        file_ref_t f_ref;
};

#pragma clang attribute pop
