/* File telemetry: opens of regular files (the path as named, and the opened file's own path
 * walked from its dentry and mount; a failed relative open carries the walked cwd/dirfd
 * instead) and bytes read per (process, file), counted in the kernel and harvested by
 * userspace. Syscall exit tracepoints only: the arguments come from the task's saved user
 * registers, so no enter program (and no per-thread stash map) is needed. */
#include "common.bpf.h"

char LICENSE_FILE[] SEC("license") = "GPL";

/* Per (process, file) counters; LRU so a long-running host never fills it. Userspace harvests
 * and deletes the pairs it was told of when the process exits; evictions show up there. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ew_file_key);
	__type(value, struct ew_file_stats);
} file_reads SEC(".maps");

/* Path prefixes whose opens are counted but not reported (shared libraries, locale data,
 * pseudo-files): set by userspace before load, NUL-padded, at most EW_IGNORE_MAX of them. */
#define EW_IGNORE_MAX 12
#define EW_IGNORE_LEN 24
_Static_assert(EW_IGNORE_LEN < EW_PATH_HEAD_MAX, "a prefix fits the walked head");
const volatile char cfg_ignore_prefixes[EW_IGNORE_MAX][EW_IGNORE_LEN] = {};

#define EW_O_ACCMODE 3
#define EW_O_CREAT 0100
#define EW_O_TRUNC 01000

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* fd -> struct file of the current task. Hot path (every read): BTF pointer loads instead of
 * one probe-read helper call per field; only the fd array slot needs a helper. */
static __always_inline struct file *ew_fd_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	return bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
}

static __always_inline bool ew_is_write(__u32 flags)
{
	return (flags & EW_O_ACCMODE) != 0 || (flags & (EW_O_CREAT | EW_O_TRUNC)) != 0;
}

static __always_inline bool ew_ignored(const __u8 *path)
{
	for (int p = 0; p < EW_IGNORE_MAX; p++) {
		if (cfg_ignore_prefixes[p][0] == 0)
			return false;
		bool match = true;
		for (int i = 0; i < EW_IGNORE_LEN; i++) {
			char want = cfg_ignore_prefixes[p][i];
			if (want == 0)
				break;
			if (path[i] != want) {
				match = false;
				break;
			}
		}
		if (match)
			return true;
	}
	return false;
}

static __always_inline struct pt_regs *ew_user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline void ew_open_exit(long ret, int dirfd, const char *upath, __u32 flags,
					 __u32 nr)
{
	if (ew_is_self())
		return;
	struct ew_file_open *rec = ew_scratch();
	if (!rec)
		return;
	__u8 *data = (__u8 *)(rec + 1);
	struct ew_file_key key = {.tgid = bpf_get_current_pid_tgid() >> 32};
	struct inode *inode = NULL;
	struct file *file = NULL;

	rec->mode = 0;
	rec->ino = 0;
	rec->dev = 0;
	if (ret >= 0) {
		file = ew_fd_file(ret);
		if (!file)
			return;
		inode = file->f_inode;
		rec->mode = inode->i_mode;
		if ((rec->mode & EW_S_IFMT) != EW_S_IFREG) {
			ew_count(EW_STAT_FILE_OPEN_SUPPRESSED);
			return;
		}
		key.ino = inode->i_ino;
		key.dev = inode->i_sb->s_dev;
		struct ew_file_stats *seen = bpf_map_lookup_elem(&file_reads, &key);
		/* A repeat open by the same process says nothing new, unless it now writes. */
		if (seen && (seen->opened_for_write || !ew_is_write(flags))) {
			ew_count(EW_STAT_FILE_OPEN_SUPPRESSED);
			return;
		}
		rec->ino = key.ino;
		rec->dev = key.dev;
	}

	long name_size = 1;
	data[0] = 0;
	if (upath) {
		name_size = bpf_probe_read_user_str(data, EW_PATH_MAX, upath);
		if (name_size <= 0) {
			ew_drop(EW_DROP_PATH_READ);
			return;
		}
	}
	rec->path_flags = data[0] == '/' ? EW_PATH_ABSOLUTE : 0;
	rec->base_size = 0;
	rec->base_depth = 0;
	__u32 off = name_size;
	if (off > EW_PATH_MAX)
		off = EW_PATH_MAX;
	bool ignored;
	if (file) {
		/* Name what the kernel opened by its own dentry and mount, not by the string: symlinks,
		 * "..", /proc/PID/root, bind mounts, chroots and handles all name the object itself,
		 * and the ignored prefixes are matched against that name. */
		__u8 head[EW_PATH_HEAD_MAX];
		__u16 depth = 0, path_flags = 0;
		__u32 size = ew_walk_path(file->f_path.dentry, file->f_path.mnt, sizeof(*rec) + off, &depth,
					  &path_flags, head);
		if (size > EW_PATH_MAX)
			size = EW_PATH_MAX;
		rec->base_size = size;
		rec->base_depth = depth;
		rec->path_flags |= EW_PATH_RESOLVED | path_flags;
		ignored = ew_ignored(head);
	} else {
		ignored = (rec->path_flags & EW_PATH_ABSOLUTE) && ew_ignored(data);
	}

	if (ret >= 0) {
		struct ew_file_stats fresh = {.reported = !ignored};
		fresh.opened_for_write = ew_is_write(flags);
		fresh.first_ns = bpf_ktime_get_ns();
		struct ew_file_stats *seen = bpf_map_lookup_elem(&file_reads, &key);
		if (seen) {
			seen->opened_for_write = 1;
		} else if (bpf_map_update_elem(&file_reads, &key, &fresh, BPF_NOEXIST) == -EW_E2BIG) {
			ew_drop(EW_DROP_FILE_MAP_FULL);
		}
	}
	if (ignored) {
		ew_count(EW_STAT_FILE_OPEN_SUPPRESSED);
		return;
	}

	rec->fd = ret;
	rec->dirfd = dirfd;
	rec->flags = flags;
	rec->syscall_nr = nr;
	rec->name_size = name_size;
	if (!file && !(rec->path_flags & EW_PATH_ABSOLUTE)) {
		/* A failed relative open: walk the directory it is relative to, while it still exists. */
		struct path base;
		if (dirfd == EW_AT_FDCWD) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			base.dentry = BPF_CORE_READ(task, fs, pwd.dentry);
			base.mnt = BPF_CORE_READ(task, fs, pwd.mnt);
		} else {
			struct file *dir = ew_fd_file(dirfd);
			if (!dir)
				return;
			base.dentry = dir->f_path.dentry;
			base.mnt = dir->f_path.mnt;
		}
		__u16 depth = 0, path_flags = 0;
		__u32 base_size = ew_walk_path(base.dentry, base.mnt, sizeof(*rec) + off, &depth, &path_flags,
					       NULL);
		if (base_size > EW_PATH_MAX)
			base_size = EW_PATH_MAX;
		rec->base_size = base_size;
		rec->base_depth = depth;
		rec->path_flags |= EW_PATH_BASE_WALKED | path_flags;
	}
	__u64 size = sizeof(*rec) + rec->name_size + rec->base_size;
	ew_fill_header(&rec->hdr, EW_REC_FILE_OPEN, size);
	ew_count(EW_STAT_FILE_OPEN);
	if (size <= sizeof(*rec) + 2 * EW_PATH_MAX)
		ew_submit(rec, size);
}

SEC("tp/syscalls/sys_exit_openat")
int on_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	ew_open_exit(ctx->ret, PT_REGS_PARM1_SYSCALL(regs), (const char *)PT_REGS_PARM2_SYSCALL(regs),
		     PT_REGS_PARM3_SYSCALL(regs), ctx->id);
	return 0;
}

SEC("tp/syscalls/sys_exit_openat2")
int on_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	struct open_how *how = (struct open_how *)PT_REGS_PARM3_SYSCALL(regs);
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), &how->flags);
	ew_open_exit(ctx->ret, PT_REGS_PARM1_SYSCALL(regs), (const char *)PT_REGS_PARM2_SYSCALL(regs),
		     flags, ctx->id);
	return 0;
}

SEC("tp/syscalls/sys_exit_open")
int on_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	ew_open_exit(ctx->ret, EW_AT_FDCWD, (const char *)PT_REGS_PARM1_SYSCALL(regs),
		     PT_REGS_PARM2_SYSCALL(regs), ctx->id);
	return 0;
}

/* open_by_handle_at(mount_fd, handle, flags): no path at all; the opened file names itself. */
SEC("tp/syscalls/sys_exit_open_by_handle_at")
int on_open_by_handle_at_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *regs = ew_user_regs();
	ew_open_exit(ctx->ret, PT_REGS_PARM1_SYSCALL(regs), NULL, PT_REGS_PARM3_SYSCALL(regs), ctx->id);
	return 0;
}

SEC("tp/syscalls/sys_exit_creat")
int on_creat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	ew_open_exit(ctx->ret, EW_AT_FDCWD, (const char *)PT_REGS_PARM1_SYSCALL(regs),
		     01 | EW_O_CREAT | EW_O_TRUNC, ctx->id);
	return 0;
}

/* Adds `bytes` read from `file` (through `fd`, -1 when unknown) to the (process, file) pair when
 * it is a regular file. */
static __always_inline void ew_account_file_read(struct file *file, int fd, long bytes, bool mapped)
{
	struct inode *inode = file->f_inode;
	if ((inode->i_mode & EW_S_IFMT) != EW_S_IFREG)
		return;
	struct ew_file_key key = {.tgid = bpf_get_current_pid_tgid() >> 32};
	key.ino = inode->i_ino;
	key.dev = inode->i_sb->s_dev;
	__u64 now = bpf_ktime_get_ns();
	struct ew_file_stats *stats = bpf_map_lookup_elem(&file_reads, &key);
	if (stats) {
		if (mapped)
			__sync_fetch_and_add(&stats->bytes_mapped, bytes);
		else
			__sync_fetch_and_add(&stats->bytes_read, bytes);
		stats->last_ns = now;
		return;
	}
	if (mapped)
		return; /* mappings of files never opened in sight (libraries at exec) are not news */
	/* Read through an fd this process did not open in our sight: inherited or pre-existing. */
	struct ew_file_stats fresh = {.bytes_read = bytes, .first_ns = now, .last_ns = now, .reported = 1};
	if (bpf_map_update_elem(&file_reads, &key, &fresh, BPF_NOEXIST) == -EW_E2BIG)
		ew_drop(EW_DROP_FILE_MAP_FULL);
	struct ew_file_first_read rec = {.fd = fd, .ino = key.ino, .dev = key.dev};
	ew_fill_header(&rec.hdr, EW_REC_FILE_FIRST_READ, sizeof(rec));
	ew_submit(&rec, sizeof(rec));
}

/* Adds `bytes` read through `fd` to the (process, file) pair when fd is a regular file. */
static __always_inline void ew_account_read(int fd, long bytes, bool mapped)
{
	if (bytes <= 0 || ew_is_self())
		return;
	struct file *file = ew_fd_file(fd);
	if (!file)
		return;
	ew_account_file_read(file, fd, bytes, mapped);
}

#define EW_READ_EXIT(syscall, fd_arg)                                                       \
	SEC("tp/syscalls/sys_exit_" #syscall)                                               \
	int on_##syscall##_exit(struct trace_event_raw_sys_exit *ctx)                       \
	{                                                                                   \
		if (ctx->ret > 0)                                                           \
			ew_account_read(fd_arg(ew_user_regs()), ctx->ret, false);           \
		return 0;                                                                   \
	}

EW_READ_EXIT(read, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(readv, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(pread64, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(preadv, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(preadv2, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(sendfile64, PT_REGS_PARM2_SYSCALL) /* sendfile(out_fd, in_fd, ...) */
EW_READ_EXIT(splice, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(copy_file_range, PT_REGS_PARM1_SYSCALL)

/* mmap(addr, len, prot, flags, fd, off): the mapped length is an upper bound of what is read. */
SEC("tp/syscalls/sys_exit_mmap")
int on_mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0 && ctx->ret > -4096)
		return 0;
	struct pt_regs *regs = ew_user_regs();
	int fd = PT_REGS_PARM5_SYSCALL(regs);
	if (fd < 0)
		return 0;
	ew_account_read(fd, PT_REGS_PARM2_SYSCALL(regs), true);
	return 0;
}

/* io_uring: requests bypass the syscall tracepoints, so their completions are read here. The
 * request still holds its file when the CQE is filled; the opcode says what the result means.
 * Completions run in the submitting task, its io-wq workers or its SQPOLL thread: all threads of
 * the same process, sharing its fd table. */
#define EW_SPLICE_F_FD_IN_FIXED (1u << 31)

static __always_inline struct file *ew_btf_file(struct file *file)
{
	return file ? bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file)) : NULL;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(on_io_uring_complete, struct io_ring_ctx *ring, void *request, struct io_uring_cqe *cqe)
{
	struct io_kiocb *req = request;
	if (!req || ew_is_self())
		return 0;
	__u8 opcode = BPF_CORE_READ(req, opcode);
	__s32 res = BPF_CORE_READ(cqe, res);
	/* A request's command (io_splice, io_open ...) overlays its first bytes (io_kiocb_to_cmd). */
	void *cmd = (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);

	switch (opcode) {
	case IORING_OP_READ:
	case IORING_OP_READV:
	case IORING_OP_READ_FIXED:
	case IORING_OP_READV_FIXED: {
		struct file *file = ew_btf_file(BPF_CORE_READ(req, file));
		if (res > 0 && file)
			ew_account_file_read(file, -1, res, false);
		break;
	}
	case IORING_OP_SPLICE: {
		/* The request's file is the output; the input is named by splice_fd_in. */
		struct io_splice *sp = cmd;
		if (res <= 0 || (BPF_CORE_READ(sp, flags) & EW_SPLICE_F_FD_IN_FIXED))
			break;
		int fd_in = BPF_CORE_READ(sp, splice_fd_in);
		struct file *file = ew_fd_file(fd_in);
		if (file)
			ew_account_file_read(file, fd_in, res, false);
		break;
	}
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2: {
		/* The name was freed before completion: the opened file names itself. An open into a
		 * fixed-file slot installs no fd (res is 0) and is not seen here. */
		struct io_open *op = cmd;
		if (res < 0 || BPF_CORE_READ(op, file_slot))
			break;
		ew_open_exit(res, BPF_CORE_READ(op, dfd), NULL, BPF_CORE_READ(op, how.flags), 0);
		break;
	}
	}
	return 0;
}
