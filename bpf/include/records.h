/* The contract between the BPF programs and userspace: every record that crosses the ring
 * buffer, every counter, every size limit. Plain C with fixed-width types and explicit padding;
 * record kinds are append-only (never renumber or reuse a value). Both sides assert the layout.
 */
#ifndef EXFILWATCH_RECORDS_H
#define EXFILWATCH_RECORDS_H

#ifdef __cplusplus
#include <cstdint>
#include <cstddef>
namespace exfilwatch::wire {
typedef std::uint8_t __u8;
typedef std::uint16_t __u16;
typedef std::uint32_t __u32;
typedef std::uint64_t __u64;
typedef std::int32_t __s32;
#define EW_STATIC_ASSERT static_assert
#else
#define EW_STATIC_ASSERT _Static_assert
#endif

#define EW_RECORD_VERSION 1
/* Every struct here is read on both sides (ring-buffer records, or map keys and values userspace
 * looks up): each has a size assert, checked by clang -target bpf and by the C++ build alike. */

/* Size limits. Each one is a power of two where BPF code masks offsets with (limit - 1). */
#define EW_ARGS_MAX 4096       /* argv bytes kept per exec (NUL-separated) */
#define EW_PATH_MAX 4096       /* a path as bytes, components joined by userspace */
#define EW_NAME_MAX 256        /* one path component, NUL included */
#define EW_PATH_DEPTH_MAX 32   /* components walked up from a dentry */
#define EW_COMM_LEN 16
#define EW_CAPTURE_MAX 16392   /* payload bytes per flow-data record (a whole TLS record) */
#define EW_CAPTURE_TLS_MAX 16389   /* first TLS record: 5-byte header + up to 16 KiB */
/* A ClientHello over several records (a big padding, PSK or key share): up to 64 KiB of message
 * and its 4-byte header, plus room for 16 record headers. Stream bytes, copied in records of at
 * most EW_CAPTURE_MAX. */
#define EW_CAPTURE_HELLO_MAX (65536 + 4 + 5 * 16)
/* A stream through an HTTP proxy: the CONNECT head, then the tunnelled ClientHello. */
#define EW_CAPTURE_STREAM_MAX (EW_CAPTURE_HEAD_MAX + EW_CAPTURE_HELLO_MAX)
#define EW_VMA_RETRY_MAX 4      /* shared mappings per process waiting for a retried lookup */
#define EW_LOCAL_ADDRESSES_MAX 256 /* the host's own addresses the BPF side knows (local_addresses) */
#define EW_QUIC_INITIALS_MAX 16 /* client Initial datagrams copied per UDP socket (QUIC) */
#define EW_CAPTURE_HEAD_MAX 4096   /* non-TLS stream head (HTTP request head, DNS over TCP) */
#define EW_DNS_MAX 4096        /* one DNS datagram */
#define EW_CGROUP_NAME_MAX 128 /* one cgroup v2 directory name, NUL included */
#define EW_CGROUP_DEPTH_MAX 4  /* innermost cgroup levels kept per exec (container + pod) */
#define EW_DNS_PENDING_MAX 16  /* outstanding DNS queries remembered per socket */
#define EW_PLAINTEXT_MAX 16384 /* plaintext bytes kept of one TLS library write (its head) */
#define EW_PLAINTEXT_CONN_MAX 65536 /* plaintext bytes captured per TLS connection, in all */

/* The tables below are X-macros: X(NAME, value, "metric name"). Each is expanded into its enum
 * here (for BPF and userspace alike), into the metric names userspace reports
 * (kernel/counters.hpp) and into decode's kind check, so a kind, a drop reason or a counter
 * exists in one place. Values are append-only: never renumber or reuse one. */

/* Record kinds. kernel.records.<name> counts the records of the kind offered to the ring buffer
 * (accepted or, counted under ringbuf_full, refused); kind 0 is no record (state, such as a
 * socket's storage) in the per-kind drop table. */
#define EW_RECORD_KINDS(X)                                                                     \
	X(EXEC, 1, "exec")                                                                     \
	X(FORK, 2, "fork")                                                                     \
	X(EXIT, 3, "exit")                                                                     \
	X(FILE_OPEN, 4, "file_open")                                                           \
	X(FILE_FIRST_READ, 5, "file_first_read") /* a read of a file not seen opened */        \
	X(FLOW_START, 6, "flow_start")   /* first packet of a socket: 4-tuple and owner */     \
	X(FLOW_DATA, 7, "flow_data")     /* head bytes of a stream, or one DNS datagram */     \
	X(FLOW_END, 8, "flow_end")       /* the socket closed: final counters */               \
	X(FLOW_UPDATE, 9, "flow_update") /* periodic counters of a live flow (FLOW_END layout) */ \
	X(OBJECT_IO, 10, "object_io")    /* bytes through a pipe, FIFO, UNIX or loopback socket */ \
	X(TLS_PLAINTEXT, 11, "tls_plaintext") /* head of one TLS library write (SSL_write...) */

enum record_kind {
	EW_REC_NONE = 0,
#define EW_X(name, value, metric) EW_REC_##name = value,
	EW_RECORD_KINDS(EW_X)
#undef EW_X
	EW_REC_LIMIT, /* one past the highest kind: the size of per-kind tables */
};

/* Every record starts with this. `size` is the whole record, header included. */
struct ew_header {
	__u16 kind;
	__u16 version;
	__u32 size;
	__u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns); userspace converts to wall clock */
	__u32 pid;     /* tgid of the actor */
	__u32 tid;
};
EW_STATIC_ASSERT(sizeof(struct ew_header) == 24, "ew_header layout");

/* Exec: fixed part, then `exe_size` bytes of executable path, `args_size` bytes of argv, and
 * `cgroup_size` bytes of the task's cgroup v2 path: its innermost EW_CGROUP_DEPTH_MAX directory
 * names, leaf first, each NUL-terminated (none for the root cgroup). Read in the kernel because a
 * short-lived container is gone from /proc and its cgroup removed before userspace sees it. */
/* What a process's fd 1 is at exec: whether its output can reach the process that spawned it. */
#define EW_STDOUT_UNKNOWN 0
#define EW_STDOUT_PIPE 1  /* a pipe or FIFO (its inode is stdout_pipe) */
#define EW_STDOUT_FILE 2  /* a regular file */
#define EW_STDOUT_OTHER 3 /* closed, a terminal, /dev/null, a socket ... */

struct ew_exec {
	struct ew_header hdr;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 pgid;
	__u32 sid;
	__u8 tty;         /* non-zero when the process has a controlling terminal */
	__u8 stdout_kind; /* EW_STDOUT_*: what fd 1 is at exec */
	__u16 _pad;
	__u64 cgroup_id;
	__u64 start_ns; /* task start time, CLOCK_MONOTONIC: with pid it makes the entity id */
	__u64 stdin_pipe;  /* inode of the pipe or FIFO on fd 0 at exec, 0 when it is none: */
	__u64 stdout_pipe; /* a writer's stdout_pipe equal to a reader's stdin_pipe is a pipeline */
	__u16 exe_size;
	__u16 args_size;
	__u8 args_truncated;
	__u8 exe_truncated;
	__u8 comm[EW_COMM_LEN];
	__u16 cgroup_size;
	/* followed by: exe (exe_size bytes), args (args_size bytes), cgroup (cgroup_size bytes) */
};
EW_STATIC_ASSERT(sizeof(struct ew_exec) == 104, "ew_exec layout");

struct ew_fork {
	struct ew_header hdr;
	__u32 ppid;
	__u32 uid;
	__u64 start_ns;
	__u64 cgroup_id;
	__u8 comm[EW_COMM_LEN];
};
EW_STATIC_ASSERT(sizeof(struct ew_fork) == 64, "ew_fork layout");

struct ew_exit {
	struct ew_header hdr;
	__s32 exit_code; /* raw wait status: (code << 8) | signal */
	__u32 _pad;
	__u64 start_ns;
};
EW_STATIC_ASSERT(sizeof(struct ew_exit) == 40, "ew_exit layout");

/* Paths travel as components from leaf to root, each NUL-terminated; `path_flags` says how to
 * join them. A path as the process named it travels as one NUL-terminated string. */
#define EW_PATH_ABSOLUTE 0x1     /* `name` is an absolute path: use it as it is */
#define EW_PATH_BASE_WALKED 0x2  /* `base` holds the walked directory (cwd or dirfd) components */
#define EW_PATH_TRUNCATED 0x4
#define EW_PATH_RESOLVED 0x8     /* `base` holds the opened file's own path (its dentry and mount
				  * walked to the task's root), not the directory `name` is relative to */

/* File open: fixed part, then `name_size` bytes (the path as named, NUL-terminated; empty for
 * open_by_handle_at), then `base_size` bytes of components (leaf first): of the opened file
 * itself after a successful open (EW_PATH_RESOLVED), else of the directory a relative name was
 * relative to (EW_PATH_BASE_WALKED). */
struct ew_file_open {
	struct ew_header hdr;
	__s32 fd;     /* the result: fd, or -errno; an io_uring open into a fixed-file slot: the slot */
	__s32 dirfd;
	__u32 flags;
	__u32 mode;   /* inode mode of the opened file (0 on failure) */
	__u64 ino;
	__u64 dev;
	__u16 name_size;
	__u16 base_size;
	__u16 base_depth;
	__u16 path_flags;
	__u32 syscall_nr;
	__u32 _pad;
};
EW_STATIC_ASSERT(sizeof(struct ew_file_open) == 72, "ew_file_open layout");

/* A process read from (or wrote to: `write` 1) a regular file it was not seen opening (inherited
 * fd, or opened before the monitor started); userspace names it from the inode or
 * /proc/<pid>/fd/<fd>. */
struct ew_file_first_read {
	struct ew_header hdr;
	__s32 fd;
	__u32 write;
	__u64 ino;
	__u64 dev;
};
EW_STATIC_ASSERT(sizeof(struct ew_file_first_read) == 48, "ew_file_first_read layout");

/* Per (process, file) read counters, in the `file_reads` map, harvested by userspace. */
struct ew_file_key {
	__u32 tgid;
	__u32 _pad;
	__u64 ino;
	__u64 dev;
};
EW_STATIC_ASSERT(sizeof(struct ew_file_key) == 24, "ew_file_key layout");
struct ew_file_stats {
	__u64 bytes_read;
	__u64 bytes_mapped;
	__u64 first_ns;
	__u64 last_ns;
	__u32 opened_for_write;
	__u32 reported; /* 1 once userspace was told of this pair (open or first-read record) */
	__u64 last_write_ns; /* the last write seen (0: none; EW_WRITE_UNTIMED: a shared writable map) */
	__u64 announced_ns;  /* when the pair was last queued in file_changed (file.bpf.c) */
};
EW_STATIC_ASSERT(sizeof(struct ew_file_stats) == 56, "ew_file_stats layout");
/* Written through a shared writable mapping: at any time until the process exits. */
#define EW_WRITE_UNTIMED (~0ULL)

/* Data through kernel objects other than regular files: the first read and the first write of
 * each (process, object, direction), then the cumulative count at most once per
 * cfg_flow_update_ns while it grows. Both ends of one channel name the same object. */
#define EW_OBJ_PIPE 0     /* object_id: the pipe's inode */
#define EW_OBJ_FIFO 1     /* object_id: the FIFO's inode; dev: its filesystem */
#define EW_OBJ_UNIX 2     /* object_id: a salted hash of the lower of the two ends' struct sock; a
			   * datagram socket sending to a receiver it is connected to: the receiver's;
			   * an unconnected datagram sender: its own (with its socket inode) */
#define EW_OBJ_LOOPBACK 3 /* object_id: TCP, a hash of the 4-tuple, the same from both ends; UDP, a
			   * hash of the receiving port */
#define EW_OBJ_MEMORY 4   /* another process's memory (process_vm_readv/writev, ptrace PEEK/POKE,
			   * /proc/<pid>/mem): object_id, its pid; dev, 0 when that pid is the host's,
			   * else (a kernel without bpf_task_from_vpid) the inode number of the
			   * caller's pid namespace the pid is in */
#define EW_OBJ_ENVIRON 5  /* another process's environment (a read of /proc/<pid>/environ):
			   * object_id, its host pid */
#define EW_OBJ_SHARED 6   /* memory shared by mapping one object (mmap MAP_SHARED of a file, a
			   * memfd or /dev/shm; an anonymous shared mapping; a System V segment):
			   * object_id, the backing inode; dev, its filesystem. read: any shared
			   * mapping (it sees what any other mapper writes, while it lives); write: a
			   * writable one (it writes at times no syscall shows). dev 0: a whole address
			   * space two processes share (clone with CLONE_VM), object_id its salted hash */
#define EW_OBJ_CMDLINE 7  /* another process's command line (a read of /proc/<pid>/cmdline):
			   * object_id, its host pid */
#define EW_IO_READ 0
#define EW_IO_WRITE 1

struct ew_object_key {
	__u64 object_id;
	__u32 tgid;
	__u8 kind;
	__u8 direction;
	__u16 _pad;
};
struct ew_object_stats {
	__u64 bytes;
	__u64 reported_ns; /* when the last record of this pair was sent */
};
EW_STATIC_ASSERT(sizeof(struct ew_object_key) == 16, "ew_object_key layout");
EW_STATIC_ASSERT(sizeof(struct ew_object_stats) == 16, "ew_object_stats layout");

struct ew_object_io {
	struct ew_header hdr;
	__u64 object_id;
	__u64 dev;   /* kernel encoding; FIFOs only, else 0 */
	__u64 bytes; /* cumulative for this (process, object, direction) */
	__s32 fd;    /* -1 when unknown (io_uring fixed file) */
	__u8 kind;   /* EW_OBJ_* */
	__u8 direction;
	__u8 first;  /* 1: the pair's first record (a repeat means the kernel map evicted it) */
	__u8 _pad;
};
EW_STATIC_ASSERT(sizeof(struct ew_object_io) == 56, "ew_object_io layout");

/* Network. Addresses are 16 bytes: IPv4 in the first 4 (network order), IPv6 whole. */
#define EW_AF_INET 2
#define EW_AF_INET6 10
#define EW_PROTO_TCP 6
#define EW_PROTO_UDP 17

struct ew_flow_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u8 family;
	__u8 protocol;
	__u8 _pad[2];
};
EW_STATIC_ASSERT(sizeof(struct ew_flow_tuple) == 40, "ew_flow_tuple layout");

/* A one-second budget: `used` of it taken since `start_ns` (BPF-side state, per socket or CPU). */
struct ew_rate_window {
	__u64 start_ns;
	__u64 used;
};
EW_STATIC_ASSERT(sizeof(struct ew_rate_window) == 16, "ew_rate_window layout");

/* Per-socket state, in socket-local storage (freed with the socket). */
struct ew_flow_stats {
	__u64 bytes_out;   /* payload bytes sent */
	__u64 bytes_in;    /* payload bytes received */
	__u64 packets_out;
	__u64 packets_in;
	__u64 start_ns;
	__u64 last_update_ns;
	__u64 reported_bytes; /* bytes_out + bytes_in at the last update record */
	__u64 socket_inode;   /* inode of the socket's file: joins /proc/<pid>/fd socket:[N] */
	struct ew_flow_tuple tuple;
	__u32 owner_tgid;
	__u32 owner_tid;
	__u32 tx_seq0;       /* TCP: sequence number of the first payload byte sent */
	__u32 tx_captured;   /* head bytes sent to userspace so far (UDP: QUIC Initials copied) */
	__u32 tx_capture_limit;
	__u32 rx_seq0;
	__u32 rx_captured;
	__u32 rx_capture_limit;
	__u8 tx_seq_known;
	__u8 rx_seq_known;
	__u8 tx_tunnel;         /* the stream opened with CONNECT: 1, 2 once its TLS head is armed */
	__u8 dns_pending;       /* DNS queries sent (to port 53) not yet answered, capped; a TCP
				 * stream to port 53 holds EW_DNS_PENDING_MAX */
	__u32 tx_next; /* TCP: the sequence number after the last payload byte counted, each way */
	__u32 rx_next;
	__u8 tx_next_known;
	__u8 rx_next_known;
	__u8 closed; /* TCP: ended at TCP_CLOSE and reported; what follows (an RST) is no new flow */
	__u8 _pad;
	struct ew_rate_window capture; /* captures in the current second (per-socket limit) */
};
EW_STATIC_ASSERT(sizeof(struct ew_flow_stats) == 168, "ew_flow_stats layout");

/* The process that owns a socket, as seen at connect/sendmsg (process context). */
struct ew_sock_owner {
	__u32 tgid;
	__u32 tid;
};
EW_STATIC_ASSERT(sizeof(struct ew_sock_owner) == 8, "ew_sock_owner layout");

struct ew_flow_start {
	struct ew_header hdr;
	__u64 cookie;
	struct ew_flow_tuple tuple;
	__u32 owner_known; /* 0: no process claimed it (a socket older than the monitor): userspace
			    * finds the owner from socket_inode in /proc/<pid>/fd */
	__u32 _pad;
	__u64 socket_inode; /* 0 when the socket has no file (a kernel socket) */
};
EW_STATIC_ASSERT(sizeof(struct ew_flow_start) == 88, "ew_flow_start layout");

/* The plaintext head of one write through a TLS library (uprobes on libssl's SSL_write and
 * SSL_write_ex, gnutls's gnutls_record_send), `data_size` bytes of it following. `object` is the
 * library's connection (SSL *, gnutls_session_t) within the process; `cookie` the socket the
 * write went out on (0 when no packet of it left in the writing thread's context: userspace
 * joins it by `object`). `offset` is where the write starts in the connection's plaintext
 * stream: a gap says writes were not captured (rate or per-connection bound). The header's time
 * is the write's start, so the record sorts before the packets it caused. */
#define EW_TLS_LIB_OPENSSL 1
#define EW_TLS_LIB_GNUTLS 2
struct ew_tls_plaintext {
	struct ew_header hdr;
	__u64 cookie;
	__u64 object;
	__u64 offset;
	__u32 write_size; /* bytes the write sent */
	__u16 data_size;  /* bytes that follow: its head, up to EW_PLAINTEXT_MAX */
	__u8 library;     /* EW_TLS_LIB_* */
	__u8 _pad;
};
EW_STATIC_ASSERT(sizeof(struct ew_tls_plaintext) == 56, "ew_tls_plaintext layout");

#define EW_DIR_OUT 0
#define EW_DIR_IN 1

/* Head bytes of a stream (at stream `offset`) or one whole datagram; `data_size` bytes follow. */
struct ew_flow_data {
	struct ew_header hdr;
	__u64 cookie;
	struct ew_flow_tuple tuple;
	__u32 offset;
	__u16 data_size;
	__u8 direction;
	__u8 datagram;
};
EW_STATIC_ASSERT(sizeof(struct ew_flow_data) == 80, "ew_flow_data layout");

struct ew_flow_end {
	struct ew_header hdr;
	__u64 cookie;
	struct ew_flow_tuple tuple;
	__u64 bytes_out;
	__u64 bytes_in;
	__u64 tcp_bytes_acked;    /* the kernel's own TCP counters (0 for UDP) */
	__u64 tcp_bytes_received;
};
EW_STATIC_ASSERT(sizeof(struct ew_flow_end) == 104, "ew_flow_end layout");

/* Why a record or a piece of state was lost, counted per (kind, reason) in the per-CPU `drops`
 * map at kind * EW_DROP_LIMIT + reason. Value 5 was file_map_full, which could not move (the
 * file map is an LRU: an insert evicts the oldest pair instead of failing): retired, never
 * reused. */
#define EW_DROP_REASONS(X)                                                                     \
	X(RINGBUF_FULL, 0, "ringbuf_full")    /* the ring buffer had no room for the record */  \
	X(ARGS_READ, 1, "args_read")          /* argv could not be read (sent without it) */    \
	X(PATH_READ, 2, "path_read")          /* a path or a component could not be read */     \
	X(CAPTURE_READ, 3, "capture_read")    /* packet bytes could not be loaded */            \
	/* A socket's local storage could not be created: there is no capacity to fill (it is  \
	 * per socket); bpf_sk_storage_get(F_CREATE) fails when the allocation (GFP_ATOMIC,     \
	 * charged to the socket's optmem) fails or the socket is already being destroyed. It  \
	 * moved once per Go client exit: see on_inet_sock_set_state (net.bpf.c), the RST a     \
	 * close with unread data sends after TCP_CLOSE was re-adopted as a new flow. */        \
	X(FLOW_MAP_FULL, 4, "flow_storage_full")                                               \
	X(SCRATCH_BUSY, 6, "scratch_busy")    /* every per-CPU scratch slot in use (nesting) */ \
	X(OVERSIZE, 7, "oversize")            /* a record over its kind's size bound */         \
	X(FD_LOOKUP, 8, "fd_lookup")          /* the fd (or dirfd) of an open had no file */    \
	/* A DNS answer (from port 53) to a socket with no query outstanding: not copied. */    \
	X(DNS_UNSOLICITED, 9, "dns_unsolicited")                                               \
	/* A capture over the per-socket or the per-CPU rate (cfg_capture_*_per_s): not copied */ \
	X(CAPTURE_RATE, 10, "capture_rate")                                                   \
	/* A UNIX datagram read that would start a new (process, channel) pair over the per-CPU  \
	 * rate (cfg_datagram_pairs_per_s, file.bpf.c): not counted */                           \
	X(DATAGRAM_RATE, 11, "datagram_rate")                                                  \
	/* A (process, file) pair whose counters moved found the file_changed queue full: its   \
	 * periodic summary waits for its next read or write (or its exit) */                    \
	X(FILE_CHANGED_FULL, 12, "file_changed_full")                                          \
	/* A shared mapping's lookup (bpf_find_vma, which only try-locks the address space) found \
	 * the lock taken, and its retry at the process's next read or write was lost too: \
	 * more than EW_VMA_RETRY_MAX waiting, or the process exited first */                    \
	X(VMA_BUSY, 13, "vma_busy")

enum drop_reason {
#define EW_X(name, value, metric) EW_DROP_##name = value,
	EW_DROP_REASONS(EW_X)
#undef EW_X
	EW_DROP_LIMIT, /* one past the highest reason */
};

/* Other counters the programs keep (per-CPU `stats` map), reported as kernel.stats.<name>. */
#define EW_STATS(X)                                                                            \
	X(FILE_OPEN_SUPPRESSED, 0, "file_open_suppressed") /* repeat opens, ignored prefixes */  \
	X(FILE_READ_BYTES, 1, "file_read_bytes")           /* bytes read from regular files */   \
	X(SCRATCH_NESTED, 2, "scratch_nested")             /* a scratch slot found busy */      \
	X(VMA_RETRIED, 3, "vma_retried") /* a shared mapping's lookup found the lock taken: retried */

enum stat_counter {
#define EW_X(name, value, metric) EW_STAT_##name = value,
	EW_STATS(EW_X)
#undef EW_X
	EW_STAT_LIMIT,
};

#ifdef __cplusplus
}  // namespace exfilwatch::wire
#endif
#endif
