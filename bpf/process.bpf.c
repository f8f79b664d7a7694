/* Process lifecycle: exec (executable, argv, ids, cgroup), fork and exit, from the scheduler's
 * BTF tracepoints, which cost nothing on the syscall path. Also defines the shared maps. */
#define EW_DEFINE_SHARED
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The inode of the pipe or FIFO open on `fd` of `task` (0 when it is none), and what the fd is
 * (EW_STDOUT_*). */
static __always_inline __u64 ew_stdio(struct task_struct *task, unsigned int fd, __u8 *kind)
{
	*kind = EW_STDOUT_OTHER;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	__u32 type = BPF_CORE_READ(inode, i_mode) & EW_S_IFMT;
	if (type == EW_S_IFREG)
		*kind = EW_STDOUT_FILE;
	if (type != EW_S_IFIFO)
		return 0;
	*kind = EW_STDOUT_PIPE;
	return BPF_CORE_READ(inode, i_ino);
}

/* Writes the innermost directory names of the task's cgroup v2 path at `data + off`, leaf
 * first, each NUL-terminated; returns the bytes written. The container id lives in these names
 * (docker/<id>, docker-<id>.scope, cri-containerd-<id>.scope ...), so userspace needs neither
 * /proc/<pid>/cgroup nor the cgroup directory, both gone once a short-lived container exits. */
static __always_inline __u32 ew_cgroup_path(struct task_struct *task, __u8 *data, __u32 off)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	__u32 written = 0;

	for (int level = 0; level < EW_CGROUP_DEPTH_MAX; level++) {
		if (!kn)
			break;
		struct kernfs_node *parent = ew_kernfs_parent(kn);
		if (!parent)
			break; /* the root has no name in the path */
		__u32 pos = off + written;
		if (pos > EW_PATH_MAX + EW_ARGS_MAX + (EW_CGROUP_DEPTH_MAX - 1) * EW_CGROUP_NAME_MAX)
			break;
		long n = bpf_probe_read_kernel_str(data + pos, EW_CGROUP_NAME_MAX, BPF_CORE_READ(kn, name));
		if (n <= 0) {
			ew_drop(EW_REC_EXEC, EW_DROP_PATH_READ);
			break;
		}
		written += n;
		kn = parent;
	}
	return written;
}

static __always_inline void ew_exec(struct task_struct *task, struct linux_binprm *bprm,
				    struct ew_scratch *slot)
{
	struct ew_exec *rec = (struct ew_exec *)slot->buf;
	__u8 *data = (__u8 *)(rec + 1);
	__u64 uid_gid = bpf_get_current_uid_gid();

	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	rec->uid = (__u32)uid_gid;
	rec->gid = uid_gid >> 32;
	rec->pgid = BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID], numbers[0].nr);
	rec->sid = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID], numbers[0].nr);
	rec->tty = BPF_CORE_READ(task, signal, tty) != NULL;
	rec->cgroup_id = bpf_get_current_cgroup_id();
	rec->start_ns = BPF_CORE_READ(task, group_leader, start_time);
	__u8 stdin_kind;
	rec->stdin_pipe = ew_stdio(task, 0, &stdin_kind);
	rec->stdout_pipe = ew_stdio(task, 1, &rec->stdout_kind);
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));

	__u16 depth = 0, path_flags = 0;
	struct file *exe = BPF_CORE_READ(bprm, file);
	__u32 exe_size = ew_walk_path(BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt),
				      slot->buf, sizeof(*rec), &depth, &path_flags, EW_REC_EXEC, NULL);
	if (exe_size > EW_PATH_MAX)
		exe_size = EW_PATH_MAX;
	rec->exe_size = exe_size;
	rec->exe_truncated = (path_flags & EW_PATH_TRUNCATED) != 0;

	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	__u64 args_size = arg_end > arg_start ? arg_end - arg_start : 0;
	rec->args_truncated = 0;
	if (args_size > EW_ARGS_MAX) {
		args_size = EW_ARGS_MAX;
		rec->args_truncated = 1;
	}
	if (bpf_probe_read_user(data + exe_size, args_size, (void *)arg_start)) {
		ew_drop(EW_REC_EXEC, EW_DROP_ARGS_READ);
		args_size = 0;
		rec->args_truncated = 1;
	}
	rec->args_size = args_size;
	__u32 cgroup_size = ew_cgroup_path(task, data, exe_size + args_size);
	rec->cgroup_size = cgroup_size;

	__u64 size = sizeof(*rec) + exe_size + args_size + cgroup_size;
	ew_fill_header(&rec->hdr, EW_REC_EXEC, size);
	if (size <= sizeof(*rec) + EW_PATH_MAX + EW_ARGS_MAX + EW_CGROUP_DEPTH_MAX * EW_CGROUP_NAME_MAX)
		ew_submit(rec, size);
	else
		ew_drop(EW_REC_EXEC, EW_DROP_OVERSIZE);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_sched_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	(void)ctx; /* BPF_PROG's own argument, and the pid before exec: not needed */
	(void)old_pid;
	if (ew_is_self())
		return 0;
	struct ew_scratch *slot = ew_scratch_get(EW_REC_EXEC);
	if (!slot)
		return 0;
	ew_exec(task, bprm, slot);
	ew_scratch_put(slot);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	(void)ctx;
	/* Threads share the process: only a new thread group is a new process. */
	if (child->pid != child->tgid || ew_is_self())
		return 0;
	struct ew_fork rec = {};
	ew_fill_header(&rec.hdr, EW_REC_FORK, sizeof(rec));
	rec.hdr.pid = child->tgid;
	rec.hdr.tid = child->pid;
	rec.ppid = parent->tgid;
	rec.uid = (__u32)bpf_get_current_uid_gid();
	rec.start_ns = child->start_time;
	rec.cgroup_id = bpf_get_current_cgroup_id();
	bpf_probe_read_kernel_str(rec.comm, sizeof(rec.comm), parent->comm);
	ew_submit(&rec, sizeof(rec));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_sched_exit, struct task_struct *task)
{
	(void)ctx;
	/* The process ends with its last thread (signal->live already dropped to zero). */
	if (BPF_CORE_READ(task, signal, live.counter) != 0 || ew_is_self())
		return 0;
	if (vma_retry_waiting) {
		__u32 tgid = task->tgid;
		struct ew_vma_retry *waiting = bpf_map_lookup_elem(&vma_retry, &tgid);
		if (waiting) {
			for (int i = 0; i < EW_VMA_RETRY_MAX; i++)
				if (waiting->address[i])
					ew_drop(EW_REC_OBJECT_IO, EW_DROP_VMA_BUSY);
			if (bpf_map_delete_elem(&vma_retry, &tgid) == 0)
				__sync_fetch_and_add(&vma_retry_waiting, -1);
		}
	}
	struct ew_exit rec = {};
	ew_fill_header(&rec.hdr, EW_REC_EXIT, sizeof(rec));
	rec.hdr.pid = task->tgid;
	rec.exit_code = task->exit_code;
	rec.start_ns = BPF_CORE_READ(task, group_leader, start_time);
	ew_submit(&rec, sizeof(rec));
	return 0;
}
