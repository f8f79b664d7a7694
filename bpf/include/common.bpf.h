/* Shared by every BPF program: the maps that cross into userspace, configuration knobs, and
 * helpers for counting, dropping and submitting records. Maps and knobs are defined once (in
 * process.bpf.c, which defines EW_DEFINE_SHARED) and declared extern elsewhere; `bpftool gen
 * object` links the objects so there is one skeleton. */
#ifndef EXFILWATCH_COMMON_BPF_H
#define EXFILWATCH_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "records.h"
#include "core_fixes.bpf.h"

#ifdef EW_DEFINE_SHARED
#define EW_SHARED
#else
#define EW_SHARED extern
#endif

#define EW_SCRATCH_SIZE 20480
#define EW_AT_FDCWD -100
#define EW_S_IFMT 00170000
#define EW_S_IFREG 0100000
#define EW_S_IFIFO 0010000
#define EW_S_IFDIR 0040000
#define EW_S_IFSOCK 0140000


/* Two ring buffers; userspace is woken only when enough data is pending in either. `events`
 * carries the records decisions rest on (exec, fork, exit, opens, reads, flow start, update and
 * end); `captures` carries the bulk copies of packet bytes (FLOW_DATA: stream heads and DNS
 * answers; TLS_PLAINTEXT: heads of TLS library writes), so a flood of captures fills its own ring and cannot make the kernel drop an exec
 * or an open. Userspace drains both and merges them by time. */
EW_SHARED struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

EW_SHARED struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} captures SEC(".maps");

/* Losses per (record kind, reason): key kind * EW_DROP_LIMIT + reason (records.h). */
EW_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EW_REC_LIMIT * EW_DROP_LIMIT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Records offered to the ring buffer, per kind (counted in ew_submit, the one way out). */
EW_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EW_REC_LIMIT);
	__type(key, __u32);
	__type(value, __u64);
} records SEC(".maps");

EW_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EW_STAT_LIMIT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Records are built in a scratch slot (per CPU) and copied into the ring buffer at their real
 * size. Programs nest on one CPU: cgroup_skb runs in softirq, which can interrupt a tracepoint
 * program (exec, open) or a process-context cgroup_skb egress mid-record, and a process-context
 * cgroup_skb program can be preempted by another task's. So a slot is taken with an atomic
 * compare-and-swap of its `busy` word and given back when the record is out: a program that
 * interrupts (or preempts) another finds that slot busy and takes the next one. EW_SCRATCH_SLOTS
 * covers process context + softirq + a preempted egress; when every slot is busy the record is
 * a counted drop (EW_DROP_SCRATCH_BUSY), never a corrupted one. */
#define EW_SCRATCH_SLOTS 4
struct ew_scratch {
	__u64 busy;
	__u8 buf[EW_SCRATCH_SIZE];
};
EW_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EW_SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct ew_scratch);
} scratch SEC(".maps");

/* Shared mappings (their addresses) whose lookup found the address space's lock taken, per
 * process (tgid): bpf_find_vma only try-locks it, and a writer holding it or waiting for it (an
 * mmap of another thread, khugepaged) makes it fail. Retried at the process's next read or write
 * (file.bpf.c, ew_vma_retry; the open programs are too large to carry it), before that syscall's own record; an exit with some still
 * waiting counts them lost (EW_DROP_VMA_BUSY). `vma_retry_waiting` counts the processes with an
 * entry: the retry's gate, one load while it is 0. */
struct ew_vma_retry {
	__u64 address[EW_VMA_RETRY_MAX];
};
EW_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct ew_vma_retry);
} vma_retry SEC(".maps");

#ifdef EW_DEFINE_SHARED
__u64 vma_retry_waiting = 0;
#else
extern __u64 vma_retry_waiting;
#endif

/* Knobs, set through the skeleton's rodata before load. */
#ifdef EW_DEFINE_SHARED
const volatile __u64 cfg_wakeup_bytes = 256 << 10; /* wake userspace past this much pending data */
const volatile __u64 cfg_flow_update_ns = 1000000000ull; /* periodic flow/file update interval */
const volatile __u32 cfg_self_tgid = 0;            /* the monitor itself: never traced */
#else
extern const volatile __u64 cfg_wakeup_bytes;
extern const volatile __u64 cfg_flow_update_ns;
extern const volatile __u32 cfg_self_tgid;
#endif

static __always_inline void ew_count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &counter);
	if (value)
		*value += 1;
}

static __always_inline void ew_count_n(__u32 counter, __u64 n)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &counter);
	if (value)
		*value += n;
}

/* The one-second rate windows of every limit in the programs (captures per socket and CPU,
 * datagram pairs per CPU), written once: whether `w` has room for one more at `now`,
 * restarting it once its second is over. */
static __always_inline bool ew_window_open(struct ew_rate_window *w, __u64 limit, __u64 now)
{
	if (now - w->start_ns >= 1000000000ull) {
		w->start_ns = now;
		w->used = 0;
	}
	return w->used < limit;
}

/* Takes one of this CPU's window in `map` (a one-slot per-CPU array): false when it is full. */
static __always_inline bool ew_cpu_window_take(void *map, __u64 limit, __u64 now)
{
	__u32 zero = 0;
	struct ew_rate_window *w = bpf_map_lookup_elem(map, &zero);
	if (!w || !ew_window_open(w, limit, now))
		return false;
	w->used += 1;
	return true;
}

/* A record of `kind` (EW_REC_NONE: a piece of state) lost for `reason`. */
static __always_inline void ew_drop(__u32 kind, __u32 reason)
{
	__u32 key = kind * EW_DROP_LIMIT + reason;
	__u64 *value = bpf_map_lookup_elem(&drops, &key);
	if (value)
		*value += 1;
}

/* Takes a free scratch slot of this CPU (NULL, counted, when all are busy); give it back with
 * ew_scratch_put on every path once the record is submitted. */
static __always_inline struct ew_scratch *ew_scratch_get(__u32 kind)
{
	for (__u32 i = 0; i < EW_SCRATCH_SLOTS; i++) {
		__u32 key = i;
		struct ew_scratch *slot = bpf_map_lookup_elem(&scratch, &key);
		if (slot && __sync_val_compare_and_swap(&slot->busy, 0, 1) == 0) {
			if (i > 0)
				ew_count(EW_STAT_SCRATCH_NESTED);
			return slot;
		}
	}
	ew_drop(kind, EW_DROP_SCRATCH_BUSY);
	return NULL;
}

static __always_inline void ew_scratch_put(struct ew_scratch *slot)
{
	asm volatile("" ::: "memory"); /* every use of the slot happens before it is freed */
	slot->busy = 0;
}

static __always_inline void ew_fill_header(struct ew_header *hdr, __u16 kind, __u32 size)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	hdr->kind = kind;
	hdr->version = EW_RECORD_VERSION;
	hdr->size = size;
	hdr->time_ns = bpf_ktime_get_ns();
	hdr->pid = pid_tgid >> 32;
	hdr->tid = (__u32)pid_tgid;
}

/* Copies a record into the ring buffer. No wakeup per record (it would more than double the
 * cost of a traced syscall); userspace polls on a short timer and is woken early only when
 * the pending data passes cfg_wakeup_bytes. A full buffer is a counted drop, never silent. */
static __always_inline void ew_submit(void *record, __u64 size)
{
	__u32 kind = ((struct ew_header *)record)->kind;
	__u64 *offered = bpf_map_lookup_elem(&records, &kind);
	if (offered)
		*offered += 1;
	__u64 flags = BPF_RB_NO_WAKEUP;
	long err;
	if (kind == EW_REC_FLOW_DATA || kind == EW_REC_TLS_PLAINTEXT) {
		if (bpf_ringbuf_query(&captures, BPF_RB_AVAIL_DATA) > cfg_wakeup_bytes)
			flags = BPF_RB_FORCE_WAKEUP;
		err = bpf_ringbuf_output(&captures, record, size, flags);
	} else {
		if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > cfg_wakeup_bytes)
			flags = BPF_RB_FORCE_WAKEUP;
		err = bpf_ringbuf_output(&events, record, size, flags);
	}
	if (err)
		ew_drop(kind, EW_DROP_RINGBUF_FULL);
}

static __always_inline bool ew_is_self(void)
{
	return cfg_self_tgid && (bpf_get_current_pid_tgid() >> 32) == cfg_self_tgid;
}

#define EW_PATH_HEAD_MAX 32

struct ew_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u8 *buf;  /* the scratch slot's buffer the path is written to */
	__u32 base; /* where the path starts in it */
	__u32 off;  /* bytes written so far */
	__u16 depth;
	__u16 flags;
	__u32 kind; /* the record the path is for: its drops are counted under it */
	struct mnt_namespace *mnt_ns; /* the task's: where a bind mount's source is looked up */
	__u16 starts[EW_PATH_DEPTH_MAX]; /* offset of each component (from base) */
	/* The path's first bytes read root first ("/home/u/.s"), built after the walk. */
	__u8 head[EW_PATH_HEAD_MAX];
	__s32 head_comp; /* component being copied (depth - 1 down to 0) */
	__u32 head_pos;  /* its next byte, from base */
	__u32 head_len;
};

/* One step of the walk, as a bpf_loop callback: the verifier checks it once instead of once
 * per unrolled level (an open-coded 32-level walk exceeds the 1M-instruction budget). */
static long ew_walk_step(__u32 index __attribute__((unused)), struct ew_walk *w)
{
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root && w->mnt_ns) {
		/* The root of a bind mount of a subtree: name the file by where the subtree lives
		 * (the mount of its whole filesystem in the task's namespace), not where it is bound,
		 * so `mount --bind ~/.ssh /tmp/x` keeps /tmp/x/id_rsa known as ~/.ssh/id_rsa. */
		struct super_block *sb = BPF_CORE_READ(vfsmnt, mnt_sb);
		if (mnt_root != BPF_CORE_READ(sb, s_root)) {
			struct vfsmount *whole = ew_sb_mount_in_ns(sb, w->mnt_ns);
			if (whole) {
				w->vfsmnt = whole;
				return 0;
			}
		}
	}
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		if (dentry != mnt_root || mnt_parent == mnt)
			return 1; /* the global root, or a detached mount */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	if (w->depth >= EW_PATH_DEPTH_MAX) {
		w->flags |= EW_PATH_TRUNCATED;
		return 1;
	}
	__u8 *buf = w->buf;
	__u32 pos = w->base + w->off;
	if (!buf || w->off > EW_PATH_MAX - EW_NAME_MAX || pos > EW_SCRATCH_SIZE - EW_NAME_MAX) {
		w->flags |= EW_PATH_TRUNCATED;
		return 1;
	}
	const __u8 *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(buf + pos, EW_NAME_MAX, name);
	if (n <= 0) {
		ew_drop(w->kind, EW_DROP_PATH_READ);
		w->flags |= EW_PATH_TRUNCATED;
		return 1;
	}
	w->starts[w->depth & (EW_PATH_DEPTH_MAX - 1)] = w->off;
	w->off += n;
	w->depth += 1;
	w->dentry = parent;
	return 0;
}

/* One byte of the head of a walked path, as a bpf_loop callback: the root-most component
 * first, each after a '/'. */
static long ew_head_step(__u32 index __attribute__((unused)), struct ew_walk *w)
{
	if (w->head_comp < 0 || w->head_len >= EW_PATH_HEAD_MAX - 1)
		return 1;
	__u32 len = w->head_len & (EW_PATH_HEAD_MAX - 1);
	__u32 at = w->base + w->head_pos;
	__u8 *buf = w->buf;
	if (!buf || at >= EW_SCRATCH_SIZE)
		return 1;
	__u8 c = buf[at];
	if (c == 0) { /* this component is done: the next one down, after a '/' */
		w->head_comp -= 1;
		if (w->head_comp < 0)
			return 1;
		w->head_pos = w->starts[w->head_comp & (EW_PATH_DEPTH_MAX - 1)];
		c = '/';
	} else {
		w->head_pos += 1;
	}
	w->head[len] = c;
	w->head_len += 1;
	return 0;
}

/* Walks a path from `dentry` on `vfsmnt` up to the current task's root, writing components
 * leaf first, each NUL-terminated, into `buf` (a scratch slot's) at `base`. Crosses mount points
 * like d_path does and stops at the task's root, so a container process sees its own view. When
 * `head` is given (EW_PATH_HEAD_MAX bytes), it receives the path's first bytes read root first,
 * NUL-terminated, for prefix matching. */
static __always_inline __u32 ew_walk_path(struct dentry *dentry, struct vfsmount *vfsmnt, __u8 *buf,
					  __u32 base, __u16 *depth, __u16 *flags, __u32 kind, __u8 *head)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct ew_walk w = {
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.buf = buf,
		.base = base,
		.kind = kind,
		.mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns),
	};
	long steps = bpf_loop(EW_PATH_DEPTH_MAX + 8, ew_walk_step, &w, 0);
	if (steps >= EW_PATH_DEPTH_MAX + 8)
		w.flags |= EW_PATH_TRUNCATED;
	*depth = w.depth;
	*flags |= w.flags;
	if (head) {
		w.head[0] = '/';
		w.head_len = 1;
		w.head_comp = (__s32)w.depth - 1;
		w.head_pos = w.head_comp >= 0 ? w.starts[w.head_comp & (EW_PATH_DEPTH_MAX - 1)] : 0;
		bpf_loop(EW_PATH_HEAD_MAX, ew_head_step, &w, 0);
		__builtin_memcpy(head, w.head, EW_PATH_HEAD_MAX);
		head[w.head_len & (EW_PATH_HEAD_MAX - 1)] = 0;
	}
	return w.off;
}

#endif
