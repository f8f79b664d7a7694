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

#endif
