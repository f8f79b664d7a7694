/* Kernel-version differences, in one place: each one names the kernel change it bridges and
 * reads the field the running kernel has (CO-RE picks the branch at load time). Included by
 * common.bpf.h; nothing else here. The minimum kernel is 6.2 (README, Requirements): older
 * shapes are bridged only where a field moved since then. */
#ifndef EXFILWATCH_CORE_FIXES_BPF_H
#define EXFILWATCH_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/* container_of with a CO-RE relocated offset: the member's offset in the running kernel's
 * layout, not in the vmlinux.h the object was built against (__builtin_offsetof is a constant
 * of the build and silently wrong when a struct such as `struct mount` changes layout). */
#undef container_of
#define container_of(ptr, type, member) \
	((type *)((void *)(ptr) - bpf_core_field_offset(type, member)))

/* Linux 6.15, "kernfs: Use RCU to access kernfs_node::parent" (and the rename that followed):
 * kernfs_node::parent became kernfs_node::__parent. */
struct kernfs_node___pre_6_15 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *ew_kernfs_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre_6_15 *)kn, parent);
}

/* The mount of the whole filesystem `sb` (its root, not a subtree) in mount namespace `ns`, or
 * NULL. Linux 6.8 (commit 2eea9ce4310d) replaced super_block::s_mounts as a list_head by a
 * singly linked list through mount::mnt_next_for_sb; older kernels get NULL (bind mounts are
 * then named at their mount point, as d_path does). */
#define EW_SB_MOUNTS_MAX 16
static __always_inline struct vfsmount *ew_sb_mount_in_ns(struct super_block *sb, struct mnt_namespace *ns)
{
	struct mount *m = NULL;
	if (!bpf_core_field_exists(m->mnt_next_for_sb))
		return NULL;
	struct dentry *s_root = BPF_CORE_READ(sb, s_root);
	m = BPF_CORE_READ(sb, s_mounts);
	for (int i = 0; i < EW_SB_MOUNTS_MAX && m; i++) {
		if (BPF_CORE_READ(m, mnt.mnt_root) == s_root && BPF_CORE_READ(m, mnt_ns) == ns)
			return &m->mnt;
		m = BPF_CORE_READ(m, mnt_next_for_sb);
	}
	return NULL;
}

/* The file in slot `slot` of an io_uring's fixed-file table (IORING_REGISTER_FILES, or an open
 * into a slot), NULL when the slot is empty or out of range. Linux 6.13 ("io_uring/rsrc: get rid
 * of per-ring io_rsrc_node list" and the rework around it) moved the table to
 * io_file_table::data (an array of io_rsrc_node pointers, each holding file_ptr); older kernels
 * (io_file_table::files) get NULL, which the callers count as fd_lookup drops. The low bits of
 * file_ptr are flags (FFS_NOWAIT, FFS_ISREG). */
#define EW_FFS_MASK (~3UL)
static __always_inline struct file *ew_io_fixed_file(struct io_ring_ctx *ring, __u32 slot)
{
	if (!ring || !bpf_core_field_exists(ring->file_table.data))
		return NULL;
	if (slot >= BPF_CORE_READ(ring, file_table.data.nr))
		return NULL;
	struct io_rsrc_node **nodes = BPF_CORE_READ(ring, file_table.data.nodes);
	struct io_rsrc_node *node = NULL;
	if (!nodes || bpf_probe_read_kernel(&node, sizeof(node), &nodes[slot]) != 0 || !node)
		return NULL;
	return (struct file *)(BPF_CORE_READ(node, file_ptr) & EW_FFS_MASK);
}

#endif
