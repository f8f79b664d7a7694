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

/* Pairs whose counters moved, at most once per pair and cfg_flow_update_ns: userspace's periodic
 * summaries fetch these pairs, not every pair it tracks. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16384);
	__type(value, struct ew_file_key);
} file_changed SEC(".maps");

/* Path prefixes whose opens are counted but not reported (shared libraries, locale data,
 * pseudo-files): set by userspace before load, NUL-padded, at most EW_IGNORE_MAX of them. */
#define EW_IGNORE_MAX 12
#define EW_IGNORE_LEN 24
_Static_assert(EW_IGNORE_LEN < EW_PATH_HEAD_MAX, "a prefix fits the walked head");
const volatile char cfg_ignore_prefixes[EW_IGNORE_MAX][EW_IGNORE_LEN] = {};

#define EW_O_ACCMODE 3
#define EW_O_CREAT 0100
#define EW_O_TRUNC 01000

/* A read-only view of a kernel object as the type with that BTF id (Linux 6.2): loads through
 * it are BTF pointer loads (fault-safe), one helper call fewer per field. Referenced from this
 * object only (see ew_sock_inode in net.bpf.c for why). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* fd -> struct file of the current task. Hot path (every read): BTF pointer loads instead of
 * one probe-read helper call per field; only the fd array slot needs a helper. */
static __always_inline struct file *ew_fd_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
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

/* The current process's (process, file) pair of `inode`: fills `key`, returns its counters
 * (NULL when the pair is new). */
static __always_inline struct ew_file_stats *ew_file_pair(struct inode *inode, struct ew_file_key *key)
{
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	key->ino = inode->i_ino;
	key->dev = inode->i_sb->s_dev;
	return bpf_map_lookup_elem(&file_reads, key);
}

/* Tells userspace (through file_changed) that the counters of the pair `key` moved, once per
 * cfg_flow_update_ns and only for pairs it was told of; a full queue is a counted drop, and the
 * next move tries again. */
static __always_inline void ew_file_moved(struct ew_file_stats *stats, const struct ew_file_key *key, __u64 now)
{
	if (!stats->reported || now - stats->announced_ns < cfg_flow_update_ns)
		return;
	if (bpf_map_push_elem(&file_changed, key, 0) == 0)
		stats->announced_ns = now;
	else
		ew_drop(EW_REC_NONE, EW_DROP_FILE_CHANGED_FULL);
}

static __always_inline void ew_open_record(long ret, struct file *opened, int dirfd, const char *upath,
					   __u32 flags, __u32 nr, struct ew_scratch *slot)
{
	struct ew_file_open *rec = (struct ew_file_open *)slot->buf;
	__u8 *data = (__u8 *)(rec + 1);
	struct ew_file_key key = {};
	struct inode *inode = NULL;
	struct file *file = NULL;

	rec->mode = 0;
	rec->ino = 0;
	rec->dev = 0;
	if (ret >= 0) {
		file = opened ? opened : ew_fd_file(ret);
		if (!file) {
			ew_drop(EW_REC_FILE_OPEN, EW_DROP_FD_LOOKUP);
			return;
		}
		inode = file->f_inode;
		rec->mode = inode->i_mode;
		if ((rec->mode & EW_S_IFMT) != EW_S_IFREG) {
			ew_count(EW_STAT_FILE_OPEN_SUPPRESSED);
			return;
		}
		struct ew_file_stats *seen = ew_file_pair(inode, &key);
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
	if (upath) { /* open_by_handle_at and io_uring opens have no name: the file names itself */
		name_size = bpf_probe_read_user_str(data, EW_PATH_MAX, upath);
		if (name_size <= 0) {
			ew_drop(EW_REC_FILE_OPEN, EW_DROP_PATH_READ);
			return;
		}
	}
	/* Opaque to the verifier: a name size it knows exactly (1, for the opens without a name)
	 * keeps the path walk's states apart by their exact offsets, and open_by_handle_at's
	 * program alone went past the 1M-instruction limit on 6.18.44. */
	asm volatile("" : "+r"(name_size));
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
		__u32 size = ew_walk_path(file->f_path.dentry, file->f_path.mnt, slot->buf, sizeof(*rec) + off,
					  &depth, &path_flags, EW_REC_FILE_OPEN, head);
		if (size > EW_PATH_MAX)
			size = EW_PATH_MAX;
		rec->base_size = size;
		rec->base_depth = depth;
		rec->path_flags |= EW_PATH_RESOLVED | path_flags;
		/* A walk cut short never reached the root: its head is not the path's start. */
		ignored = !(path_flags & EW_PATH_TRUNCATED) && ew_ignored(head);
	} else {
		ignored = (rec->path_flags & EW_PATH_ABSOLUTE) && ew_ignored(data);
	}

	if (ret >= 0) {
		struct ew_file_stats fresh = {.reported = !ignored};
		fresh.opened_for_write = ew_is_write(flags);
		fresh.first_ns = bpf_ktime_get_ns();
		struct ew_file_stats *seen = bpf_map_lookup_elem(&file_reads, &key);
		/* An LRU: a full map evicts its oldest pair rather than refuse this one. */
		if (seen)
			seen->opened_for_write = 1;
		else
			bpf_map_update_elem(&file_reads, &key, &fresh, BPF_NOEXIST);
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
			if (!dir) {
				ew_drop(EW_REC_FILE_OPEN, EW_DROP_FD_LOOKUP);
				return;
			}
			base.dentry = dir->f_path.dentry;
			base.mnt = dir->f_path.mnt;
		}
		__u16 depth = 0, path_flags = 0;
		__u32 base_size = ew_walk_path(base.dentry, base.mnt, slot->buf, sizeof(*rec) + off, &depth,
					       &path_flags, EW_REC_FILE_OPEN, NULL);
		if (base_size > EW_PATH_MAX)
			base_size = EW_PATH_MAX;
		rec->base_size = base_size;
		rec->base_depth = depth;
		rec->path_flags |= EW_PATH_BASE_WALKED | path_flags;
	}
	__u64 size = sizeof(*rec) + rec->name_size + rec->base_size;
	ew_fill_header(&rec->hdr, EW_REC_FILE_OPEN, size);
	if (size <= sizeof(*rec) + 2 * EW_PATH_MAX)
		ew_submit(rec, size);
	else
		ew_drop(EW_REC_FILE_OPEN, EW_DROP_OVERSIZE);
}

/* `opened` is the file when the open installed no fd (an io_uring open into a fixed-file slot,
 * `ret` then its slot), else NULL: the file is looked up from the fd `ret`. */
static __always_inline void ew_open_file_exit(long ret, struct file *opened, int dirfd, const char *upath,
					      __u32 flags, __u32 nr)
{
	if (ew_is_self())
		return;
	struct ew_scratch *slot = ew_scratch_get(EW_REC_FILE_OPEN);
	if (!slot)
		return;
	ew_open_record(ret, opened, dirfd, upath, flags, nr, slot);
	ew_scratch_put(slot);
}

int ew_vma_retry_waiting(void); /* shared mappings waiting for a lookup: retried */

/* Retries them when some process has one waiting (the gate: one load), else nothing. */
static __always_inline void ew_vma_retry(void)
{
	if (vma_retry_waiting)
		ew_vma_retry_waiting();
}

static __always_inline void ew_open_exit(long ret, int dirfd, const char *upath, __u32 flags, __u32 nr)
{
	ew_open_file_exit(ret, NULL, dirfd, upath, flags, nr);
}

/* The syscall numbers of the path opens (x86_64, the one architecture the build claims; see
 * cmake/bpf.cmake): vmlinux.h carries no __NR_ macros. */
#define EW_NR_OPEN 2
#define EW_NR_CREAT 85
#define EW_NR_OPENAT 257
#define EW_NR_OPENAT2 437

/* open, creat, openat and openat2: one program, attached to all four exit tracepoints (the
 * three besides its own section by Monitor::start, open_path_extra_events), so the verifier
 * walks the open body once, not four times (about 0.35 s of load each on 6.18). */
struct ew_open_args {
	__s64 dirfd;
	__u64 upath;
	__u64 flags;
};

SEC("tp/syscalls/sys_exit_openat")
int on_open_path_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	struct ew_open_args picked = {.dirfd = EW_AT_FDCWD}, args;
	__u32 nr = ctx->id;

	switch (nr) {
	case EW_NR_OPENAT:
		picked.dirfd = (int)PT_REGS_PARM1_SYSCALL(regs);
		picked.upath = PT_REGS_PARM2_SYSCALL(regs);
		picked.flags = PT_REGS_PARM3_SYSCALL(regs);
		break;
	case EW_NR_OPENAT2: {
		struct open_how *how = (struct open_how *)PT_REGS_PARM3_SYSCALL(regs);
		picked.dirfd = (int)PT_REGS_PARM1_SYSCALL(regs);
		picked.upath = PT_REGS_PARM2_SYSCALL(regs);
		bpf_probe_read_user(&picked.flags, sizeof(picked.flags), &how->flags);
		break;
	}
	case EW_NR_OPEN:
		picked.upath = PT_REGS_PARM1_SYSCALL(regs);
		picked.flags = PT_REGS_PARM2_SYSCALL(regs);
		break;
	case EW_NR_CREAT: /* creat(path, mode) is open(path, O_WRONLY | O_CREAT | O_TRUNC, mode) */
		picked.upath = PT_REGS_PARM1_SYSCALL(regs);
		picked.flags = 01 | EW_O_CREAT | EW_O_TRUNC;
		break;
	default:
		return 0;
	}
	/* Copied through a helper, which the verifier cannot see into: knowing open's dirfd and
	 * creat's flags exactly, it would keep the four syscalls' states apart where they join and
	 * walk the body once for each (past the 1M-instruction limit). */
	if (bpf_probe_read_kernel(&args, sizeof(args), &picked))
		return 0;
	ew_open_exit(ctx->ret, args.dirfd, (const char *)args.upath, args.flags, nr);
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

/* --- Data through pipes, FIFOs, UNIX and loopback sockets -------------------------------------
 * Per (process, object, direction) byte counters; the first read or write of a pair is a record,
 * then its cumulative count at most once per cfg_flow_update_ns while it grows. LRU: an evicted
 * pair starts over with a new first record, which userspace counts. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ew_object_key);
	__type(value, struct ew_object_stats);
} object_io SEC(".maps");

#define EW_PIPEFS_MAGIC 0x50495045
#define EW_AF_UNIX 1
#define EW_SOCK_DGRAM 2
#define EW_FMODE_WRITE 0x2

/* Set by userspace from getrandom() before load: object ids built from kernel addresses are
 * hashed with it. */
const volatile __u64 cfg_object_salt = 0;

static __always_inline __u64 ew_mix(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* The channel id each UNIX datagram socket last sent on, by the address of its struct sock: the
 * receiver reads the datagram after the sender may have closed (its peer then reads as none), and
 * the next socket may get a freed one's address (the socket inode in an unconnected sender's id
 * tells the two apart). LRU: an evicted sender is named at the receiver from its state then. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} unix_senders SEC(".maps");

/* The id of a UNIX socket's channel, from the two ends' struct sock (both exist from connect
 * on, while a peer's socket inode appears only once it is accepted): the lower of the two for a
 * stream connection or a pair; a datagram socket that sends to a receiver it is connected to
 * names the receiver; a socket with no peer (an unconnected sender or receiver) names itself, with
 * its socket inode `ino` (0 when unknown). `own` is the address of `sk` as a number (the verifier
 * allows no arithmetic on pointers). Hashed with a per-run salt, so no kernel address reaches the
 * output. */
static __always_inline __u64 ew_unix_channel(__u64 own, struct sock *sk, __u64 ino)
{
	struct unix_sock *u = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct unix_sock));
	__u64 other = 0, back = 0;
	bpf_probe_read_kernel(&other, sizeof(other), &u->peer);
	if (!other)
		return ew_mix(own ^ ew_mix(ino) ^ cfg_object_salt) | 1;
	__u64 end;
	struct unix_sock *pu = bpf_rdonly_cast(u->peer, bpf_core_type_id_kernel(struct unix_sock));
	bpf_probe_read_kernel(&back, sizeof(back), &pu->peer);
	if (sk->sk_type == EW_SOCK_DGRAM && back != own)
		end = other; /* a sender connected to a receiver that is not connected back */
	else
		end = own < other ? own : other;
	return ew_mix(end ^ cfg_object_salt) | 1;
}

/* The id of a loopback channel from its two endpoints, in a fixed order so both ends agree
 * (IPv4 addresses in network order, ports in host order). */
static __always_inline __u64 ew_endpoints_id(__u64 local, __u64 remote, __u8 protocol)
{
	__u64 lo = local < remote ? local : remote, hi = local < remote ? remote : local;
	return ew_mix(lo ^ ew_mix(hi ^ protocol)) | 1;
}

static __always_inline __u64 ew_endpoint4(__u32 addr, __u16 port)
{
	return ((__u64)addr << 16) | port;
}

static __always_inline __u64 ew_endpoint6(const __u32 *a, __u16 port)
{
	return ew_mix(((__u64)a[0] << 32 | a[1]) ^ ew_mix((__u64)a[2] << 32 | a[3])) ^ port;
}

static __always_inline bool ew_loopback4(__u32 addr)
{
	return (bpf_ntohl(addr) >> 24) == 127;
}

static __always_inline bool ew_loopback6(const __u32 *a)
{
	return !a[0] && !a[1] && !a[2] && a[3] == bpf_htonl(1);
}

static __always_inline bool ew_mapped6(const __u32 *a)
{
	return !a[0] && !a[1] && a[2] == bpf_htonl(0xffff);
}

/* The host's own addresses (every interface's, in IPv6 form: IPv4 as ::ffff:a.b.c.d), written
 * by userspace at start and whenever they change: a datagram sent to one with sendto is routed
 * through the loopback device, as one to 127.0.0.1 is, and the route is not the socket's to read
 * (ew_local_route) when it is not connected. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EW_LOCAL_ADDRESSES_MAX);
	__type(key, struct in6_addr);
	__type(value, __u8);
} local_addresses SEC(".maps");

static __always_inline bool ew_host_address6(const __u32 *a)
{
	struct in6_addr key;
	__builtin_memcpy(&key, a, sizeof(key));
	return bpf_map_lookup_elem(&local_addresses, &key) != NULL;
}

static __always_inline bool ew_host_address4(__u32 addr)
{
	__u32 mapped[4] = {0, 0, bpf_htonl(0xffff), addr};
	return ew_host_address6(mapped);
}

#define EW_IFF_LOOPBACK 0x8

/* Whether the socket's route goes through the loopback device: a connection to one of the host's
 * own addresses (192.0.2.2 on eth0, 172.17.0.1 on docker0) never leaves the host, as one to
 * 127.0.0.1 does not. Both ends of a connected socket have such a route. */
static __always_inline bool ew_local_route(struct sock *sk)
{
	struct dst_entry *dst = NULL;
	bpf_probe_read_kernel(&dst, sizeof(dst), &sk->sk_dst_cache);
	if (!dst)
		return false;
	struct net_device *dev = BPF_CORE_READ(dst, dev);
	return dev && (BPF_CORE_READ(dev, flags) & EW_IFF_LOOPBACK);
}

/* UDP on loopback is named by the receiving port: a datagram sent to a loopback address (or by
 * a socket connected through the loopback device: to one of the host's own addresses) names its
 * destination port, and a UDP socket reads the channel of its own port (when it is not connected,
 * whatever address it is bound to: only a local one can be, or when it is connected to a local
 * peer). So an unconnected sender that
 * addresses each datagram on its own (sendto) and a relay that never connects are one channel,
 * whatever the sender's source port. Sockets bound to one port on different loopback addresses
 * share it. */
static __always_inline __u64 ew_udp_port_channel(__u16 port)
{
	return port ? ew_mix(0x7564706c6f6f7000ULL ^ port) | 1 : 0; /* "udploop" */
}

/* The IP address a datagram was sent to (sendto's, a msghdr's msg_name), copied from the
 * caller's memory into `dest`: NULL when there is none or it is no IP address. */
static __always_inline const struct sockaddr_in6 *ew_user_dest(const void *udest, struct sockaddr_in6 *dest)
{
	if (!udest || bpf_probe_read_user(dest, sizeof(struct sockaddr_in), udest) != 0)
		return NULL;
	if (dest->sin6_family == EW_AF_INET)
		return dest;
	if (dest->sin6_family == EW_AF_INET6 && bpf_probe_read_user(dest, sizeof(*dest), udest) == 0)
		return dest;
	return NULL;
}

/* `dest`: the address a datagram was sent to (ew_user_dest), NULL when none. */
static __always_inline __u64 ew_udp_write_channel(struct sock *sk, __u16 family, const struct sockaddr_in6 *dest)
{
	struct sock_common *c = &sk->__sk_common;
	if (dest && (dest->sin6_family == EW_AF_INET || dest->sin6_family == EW_AF_INET6)) {
		__u16 port = bpf_ntohs(dest->sin6_port);
		if (dest->sin6_family == EW_AF_INET) {
			__u32 a = ((const struct sockaddr_in *)dest)->sin_addr.s_addr;
			return ew_loopback4(a) || ew_host_address4(a) ? ew_udp_port_channel(port) : 0;
		}
		__u32 *d6 = (__u32 *)dest->sin6_addr.in6_u.u6_addr32;
		bool loopback = ew_mapped6(d6) ? ew_loopback4(d6[3]) : ew_loopback6(d6);
		return loopback || ew_host_address6(d6) ? ew_udp_port_channel(port) : 0;
	}
	if (!c->skc_dport)
		return 0;
	__u32 *d6 = (__u32 *)c->skc_v6_daddr.in6_u.u6_addr32;
	bool loopback = family == EW_AF_INET || ew_mapped6(d6) ? ew_loopback4(c->skc_daddr) : ew_loopback6(d6);
	return loopback || ew_local_route(sk) ? ew_udp_port_channel(bpf_ntohs(c->skc_dport)) : 0;
}

static __always_inline __u64 ew_udp_read_channel(struct sock *sk, __u16 family)
{
	struct sock_common *c = &sk->__sk_common;
	bool v4 = family == EW_AF_INET;
	if (c->skc_dport) {
		__u32 *d6 = (__u32 *)c->skc_v6_daddr.in6_u.u6_addr32;
		bool loopback = v4 || ew_mapped6(d6) ? ew_loopback4(c->skc_daddr) : ew_loopback6(d6);
		return loopback || ew_local_route(sk) ? ew_udp_port_channel(c->skc_num) : 0;
	}
	return ew_udp_port_channel(c->skc_num);
}

/* The id of a loopback TCP connection: a hash of its two endpoints in a fixed order, so both
 * ends agree; 0 when the socket is not connected to a loopback address or routed through the
 * loopback device. */
static __always_inline __u64 ew_loopback_channel(struct sock *sk, __u16 family)
{
	struct sock_common *c = &sk->__sk_common;
	__u64 local, remote;
	__u32 *d6 = (__u32 *)c->skc_v6_daddr.in6_u.u6_addr32;
	if (family == EW_AF_INET || (family == EW_AF_INET6 && ew_mapped6(d6))) {
		if (!ew_loopback4(c->skc_daddr) && !ew_local_route(sk))
			return 0;
		local = ew_endpoint4(c->skc_rcv_saddr, c->skc_num);
		remote = ew_endpoint4(c->skc_daddr, bpf_ntohs(c->skc_dport));
	} else if (family == EW_AF_INET6) {
		if (!ew_loopback6(d6) && !ew_local_route(sk))
			return 0;
		local = ew_endpoint6((__u32 *)c->skc_v6_rcv_saddr.in6_u.u6_addr32, c->skc_num);
		remote = ew_endpoint6(d6, bpf_ntohs(c->skc_dport));
	} else {
		return 0;
	}
	if (!c->skc_dport)
		return 0; /* not connected */
	return ew_endpoints_id(local, remote, sk->sk_protocol);
}

/* What `file` is as a channel: false for regular files, terminals and everything else, and for
 * reads of UNIX datagrams, which on_skb_copy_datagram counts by their sender. `dest` as in
 * ew_udp_write_channel. */
static __always_inline bool ew_object_of(struct file *file, struct ew_object_key *key, __u64 *dev,
					 const struct sockaddr_in6 *dest)
{
	struct inode *inode = file->f_inode;
	__u32 type = inode->i_mode & EW_S_IFMT;
	*dev = 0;
	if (type == EW_S_IFIFO) {
		struct super_block *sb = inode->i_sb;
		key->kind = EW_OBJ_PIPE;
		if (sb->s_magic != EW_PIPEFS_MAGIC) {
			key->kind = EW_OBJ_FIFO;
			*dev = sb->s_dev;
		}
		key->object_id = inode->i_ino;
		return true;
	}
	if (type != EW_S_IFSOCK)
		return false;
	struct socket *sock = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct socket));
	struct sock *sk = sock->sk;
	if (!sk)
		return false;
	__u16 family = sk->__sk_common.skc_family;
	if (family == EW_AF_UNIX) {
		if (key->direction == EW_IO_READ && sk->sk_type == EW_SOCK_DGRAM)
			return false;
		__u64 own = 0;
		bpf_probe_read_kernel(&own, sizeof(own), &sock->sk);
		key->kind = EW_OBJ_UNIX;
		key->object_id = ew_unix_channel(own, sk, inode->i_ino);
		if (sk->sk_type == EW_SOCK_DGRAM) {
			__u64 *known = bpf_map_lookup_elem(&unix_senders, &own);
			if (!known || *known != key->object_id)
				bpf_map_update_elem(&unix_senders, &own, &key->object_id, BPF_ANY);
		}
		return true;
	}
	if (family != EW_AF_INET && family != EW_AF_INET6)
		return false;
	key->kind = EW_OBJ_LOOPBACK;
	if (sk->sk_protocol == EW_PROTO_UDP)
		key->object_id = key->direction == EW_IO_READ ? ew_udp_read_channel(sk, family)
							      : ew_udp_write_channel(sk, family, dest);
	else
		key->object_id = ew_loopback_channel(sk, family);
	return key->object_id != 0;
}

/* A write to a regular file: its time is kept with the (process, file) pair, so that a process
 * holding sensitive data taints only what it wrote once it held it. A file written through an fd
 * the process was not seen opening (inherited: `{ cat key; } > out`) is announced once, like a
 * first read. */
static __always_inline void ew_account_file_write(struct file *file, int fd)
{
	struct ew_file_key key = {};
	struct ew_file_stats *stats = ew_file_pair(file->f_inode, &key);
	__u64 now = bpf_ktime_get_ns();
	if (stats) {
		if (stats->last_write_ns != EW_WRITE_UNTIMED)
			stats->last_write_ns = now;
		ew_file_moved(stats, &key, now);
		return;
	}
	struct ew_file_stats fresh = {
		.first_ns = now, .last_write_ns = now, .opened_for_write = 1, .reported = 1};
	bpf_map_update_elem(&file_reads, &key, &fresh, BPF_NOEXIST); /* an LRU: never refused */
	struct ew_file_first_read rec = {.fd = fd, .write = 1, .ino = key.ino, .dev = key.dev};
	ew_fill_header(&rec.hdr, EW_REC_FILE_FIRST_READ, sizeof(rec));
	ew_submit(&rec, sizeof(rec));
}

/* New pairs started by UNIX datagram reads, per CPU and second: datagrams from many senders
 * cannot flood the ring with first records. What is over is a counted drop (datagram_rate), a
 * blind spot while a lineage holds sensitive data. */
const volatile __u32 cfg_datagram_pairs_per_s = 2048;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ew_rate_window);
} datagram_pairs SEC(".maps");

/* Adds `bytes` to the (process, object, direction) pair `key`: the pair's first bytes are a
 * record, then its cumulative count at most once per cfg_flow_update_ns. A new pair from a
 * datagram read (`datagram`) is rate-limited. */
static __always_inline void ew_object_count(struct ew_object_key *key, __u64 dev, int fd, long bytes,
					    bool datagram)
{
	__u64 now = bpf_ktime_get_ns();
	struct ew_object_io rec = {.object_id = key->object_id, .dev = dev, .fd = fd, .kind = key->kind,
				   .direction = key->direction};
	struct ew_object_stats *stats = bpf_map_lookup_elem(&object_io, key);
	if (stats) {
		__sync_fetch_and_add(&stats->bytes, bytes);
		if (now - stats->reported_ns < cfg_flow_update_ns)
			return;
		stats->reported_ns = now;
		rec.bytes = stats->bytes;
	} else {
		if (datagram && !ew_cpu_window_take(&datagram_pairs, cfg_datagram_pairs_per_s, now)) {
			ew_drop(EW_REC_OBJECT_IO, EW_DROP_DATAGRAM_RATE);
			return;
		}
		struct ew_object_stats fresh = {.bytes = bytes, .reported_ns = now};
		if (bpf_map_update_elem(&object_io, key, &fresh, BPF_NOEXIST) != 0) {
			/* Another thread of the process inserted the pair first: its record is the first. */
			stats = bpf_map_lookup_elem(&object_io, key);
			if (stats)
				__sync_fetch_and_add(&stats->bytes, bytes);
			return;
		}
		rec.bytes = bytes;
		rec.first = 1;
	}
	ew_fill_header(&rec.hdr, EW_REC_OBJECT_IO, sizeof(rec));
	if (rec.hdr.pid != key->tgid) { /* counted for another process (a clone's child) */
		rec.hdr.pid = key->tgid;
		rec.hdr.tid = key->tgid;
	}
	ew_submit(&rec, sizeof(rec));
}

/* --- Another process's memory -----------------------------------------------------------------
 * process_vm_readv/writev, ptrace's PEEK and POKE requests and reads or writes of /proc/<pid>/mem
 * copy bytes between two processes' memories with no channel in between: the object is the other
 * process's memory (EW_OBJ_MEMORY), named by its pid, so that a reader of a key holder's memory
 * holds what it holds. A read of /proc/<pid>/environ copies the environment the process was
 * started with (EW_OBJ_ENVIRON). */
#define EW_PROC_SUPER_MAGIC 0x9fa0
#define EW_NAME_MEM 0x006d656d                /* "mem\0", little-endian */
#define EW_NAME_ENVIRON 0x006e6f7269766e65ULL /* "environ\0" */
#define EW_NAME_CMDLINE 0x00656e696c646d63ULL /* "cmdline\0" */

/* 0 when the caller's pids are the host's, else the inode number of its pid namespace. */
static __always_inline __u64 ew_caller_pid_ns(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	if (!level)
		return 0;
	struct upid *own = (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			   (__u64)(level & 31) * bpf_core_type_size(struct upid);
	struct pid_namespace *ns = BPF_CORE_READ(own, ns);
	return BPF_CORE_READ(ns, ns.inum);
}

/* Linux 6.13+: the task a pid names in the caller's namespace. Older kernels leave the pid as the
 * caller saw it, with its namespace, for userspace to translate while the process lives. */
#ifndef bpf_ksym_exists /* libbpf < 1.2's bpf_helpers.h */
#define bpf_ksym_exists(sym) (!!(sym))
#endif
extern struct task_struct *bpf_task_from_vpid(s32 vpid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

/* `bytes` copied from (read) or into (write) the memory of the process `vpid` names in the pid
 * namespace `ns` (ew_caller_pid_ns): recorded under its host pid where the kernel can say it. */
static __always_inline void ew_memory_io(__u32 vpid, __u64 ns, long bytes, __u8 direction,
					 __u8 kind)
{
	if (bytes <= 0 || !vpid || ew_is_self())
		return;
	__u32 self = bpf_get_current_pid_tgid() >> 32;
	if (ns && bpf_ksym_exists(bpf_task_from_vpid) && bpf_ksym_exists(bpf_task_release)) {
		struct task_struct *task = bpf_task_from_vpid(vpid);
		if (task) {
			vpid = task->tgid;
			ns = 0;
			bpf_task_release(task);
		}
	}
	if (!ns && vpid == self)
		return;
	struct ew_object_key key = {
		.object_id = vpid, .tgid = self, .kind = kind, .direction = direction};
	ew_object_count(&key, ns, -1, bytes, false);
}

/* A read or write of /proc/<pid>/mem (or .../task/<tid>/mem) is one of the memory of the process
 * its procfs inode is for, a read of its environ one of its environment, of its cmdline one of
 * its command line: true when `file` is such
 * a file, counted here. The host pid comes from the inode's struct pid, whatever namespace the
 * procfs was mounted in. (A name is at most 8 bytes here: short names live in the dentry.) */
static __always_inline bool ew_proc_mem_io(struct file *file, long bytes, __u8 direction)
{
	struct inode *inode = file->f_inode;
	if (inode->i_sb->s_magic != EW_PROC_SUPER_MAGIC)
		return false;
	__u64 name = 0;
	bpf_probe_read_kernel(&name, sizeof(name), file->f_path.dentry->d_name.name);
	__u8 kind;
	if ((__u32)name == EW_NAME_MEM)
		kind = EW_OBJ_MEMORY;
	else if (name == EW_NAME_ENVIRON && direction == EW_IO_READ)
		kind = EW_OBJ_ENVIRON;
	else if (name == EW_NAME_CMDLINE && direction == EW_IO_READ)
		kind = EW_OBJ_CMDLINE;
	else
		return false;
	struct inode *raw = NULL;
	bpf_probe_read_kernel(&raw, sizeof(raw), &file->f_inode);
	struct proc_inode *pi = (void *)raw - bpf_core_field_offset(struct proc_inode, vfs_inode);
	struct pid *pid = BPF_CORE_READ(pi, pid);
	struct hlist_node *first = BPF_CORE_READ(pid, tasks[0].first); /* PIDTYPE_PID */
	if (!first)
		return true; /* the process is gone: its memory was not read */
	struct task_struct *task = (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
	ew_memory_io(BPF_CORE_READ(task, tgid), 0, bytes, direction, kind);
	return true;
}

#define EW_MEMORY_EXIT(syscall, direction)                                                  \
	SEC("tp/syscalls/sys_exit_" #syscall)                                               \
	int on_##syscall##_exit(struct trace_event_raw_sys_exit *ctx)                       \
	{                                                                                   \
		if (ctx->ret > 0)                                                           \
			ew_memory_io(PT_REGS_PARM1_SYSCALL(ew_user_regs()),                 \
				     ew_caller_pid_ns(), ctx->ret, direction,               \
				     EW_OBJ_MEMORY);                                        \
		return 0;                                                                   \
	}

/* process_vm_readv(pid, local_iov, liovcnt, remote_iov, riovcnt, flags): bytes copied. */
EW_MEMORY_EXIT(process_vm_readv, EW_IO_READ)
EW_MEMORY_EXIT(process_vm_writev, EW_IO_WRITE)

#define EW_PTRACE_PEEKTEXT 1
#define EW_PTRACE_PEEKDATA 2
#define EW_PTRACE_POKETEXT 4
#define EW_PTRACE_POKEDATA 5

/* ptrace(request, pid, addr, data): a PEEK copies a word out of the tracee, a POKE one in. */
SEC("tp/syscalls/sys_exit_ptrace")
int on_ptrace_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *regs = ew_user_regs();
	long request = PT_REGS_PARM1_SYSCALL(regs);
	__u8 direction;
	if (request == EW_PTRACE_PEEKTEXT || request == EW_PTRACE_PEEKDATA)
		direction = EW_IO_READ;
	else if (request == EW_PTRACE_POKETEXT || request == EW_PTRACE_POKEDATA)
		direction = EW_IO_WRITE;
	else
		return 0;
	ew_memory_io(PT_REGS_PARM2_SYSCALL(regs), ew_caller_pid_ns(), sizeof(long), direction,
		     EW_OBJ_MEMORY);
	return 0;
}

/* Counts `bytes` moved through `file` (via `fd`) in `direction` when it is a channel; `dest` as
 * in ew_udp_write_channel. */
static __always_inline void ew_object_io_to(struct file *file, int fd, long bytes, __u8 direction,
					    const struct sockaddr_in6 *dest)
{
	if (bytes <= 0)
		return;
	if (direction == EW_IO_WRITE && (file->f_inode->i_mode & EW_S_IFMT) == EW_S_IFREG) {
		if (!ew_proc_mem_io(file, bytes, EW_IO_WRITE))
			ew_account_file_write(file, fd);
		return;
	}
	struct ew_object_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .direction = direction};
	__u64 dev;
	if (ew_object_of(file, &key, &dev, dest))
		ew_object_count(&key, dev, fd, bytes, false);
}

static __always_inline void ew_object_io(struct file *file, int fd, long bytes, __u8 direction)
{
	ew_object_io_to(file, fd, bytes, direction, NULL);
}

/* `udest`: the caller's pointer to the datagram's address (ew_user_dest), NULL when none. */
static __always_inline void ew_object_io_fd_to(int fd, long bytes, __u8 direction, const void *udest)
{
	if (bytes <= 0 || ew_is_self())
		return;
	struct file *file = ew_fd_file(fd);
	struct sockaddr_in6 dest = {};
	if (file)
		ew_object_io_to(file, fd, bytes, direction, ew_user_dest(udest, &dest));
}

static __always_inline void ew_object_io_fd(int fd, long bytes, __u8 direction)
{
	ew_object_io_fd_to(fd, bytes, direction, NULL);
}

/* UNIX datagrams are counted where their bytes reach the reader (skb_copy_datagram_iter, under
 * recv, recvmsg, recvmmsg, read and io_uring alike), on the channel their sender last sent on (or
 * its state now, when unix_senders lost it): the datagram still belongs to the sending socket. So
 * a sender that addresses each datagram on its own (sendto(path) without connect) is joined to
 * whoever receives it. Other copies (TCP, and UDP, which copies linear datagrams without this
 * tracepoint) leave at the first checks. */
SEC("tp_btf/skb_copy_datagram_iovec")
int BPF_PROG(on_skb_copy_datagram, const struct sk_buff *skb, int len)
{
	if (len <= 0 || !skb || ew_is_self())
		return 0;
	struct sock *sk = skb->sk;
	if (!sk || sk->__sk_common.skc_family != EW_AF_UNIX || sk->sk_type != EW_SOCK_DGRAM)
		return 0; /* UNIX streams are counted at the reader's syscall */
	__u64 sender = 0;
	bpf_probe_read_kernel(&sender, sizeof(sender), &skb->sk);
	__u64 *sent_on = bpf_map_lookup_elem(&unix_senders, &sender);
	struct ew_object_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .kind = EW_OBJ_UNIX,
				    .direction = EW_IO_READ,
				    .object_id = sent_on ? *sent_on : ew_unix_channel(sender, sk, 0)};
	ew_object_count(&key, 0, -1, len, true);
	return 0;
}

/* Adds `bytes` read from `file` (through `fd`, -1 when unknown) to the (process, file) pair when
 * it is a regular file. */
static __always_inline void ew_account_file_read(struct file *file, int fd, long bytes, bool mapped)
{
	struct inode *inode = file->f_inode;
	if ((inode->i_mode & EW_S_IFMT) != EW_S_IFREG)
		return;
	if (!mapped && ew_proc_mem_io(file, bytes, EW_IO_READ))
		return;
	if (!mapped)
		ew_count_n(EW_STAT_FILE_READ_BYTES, bytes);
	struct ew_file_key key = {};
	struct ew_file_stats *stats = ew_file_pair(inode, &key);
	__u64 now = bpf_ktime_get_ns();
	if (stats) {
		if (mapped)
			__sync_fetch_and_add(&stats->bytes_mapped, bytes);
		else
			__sync_fetch_and_add(&stats->bytes_read, bytes);
		stats->last_ns = now;
		ew_file_moved(stats, &key, now);
		return;
	}
	/* Read (or mapped) through an fd this process did not open in our sight: inherited or older
	 * than the monitor. (Every open in sight has a pair, ignored prefixes too, so a library ld.so
	 * maps is never news here.) */
	struct ew_file_stats fresh = {.first_ns = now, .last_ns = now, .reported = 1};
	if (mapped)
		fresh.bytes_mapped = bytes;
	else
		fresh.bytes_read = bytes;
	bpf_map_update_elem(&file_reads, &key, &fresh, BPF_NOEXIST); /* an LRU: never refused */
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
	if (!mapped && (file->f_inode->i_mode & EW_S_IFMT) != EW_S_IFREG) {
		ew_object_io(file, fd, bytes, EW_IO_READ);
		return;
	}
	ew_account_file_read(file, fd, bytes, mapped);
}

#define EW_READ_EXIT(syscall, fd_arg)                                                       \
	SEC("tp/syscalls/sys_exit_" #syscall)                                               \
	int on_##syscall##_exit(struct trace_event_raw_sys_exit *ctx)                       \
	{                                                                                   \
		ew_vma_retry();                                                             \
		if (ctx->ret > 0)                                                           \
			ew_account_read(fd_arg(ew_user_regs()), ctx->ret, false);           \
		return 0;                                                                   \
	}

EW_READ_EXIT(read, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(readv, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(pread64, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(preadv, PT_REGS_PARM1_SYSCALL)
EW_READ_EXIT(preadv2, PT_REGS_PARM1_SYSCALL)

/* Both ends of a transfer between fds: what was read from `in` went to `out`. */
static __always_inline void ew_transfer(int in, int out, long bytes)
{
	ew_account_read(in, bytes, false);
	ew_object_io_fd(out, bytes, EW_IO_WRITE);
}

SEC("tp/syscalls/sys_exit_sendfile64") /* sendfile(out_fd, in_fd, ...) */
int on_sendfile64_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	if (ctx->ret > 0)
		ew_transfer(PT_REGS_PARM2_SYSCALL(regs), PT_REGS_PARM1_SYSCALL(regs), ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_exit_splice") /* splice(fd_in, off_in, fd_out, off_out, len, flags) */
int on_splice_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	if (ctx->ret > 0)
		ew_transfer(PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM3_SYSCALL(regs), ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_exit_copy_file_range") /* copy_file_range(fd_in, off_in, fd_out, ...) */
int on_copy_file_range_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	if (ctx->ret > 0)
		ew_transfer(PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM3_SYSCALL(regs), ctx->ret);
	return 0;
}

#define EW_PROT_WRITE 0x2
#define EW_PROT_EXEC 0x4
#define EW_MAP_DENYWRITE 0x0800 /* ignored by the kernel; glibc's loader passes it (MAP_COPY) */
#define EW_MAP_SHARED 0x1 /* MAP_SHARED_VALIDATE (0x3) has it too */
#define EW_VM_WRITE 0x2
#define EW_VM_SHARED 0x8

/* The object behind a mapping (bpf_find_vma's callback fills it for an address). */
struct ew_mapping {
	__u64 ino;
	__u64 dev;
	__u64 flags; /* vm_flags */
	__u64 length;
	__u32 mode;
};

static long ew_mapping_of(struct task_struct *task __attribute__((unused)), struct vm_area_struct *vma, void *data)
{
	struct ew_mapping *m = data;
	struct file *file = vma->vm_file;
	m->flags = vma->vm_flags;
	m->length = vma->vm_end - vma->vm_start;
	if (file) {
		m->ino = file->f_inode->i_ino;
		m->dev = file->f_inode->i_sb->s_dev;
		m->mode = file->f_inode->i_mode;
	}
	return 0;
}

/* A shared mapping joins every process that maps the same object with no syscall in between: it
 * is a read of the object (what any mapper writes shows in it) and, writable, a write (at any
 * time while it lives). Counted as a channel (EW_OBJ_SHARED) named by the backing inode: a file,
 * a memfd, the shmem file of an anonymous shared mapping (its children share it after fork) or of
 * a System V segment. */
static __always_inline void ew_shared_mapping_of(__u32 tgid, const struct ew_mapping *m, int fd, bool writable)
{
	if (!m->ino || m->length == 0 || (m->mode & EW_S_IFMT) != EW_S_IFREG)
		return;
	struct ew_object_key key = {
		.object_id = m->ino, .tgid = tgid, .kind = EW_OBJ_SHARED, .direction = EW_IO_READ};
	ew_object_count(&key, m->dev, fd, m->length, false);
	if (writable) {
		key.direction = EW_IO_WRITE;
		ew_object_count(&key, m->dev, fd, m->length, false);
	}
}

static __always_inline void ew_shared_mapping(const struct ew_mapping *m, int fd, bool writable)
{
	ew_shared_mapping_of(bpf_get_current_pid_tgid() >> 32, m, fd, writable);
}

#define EW_EBUSY 16

/* The shared mapping at `address` (a fresh anonymous one, a System V attach, a mapping made
 * writable), counted when it is shared. -EBUSY when the address space's lock was taken. */
static __always_inline long ew_shared_mapping_try(__u64 address)
{
	struct ew_mapping m = {};
	long err = bpf_find_vma(bpf_get_current_task_btf(), address, ew_mapping_of, &m, 0);
	if (err == 0 && (m.flags & EW_VM_SHARED))
		ew_shared_mapping(&m, -1, m.flags & EW_VM_WRITE);
	return err;
}

/* As ew_shared_mapping_try, and when the lock was taken, kept for a retry (vma_retry). */
static __always_inline void ew_shared_mapping_at(__u64 address)
{
	if (ew_shared_mapping_try(address) != -EW_EBUSY)
		return;
	ew_count(EW_STAT_VMA_RETRIED);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ew_vma_retry *waiting = bpf_map_lookup_elem(&vma_retry, &tgid);
	if (!waiting) {
		struct ew_vma_retry fresh = {.address = {address}};
		if (bpf_map_update_elem(&vma_retry, &tgid, &fresh, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(&vma_retry_waiting, 1);
		else
			ew_drop(EW_REC_OBJECT_IO, EW_DROP_VMA_BUSY);
		return;
	}
	for (int i = 0; i < EW_VMA_RETRY_MAX; i++)
		if (!waiting->address[i]) {
			waiting->address[i] = address;
			return;
		}
	ew_drop(EW_REC_OBJECT_IO, EW_DROP_VMA_BUSY);
}

/* The shared mappings of this process whose lookup found the lock taken, looked up again (at a read
 * or write exit: before its record, so the mapping is known before what the process
 * does next). A global function: verified once, not in each of the programs that call it. */
__noinline int ew_vma_retry_waiting(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ew_vma_retry *waiting = bpf_map_lookup_elem(&vma_retry, &tgid);
	if (!waiting)
		return 0;
	bool left = false;
	for (int i = 0; i < EW_VMA_RETRY_MAX; i++) {
		__u64 address = waiting->address[i];
		if (!address)
			continue;
		if (ew_shared_mapping_try(address) == -EW_EBUSY)
			left = true;
		else
			waiting->address[i] = 0;
	}
	if (!left && bpf_map_delete_elem(&vma_retry, &tgid) == 0)
		__sync_fetch_and_add(&vma_retry_waiting, -1);
	return 0;
}

/* mmap(addr, len, prot, flags, fd, off): the mapped length is an upper bound of what is read; a
 * shared writable map writes the file at times no syscall shows. */
SEC("tp/syscalls/sys_exit_mmap")
int on_mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0 && ctx->ret > -4096)
		return 0;
	struct pt_regs *regs = ew_user_regs();
	int fd = PT_REGS_PARM5_SYSCALL(regs);
	bool shared = PT_REGS_PARM4_SYSCALL(regs) & EW_MAP_SHARED;
	bool writable = PT_REGS_PARM3_SYSCALL(regs) & EW_PROT_WRITE;
	if (fd < 0) {
		if (shared && !ew_is_self())
			ew_shared_mapping_at(ctx->ret); /* MAP_ANONYMOUS: a shmem file of its own */
		return 0;
	}
	ew_account_read(fd, PT_REGS_PARM2_SYSCALL(regs), true);
	if (ew_is_self())
		return 0;
	struct file *file = ew_fd_file(fd);
	if (!file)
		return 0;
	struct ew_mapping m = {.ino = file->f_inode->i_ino,
			       .dev = file->f_inode->i_sb->s_dev,
			       .length = PT_REGS_PARM2_SYSCALL(regs),
			       .mode = file->f_inode->i_mode};
	if (!shared) {
		/* A private mapping sees the file's later writes in every page it has not written itself
		 * (until then they are the page cache's): a reader of the file, as a shared read-only
		 * one is. Not code or a loader's mapping (libraries, executables), nor a file opened under
		 * an ignored prefix. */
		if ((PT_REGS_PARM3_SYSCALL(regs) & EW_PROT_EXEC) || (PT_REGS_PARM4_SYSCALL(regs) & EW_MAP_DENYWRITE) ||
		    (m.mode & EW_S_IFMT) != EW_S_IFREG)
			return 0;
		struct ew_file_key key = {};
		struct ew_file_stats *stats = ew_file_pair(file->f_inode, &key);
		if (stats && stats->reported)
			ew_shared_mapping(&m, fd, false);
		return 0;
	}
	ew_shared_mapping(&m, fd, writable);
	if (writable && (file->f_inode->i_mode & EW_S_IFMT) == EW_S_IFREG) {
		struct ew_file_key key = {};
		struct ew_file_stats *stats = ew_file_pair(file->f_inode, &key);
		if (stats) {
			stats->last_write_ns = EW_WRITE_UNTIMED;
			ew_file_moved(stats, &key, bpf_ktime_get_ns());
		}
	}
	return 0;
}

/* shmat(shmid, addr, flags): the segment's shmem file, writable unless SHM_RDONLY. */
SEC("tp/syscalls/sys_exit_shmat")
int on_shmat_exit(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	if ((ret < 0 && ret > -4096) || ew_is_self())
		return 0;
	ew_shared_mapping_at(ret);
	return 0;
}

/* mprotect(addr, len, prot): a shared mapping made writable after it was mapped read-only. */
SEC("tp/syscalls/sys_exit_mprotect")
int on_mprotect_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	if (ctx->ret != 0 || !(PT_REGS_PARM3_SYSCALL(regs) & EW_PROT_WRITE) || ew_is_self())
		return 0;
	ew_shared_mapping_at(PT_REGS_PARM1_SYSCALL(regs));
	return 0;
}

/* A new process that shares its parent's whole address space: clone(2)/clone3(2) with CLONE_VM
 * and not CLONE_THREAD (the two then run side by side until the child execs), and vfork(2) or
 * posix_spawn's clone(CLONE_VM|CLONE_VFORK) (the child runs in it while its parent waits, until
 * it execs or exits: what it read there is then in its parent's memory). Both are writable
 * mappers of one shared object (EW_OBJ_SHARED, dev 0), the address space's salted hash. Seen at
 * the fork, before the child runs (a vfork's parent returns from clone only once the child is
 * done); attached after process.bpf.c's on_sched_fork, so the child's fork record comes first. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_sched_fork_vm, struct task_struct *parent, struct task_struct *child)
{
	(void)ctx;
	__u64 mm = 0, parent_mm = 0; /* addresses, hashed: never printed */
	bpf_probe_read_kernel(&mm, sizeof(mm), &child->mm);
	bpf_probe_read_kernel(&parent_mm, sizeof(parent_mm), &parent->mm);
	if (child->pid != child->tgid || !mm || mm != parent_mm || ew_is_self())
		return 0;
	struct ew_mapping m = {.ino = ew_mix(mm ^ cfg_object_salt) | 1, .length = 1, .mode = EW_S_IFREG};
	ew_shared_mapping_of(parent->tgid, &m, -1, true);
	ew_shared_mapping_of(child->tgid, &m, -1, true);
	return 0;
}

/* The destination of a sendmsg or sendmmsg message. */
static __always_inline const void *ew_msg_dest(const struct user_msghdr *msg)
{
	void *name = NULL;
	bpf_probe_read_user(&name, sizeof(name), &msg->msg_name);
	return name;
}

/* io_uring: requests bypass the syscall tracepoints, so their completions are read here. The
 * request still holds its file when the CQE is filled; the opcode says what the result means.
 * Completions run in the submitting task, its io-wq workers or its SQPOLL thread: all threads of
 * the same process, sharing its fd table. */
#define EW_SPLICE_F_FD_IN_FIXED (1u << 31)
#define EW_FILE_INDEX_ALLOC (~0u) /* IORING_FILE_INDEX_ALLOC: the kernel picks the slot */

static __always_inline struct file *ew_btf_file(struct file *file)
{
	return file ? bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file)) : NULL;
}

/* The address an io_uring SEND names in its SQE (addr2) lives only in the request's async
 * msghdr, which is recycled before the completion: it is copied here at submission, after the
 * request's prep copied it into the kernel, and taken at the completion. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* the request */
	__type(value, struct sockaddr_in6);
} uring_send_dest SEC(".maps");

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(on_io_uring_submit, struct io_kiocb *req)
{
	__u8 opcode = BPF_CORE_READ(req, opcode);
	if ((opcode != IORING_OP_SEND && opcode != IORING_OP_SEND_ZC) || ew_is_self())
		return 0;
	struct io_async_msghdr *kmsg = BPF_CORE_READ(req, async_data);
	void *name = kmsg ? BPF_CORE_READ(kmsg, msg.msg_name) : NULL;
	struct sockaddr_in6 dest = {};
	if (!name || bpf_probe_read_kernel(&dest, sizeof(dest), name) != 0 ||
	    (dest.sin6_family != EW_AF_INET && dest.sin6_family != EW_AF_INET6))
		return 0;
	__u64 key = (__u64)req;
	bpf_map_update_elem(&uring_send_dest, &key, &dest, BPF_ANY);
	return 0;
}

/* The address on_io_uring_submit copied for `req`, moved into `dest`: NULL when none. */
static __always_inline const struct sockaddr_in6 *ew_uring_sent_to(void *req, struct sockaddr_in6 *dest)
{
	__u64 key = (__u64)req;
	struct sockaddr_in6 *sent_to = bpf_map_lookup_elem(&uring_send_dest, &key);
	if (!sent_to)
		return NULL;
	*dest = *sent_to;
	bpf_map_delete_elem(&uring_send_dest, &key);
	return dest;
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
	case IORING_OP_READV_FIXED:
	case IORING_OP_RECV:
	case IORING_OP_RECVMSG: {
		struct file *file = ew_btf_file(BPF_CORE_READ(req, file));
		if (res <= 0 || !file)
			break;
		if ((file->f_inode->i_mode & EW_S_IFMT) == EW_S_IFREG)
			ew_account_file_read(file, -1, res, false);
		else
			ew_object_io(file, -1, res, EW_IO_READ);
		break;
	}
	case IORING_OP_WRITE:
	case IORING_OP_WRITEV:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_SEND:
	case IORING_OP_SEND_ZC: { /* its first CQE carries the bytes; the notification, a NOP, 0 */
		/* A SEND is named by the address its submission copied (on_io_uring_submit), as
		 * sendto(2)'s. */
		struct sockaddr_in6 dest;
		const struct sockaddr_in6 *to =
			opcode == IORING_OP_SEND || opcode == IORING_OP_SEND_ZC ? ew_uring_sent_to(req, &dest) : NULL;
		struct file *file = ew_btf_file(BPF_CORE_READ(req, file));
		if (res > 0 && file)
			ew_object_io_to(file, -1, res, EW_IO_WRITE, to);
		break;
	}
	case IORING_OP_SENDMSG:
	case IORING_OP_SENDMSG_ZC: {
		/* The caller's msghdr names the destination of an unconnected send, as sendmsg(2)'s. */
		struct io_sr_msg *sr = cmd;
		struct file *file = ew_btf_file(BPF_CORE_READ(req, file));
		struct sockaddr_in6 dest = {};
		if (res > 0 && file)
			ew_object_io_to(file, -1, res, EW_IO_WRITE,
					ew_user_dest(ew_msg_dest(BPF_CORE_READ(sr, umsg)), &dest));
		break;
	}
	case IORING_OP_SPLICE: {
		/* The request's file is the output; the input is named by splice_fd_in, an fd or (with
		 * SPLICE_F_FD_IN_FIXED) a slot of the ring's fixed files. */
		struct io_splice *sp = cmd;
		if (res <= 0)
			break;
		int fd_in = BPF_CORE_READ(sp, splice_fd_in);
		bool fixed = BPF_CORE_READ(sp, flags) & EW_SPLICE_F_FD_IN_FIXED;
		struct file *file = fixed ? ew_btf_file(ew_io_fixed_file(ring, fd_in)) : ew_fd_file(fd_in);
		if (file)
			ew_account_file_read(file, fixed ? -1 : fd_in, res, false);
		else
			ew_drop(EW_REC_FILE_FIRST_READ, EW_DROP_FD_LOOKUP);
		break;
	}
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2: {
		/* The name was freed before completion: the opened file names itself. An open into a
		 * fixed-file slot (file_slot is the slot + 1, or IORING_FILE_INDEX_ALLOC with the
		 * allocated slot in res) installs no fd: its file is read from the ring's table, and
		 * the record's fd is the slot. */
		struct io_open *op = cmd;
		if (res < 0)
			break;
		__u32 file_slot = BPF_CORE_READ(op, file_slot);
		struct file *file = NULL;
		if (file_slot) {
			__u32 index = file_slot == EW_FILE_INDEX_ALLOC ? (__u32)res : file_slot - 1;
			file = ew_btf_file(ew_io_fixed_file(ring, index));
			if (!file) {
				ew_drop(EW_REC_FILE_OPEN, EW_DROP_FD_LOOKUP);
				break;
			}
			res = index;
		}
		ew_open_file_exit(res, file, BPF_CORE_READ(op, dfd), NULL, BPF_CORE_READ(op, how.flags), 0);
		break;
	}
	}
	return 0;
}

/* Writes, sends and receives: counted when the fd is a channel (pipe, FIFO, UNIX or loopback
 * socket); regular files, terminals and other sockets leave after one fd lookup. */
#define EW_OBJECT_EXIT(syscall, fd_arg, direction)                                          \
	SEC("tp/syscalls/sys_exit_" #syscall)                                               \
	int on_##syscall##_exit(struct trace_event_raw_sys_exit *ctx)                       \
	{                                                                                   \
		ew_vma_retry();                                                             \
		if (ctx->ret > 0)                                                           \
			ew_object_io_fd(fd_arg(ew_user_regs()), ctx->ret, direction);       \
		return 0;                                                                   \
	}

EW_OBJECT_EXIT(write, PT_REGS_PARM1_SYSCALL, EW_IO_WRITE)
EW_OBJECT_EXIT(writev, PT_REGS_PARM1_SYSCALL, EW_IO_WRITE)
EW_OBJECT_EXIT(pwrite64, PT_REGS_PARM1_SYSCALL, EW_IO_WRITE)
EW_OBJECT_EXIT(pwritev, PT_REGS_PARM1_SYSCALL, EW_IO_WRITE)
EW_OBJECT_EXIT(pwritev2, PT_REGS_PARM1_SYSCALL, EW_IO_WRITE)
EW_OBJECT_EXIT(recvfrom, PT_REGS_PARM1_SYSCALL, EW_IO_READ)
EW_OBJECT_EXIT(recvmsg, PT_REGS_PARM1_SYSCALL, EW_IO_READ)

/* sendto(fd, buf, len, flags, dest, addrlen) and sendmsg(fd, msg, flags): the destination names
 * the channel of a UDP datagram (each one addressed on its own when the socket is unconnected). */
SEC("tp/syscalls/sys_exit_sendto")
int on_sendto_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret > 0) {
		struct pt_regs *regs = ew_user_regs();
		ew_object_io_fd_to(PT_REGS_PARM1_SYSCALL(regs), ctx->ret, EW_IO_WRITE,
				   (const void *)PT_REGS_PARM5_SYSCALL(regs));
	}
	return 0;
}

SEC("tp/syscalls/sys_exit_sendmsg")
int on_sendmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret > 0) {
		struct pt_regs *regs = ew_user_regs();
		ew_object_io_fd_to(PT_REGS_PARM1_SYSCALL(regs), ctx->ret, EW_IO_WRITE,
				   ew_msg_dest((const struct user_msghdr *)PT_REGS_PARM2_SYSCALL(regs)));
	}
	return 0;
}

/* sendmmsg/recvmmsg return a message count; the bytes are each message's msg_len, which the
 * kernel wrote back into the caller's array. Up to EW_MMSG_MAX messages (the kernel's own cap,
 * UIO_MAXIOV) are walked, as a bpf_loop; a sent message is counted on its own destination (its
 * msg_name, else the socket's peer), runs of messages with the same one at once. */
#define EW_MMSG_MAX 1024
struct ew_mmsg_walk {
	struct mmsghdr *vec;
	long count;
	int fd;
	__u8 direction;
	const void *dest; /* the run's destination (writes) */
	long bytes;       /* the run's bytes */
};

/* One run of messages counted: a global function, so the verifier checks it once, apart from
 * the loop that calls it. */
__noinline int ew_mmsg_run(int fd, long bytes, __u8 direction, __u64 dest)
{
	ew_object_io_fd_to(fd, bytes, direction, (const void *)dest);
	return 0;
}

static long ew_mmsg_step(__u32 i, struct ew_mmsg_walk *w)
{
	if ((long)i >= w->count)
		return 1;
	__u32 len = 0;
	bpf_probe_read_user(&len, sizeof(len), &w->vec[i].msg_len);
	if (w->direction == EW_IO_WRITE) {
		const void *dest = ew_msg_dest(&w->vec[i].msg_hdr);
		if (dest != w->dest && w->bytes) {
			ew_mmsg_run(w->fd, w->bytes, EW_IO_WRITE, (__u64)w->dest);
			w->bytes = 0;
		}
		w->dest = dest;
	}
	w->bytes += len;
	return 0;
}

static __always_inline void ew_mmsg(long count, __u8 direction)
{
	if (count <= 0 || ew_is_self())
		return;
	struct pt_regs *regs = ew_user_regs();
	struct ew_mmsg_walk w = {.vec = (struct mmsghdr *)PT_REGS_PARM2_SYSCALL(regs),
				 .count = count,
				 .fd = PT_REGS_PARM1_SYSCALL(regs),
				 .direction = direction};
	bpf_loop(EW_MMSG_MAX, ew_mmsg_step, &w, 0);
	if (w.bytes)
		ew_mmsg_run(w.fd, w.bytes, direction, (__u64)w.dest);
}

SEC("tp/syscalls/sys_exit_sendmmsg")
int on_sendmmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	ew_mmsg(ctx->ret, EW_IO_WRITE);
	return 0;
}

SEC("tp/syscalls/sys_exit_recvmmsg")
int on_recvmmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	ew_mmsg(ctx->ret, EW_IO_READ);
	return 0;
}

SEC("tp/syscalls/sys_exit_tee") /* tee(fd_in, fd_out, len, flags): pipe to pipe, not consumed */
int on_tee_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = ew_user_regs();
	if (ctx->ret > 0) {
		ew_object_io_fd(PT_REGS_PARM1_SYSCALL(regs), ctx->ret, EW_IO_READ);
		ew_object_io_fd(PT_REGS_PARM2_SYSCALL(regs), ctx->ret, EW_IO_WRITE);
	}
	return 0;
}

SEC("tp/syscalls/sys_exit_vmsplice") /* vmsplice(fd, iov, nr, flags): the pipe end says which way */
int on_vmsplice_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0 || ew_is_self())
		return 0;
	int fd = PT_REGS_PARM1_SYSCALL(ew_user_regs());
	struct file *file = ew_fd_file(fd);
	if (file)
		ew_object_io(file, fd, ctx->ret, (file->f_mode & EW_FMODE_WRITE) ? EW_IO_WRITE : EW_IO_READ);
	return 0;
}
