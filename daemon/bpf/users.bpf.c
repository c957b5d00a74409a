/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users.bpf.c: who holds or maps a backing, asked of the kernel directly.
 *
 * Two iterators, run one after the other by users-bpf.c: iter/task_file
 * visits every open file of every process, iter/task_vma every mapping,
 * and each writes a record only for those whose inode is the backing. The
 * text of /proc/PID/maps is never formatted and nothing is stat()ed, which
 * is what the /proc scan spends its time on.
 *
 * The globals below are one copy for every reader of these programs: a
 * pass must not start while another one runs (users.c serialises them).
 *
 * A third, users_own, is attached for the reader's own process only (the
 * task iterator's pid filter, Linux 6.1): through the reader's own fd on
 * a file it reads how many open files the kernel counts on the inode and
 * whether anything maps it, which lets users-bpf.c skip the passes over
 * every process when nobody else can be there (the end of every drain).
 *
 * No loops and no bpf_probe_read_kernel() in these three: every read is
 * a direct, CO-RE-relocated load of a field the verifier knows from BTF.
 * The fourth, users_walk, at the end, is the exception, and loaded only
 * when asked for.
 */
#include "kernel-types.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "users-abi.h"

/* bpf_seq_write() is offered to GPL-compatible programs only; LGPL-2.1
 * allows the GPL's terms to be applied instead (its section 3). */
char LICENSE[] SEC("license") = "GPL";

struct users_target target;
struct users_learned learned;
struct users_own own;
struct users_walk walk;
/* The last process written: the rest of its files or mappings need no
 * look. Set only once the record is out, because a record that did not
 * fit in the seq buffer is shown again on the next read(). */
__u32 last_tgid;

static __always_inline int inode_is_backing(const struct inode *inode) {
        const struct super_block *sb;
        __u64 ino;
        dev_t dev;

        if (!inode)
                return 0;
        if (target.rdev) {
                umode_t fmt = inode->i_mode & S_IFMT;

                return (fmt == S_IFCHR || fmt == S_IFBLK) && inode->i_rdev == target.rdev;
        }
        sb = inode->i_sb;
        if (!sb)
                return 0;
        dev = sb->s_dev;
        ino = inode->i_ino;
        return (dev == target.fd_dev && ino == target.fd_ino) || (dev == target.map_dev && ino == target.map_ino);
}

/* Whether tgid is the process reading the iterator. */
static __always_inline int is_reader(__u32 tgid) {
        return tgid == (__u32) (bpf_get_current_pid_tgid() >> 32);
}

/* The file's address_space if it is its inode's own (what holds the
 * inode's mappings), else NULL: a stacking file system's is not. */
static __always_inline struct address_space *own_mapping(const struct file *file, const struct inode *inode) {
        struct address_space *mapping = file->f_mapping;

        return mapping && mapping == inode->i_mapping ? mapping : 0;
}

static __always_inline void learn(const struct inode *inode) {
        const struct super_block *sb;

        if (!inode)
                return;
        sb = inode->i_sb;
        learned.dev = sb ? sb->s_dev : 0;
        learned.ino = inode->i_ino;
        learned.found = 1;
}

static __always_inline void emit(struct seq_file *seq, __u32 tgid, __u32 kind) {
        struct users_record r = { .tgid = tgid, .kind = kind };

        if (bpf_seq_write(seq, &r, sizeof(r)) == 0)
                last_tgid = tgid;
}

SEC("iter/task_file")
int users_fds(struct bpf_iter__task_file *ctx) {
        struct task_struct *task = ctx->task;
        struct file *file = ctx->file;
        struct inode *inode;
        __u32 tgid;

        if (!task || !file)
                return 0;
        tgid = task->tgid;
        inode = file->f_inode;

        /* The reader's own descriptor on the backing says how the kernel
         * names the inode behind an open file (on overlayfs not what
         * stat() says); the current task is the process reading. */
        if (target.learn_fd >= 0 && ctx->fd == (__u32) target.learn_fd && is_reader(tgid))
                learn(inode);

        /* O_PATH (or O_ACCMODE, ioctls only): it can neither read,
         * write nor map; not a use, as for the /proc way. */
        if (tgid == last_tgid || !(file->f_mode & (FMODE_READ | FMODE_WRITE)) || !inode_is_backing(inode))
                return 0;
        emit(ctx->meta->seq, tgid, USERS_RECORD_FD);
        return 0;
}

SEC("iter/task_vma")
int users_maps(struct bpf_iter__task_vma *ctx) {
        struct task_struct *task = ctx->task;
        struct vm_area_struct *vma = ctx->vma;
        struct file *file;
        __u32 tgid;

        if (!task || !vma)
                return 0;
        tgid = task->tgid;
        file = vma->vm_file;
        if (!file)
                return 0;
        /* The same for a mapping: newer kernels (6.18, not 6.1) show an
         * overlayfs mapping in /proc/PID/maps as the overlay's inode, but
         * vm_file is the upper file's; the reader's own mapping says. */
        if (target.learn_addr && vma->vm_start == target.learn_addr && is_reader(tgid)) {
                learn(file->f_inode);
                return 0; /* made for the look, not a use */
        }
        if (tgid == last_tgid || !inode_is_backing(file->f_inode))
                return 0;
        emit(ctx->meta->seq, tgid, USERS_RECORD_MAP);
        return 0;
}

/* An open file that can read or write an inode is counted in it: in
 * i_writecount if it can write, in i_readcount if it can only read (the
 * latter with CONFIG_IMA, Debian's). When those counts are the reader's
 * own files on it, no other open file of it exists anywhere: no other
 * process's descriptor, and no mapping, since every mapping holds an open
 * file. The kernel also links every VMA of a file into its address_space's
 * i_mmap tree, whose empty root (what the kernel's own mapping_mapped()
 * reads) says that nothing maps it even where the counts say more. Each
 * is one aligned load, without the locks a BPF program cannot take; an
 * open or close between two loads makes the counts differ, which only
 * costs the full passes. The reader's own open file must have no other
 * reference than its one descriptor and the iterator's own, or another
 * process shares it. Only a mapping that is the inode's own counts: a
 * stacking file system (overlayfs) keeps the mappings and the counts on
 * another inode's, and users-bpf.c also checks that the file's names
 * behind an fd and behind a mapping are the same before it trusts any of
 * this. */
SEC("iter/task_file")
int users_own(struct bpf_iter__task_file *ctx) {
        struct task_struct *task = ctx->task;
        struct file *file = ctx->file;
        struct address_space *mapping;
        struct inode *inode;
        fmode_t mode;

        if (!task || !file || target.own_fd < 0 || !is_reader((__u32) task->tgid))
                return 0;
        inode = file->f_inode;
        if (!inode_is_backing(inode))
                return 0;
        mode = file->f_mode;
        if (mode & FMODE_WRITE)
                own.own_write++;
        else if (mode & FMODE_READ)
                own.own_read++;
        if (ctx->fd != (__u32) target.own_fd)
                return 0;
        mapping = own_mapping(file, inode);
        if (!mapping)
                return 0;
        /* Counted once per open file, the counts cannot tell another
         * process that shares the reader's own (a child it forked, a
         * descriptor taken with pidfd_getfd()): its references can. */
        own.file_refs = -1;
        if (bpf_core_field_exists(((struct file___f_ref *) file)->f_ref))
                own.file_refs = ((struct file___f_ref *) file)->f_ref.refcnt.counter + 1;
        else if (bpf_core_field_exists(((struct file___f_count *) file)->f_count))
                own.file_refs = ((struct file___f_count *) file)->f_count.counter;
        own.mapped = mapping->i_mmap.rb_root.rb_node != 0;
        own.inode_write = inode->i_writecount.counter;
        if (bpf_core_field_exists(inode->i_readcount)) {
                own.inode_read = inode->i_readcount.counter;
                own.counted = 1;
        }
        own.checked = 1;
        return 0;
}

/* users_walk: instead of a look at every mapping of every process, the
 * kernel's own list of the file's mappings, its address_space's i_mmap
 * tree (every VMA of the file, shared or private, of every process),
 * walked in order from its leftmost node by the nodes' parent pointers,
 * one step per bpf_loop() iteration (Linux 5.17): the verifier accepts
 * no loop whose bound it cannot see. The kernel walks this tree under
 * i_mmap_rwsem, which a BPF program cannot take, so every read here is a
 * bpf_probe_read_kernel() that may fail (and then fails the walk), and a
 * tree rebalanced by an mmap() or munmap() while it is walked can hide a
 * node: users-bpf.c uses the answer only when asked to
 * (DAXD_USERS_MMAP_WALK=1). A VMA names its address space, and that its
 * owner task: a process that shares another's without being its thread
 * (vfork, CLONE_VM) is named by the owner alone. Not loaded otherwise, so
 * a kernel without bpf_loop() loads the rest. */
enum { WALK_VISIT, WALK_DESCEND, WALK_ASCEND };

/* Where the walk is: a global, not the caller's stack. Verifiers before
 * Linux 6.8 check a bpf_loop() callback once, with the state the caller
 * passes; a mode they see as the constant WALK_VISIT there makes them
 * prune the other cases as dead code (6.1 does: every step then visited
 * the same node). A global's value is unknown to them. */
struct users_walk_cursor cursor;

static __always_inline int walk_record(struct users_walk_cursor *w, struct rb_node *node) {
        struct vm_area_struct *vma_type = 0;
        struct vm_area_struct *vma;
        struct task_struct *owner = 0;
        struct mm_struct *mm = 0;
        __u32 n;
        pid_t tgid = 0;

        vma = (struct vm_area_struct *) ((char *) node - bpf_core_field_offset(vma_type->shared.rb));
        if (bpf_core_read(&mm, sizeof(mm), &vma->vm_mm) || !mm || bpf_core_read(&owner, sizeof(owner), &mm->owner) ||
            !owner || bpf_core_read(&tgid, sizeof(tgid), &owner->tgid) || tgid <= 0)
                return -1;
        walk.mappings++;
        if ((__u32) tgid == w->last)
                return 0;
        n = walk.n;
        if (n >= USERS_WALK_MAX) {
                walk.overflow = 1;
                return -1;
        }
        walk.tgids[n & (USERS_WALK_MAX - 1)] = (__u32) tgid;
        walk.n = n + 1;
        w->last = (__u32) tgid;
        return 0;
}

static long walk_step(__u64 i __attribute__((unused)), void *ctx __attribute__((unused))) {
        struct users_walk_cursor *w = &cursor;
        struct rb_node *node = (struct rb_node *) w->node, *next = 0, *parent;
        unsigned long parent_color = 0;

        switch (w->mode) {
        case WALK_DESCEND:
                if (bpf_core_read(&next, sizeof(next), &node->rb_left))
                        break;
                if (next)
                        w->node = (unsigned long long) next;
                else
                        w->mode = WALK_VISIT;
                return 0;
        case WALK_VISIT:
                if (walk_record(w, node) < 0 || bpf_core_read(&next, sizeof(next), &node->rb_right))
                        break;
                if (next) {
                        w->node = (unsigned long long) next;
                        w->mode = WALK_DESCEND;
                } else
                        w->mode = WALK_ASCEND;
                return 0;
        default:
                /* Up while coming from a right child; the first parent
                 * reached from its left is the next in order. */
                if (bpf_core_read(&parent_color, sizeof(parent_color), &node->__rb_parent_color))
                        break;
                parent = (struct rb_node *) (parent_color & ~3ul);
                if (!parent) {
                        walk.done = 1;
                        return 1;
                }
                if (bpf_core_read(&next, sizeof(next), &parent->rb_left))
                        break;
                if (next == node)
                        w->mode = WALK_VISIT;
                w->node = (unsigned long long) parent;
                return 0;
        }
        if (!walk.overflow)
                walk.failed = 1;
        return 1;
}

SEC("iter/task_file")
int users_walk(struct bpf_iter__task_file *ctx) {
        struct task_struct *task = ctx->task;
        struct file *file = ctx->file;
        struct address_space *mapping;
        struct rb_node *leftmost;
        struct inode *inode;

        if (!task || !file || target.own_fd < 0 || ctx->fd != (__u32) target.own_fd || !is_reader((__u32) task->tgid))
                return 0;
        inode = file->f_inode;
        if (!inode_is_backing(inode))
                return 0;
        mapping = own_mapping(file, inode);
        if (!mapping)
                return 0;
        walk.started = 1;
        leftmost = mapping->i_mmap.rb_leftmost;
        if (!leftmost) {
                walk.done = 1;
                return 0;
        }
        cursor = (struct users_walk_cursor) { .node = (unsigned long long) leftmost, .mode = WALK_VISIT };
        bpf_loop(USERS_WALK_STEPS, walk_step, 0, 0);
        return 0;
}
