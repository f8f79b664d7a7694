/* Network telemetry from cgroup hooks (no syscall tracepoint, so no slow-path tax): the owner of
 * each socket at connect/sendmsg, payload bytes per socket in both directions at the packet
 * level (every send path, io_uring included), the head of each outbound stream (TLS ClientHello
 * or HTTP request head; through a CONNECT proxy, the tunnelled ClientHello too), the client
 * Initials of QUIC on UDP, and DNS answers for userspace to parse, and the close with the
 * kernel's own TCP counters. */
#include "common.bpf.h"

char LICENSE_NET[] SEC("license") = "GPL";

#define EW_ETH_P_IP 0x0800
#define EW_ETH_P_IPV6 0x86DD
#define EW_TCP_SYN_RECV 3
#define EW_TCP_CLOSE 7
#define EW_DNS_PORT 53
#define EW_TLS_HANDSHAKE 0x16
#define EW_TLS_RECORDS_MAX 16
#define EW_HTTP_SNIFF 32      /* first bytes of a stream looked at to tell an HTTP request */
#define EW_HTTP_METHOD_MAX 24 /* userspace's longest method (max_http_method_bytes) */

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ew_flow_stats);
} flow_store SEC(".maps");

/* Capture rate limits: per socket, and per CPU for all sockets (set through the skeleton's rodata
 * before load). A one-second window each: what is over is a counted drop (capture_rate). */
const volatile __u32 cfg_capture_socket_per_s = 64;
const volatile __u32 cfg_capture_cpu_per_s = 4096;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ew_rate_window);
} capture_rate SEC(".maps");

/* Whether one more capture fits the socket's (or TLS connection's) and this CPU's windows (and
 * takes it from both). */
static __always_inline bool ew_capture_allowed(struct ew_rate_window *socket, __u64 now)
{
	if (!ew_window_open(socket, cfg_capture_socket_per_s, now) ||
	    !ew_cpu_window_take(&capture_rate, cfg_capture_cpu_per_s, now))
		return false;
	socket->used += 1;
	return true;
}

/* Sockets never to track: accepted connections (marked at their passive open) and kernel
 * sockets (no file, so no owner to find). Checked only for sockets with no flow_store. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} untracked_store SEC(".maps");

/* The inode of the socket's file, what /proc/<pid>/fd shows as socket:[N]; 0 for a kernel
 * socket. A bpf_sock allows no access to struct sock's fields nor pointer arithmetic, so its
 * address is copied out as a plain number for CO-RE reads of struct sock. bpf_rdonly_cast (as
 * file.bpf.c uses it) would be one call instead of four reads, but a kfunc may be referenced
 * from one object only: libbpf 1.1's linker (`bpftool gen object`, Debian 12) fails on the
 * second one ("failed to resolve size of underlying type"; fixed upstream in 2024 by "libbpf:
 * do not resolve size on duplicate FUNCs"). Move this to bpf_rdonly_cast with that libbpf. */
static __always_inline __u64 ew_sock_inode(struct bpf_sock *sk)
{
	struct sock *kernel_sk = NULL;
	bpf_probe_read_kernel(&kernel_sk, sizeof(kernel_sk), &sk);
	return BPF_CORE_READ(kernel_sk, sk_socket, file, f_inode, i_ino);
}

/* Owner of a socket: the process that connects it or sends on it first (process context). */
static __always_inline int ew_claim(struct bpf_sock_addr *ctx)
{
	if (ew_is_self() || !ctx->sk)
		return 1;
	struct ew_flow_stats *flow =
		bpf_sk_storage_get(&flow_store, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!flow) {
		ew_drop(EW_REC_NONE, EW_DROP_FLOW_MAP_FULL);
		return 1;
	}
	if (flow->closed) /* a TCP socket connected again after its connection ended */
		__builtin_memset(flow, 0, sizeof(*flow));
	if (!flow->owner_tgid) {
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		flow->owner_tgid = pid_tgid >> 32;
		flow->owner_tid = (__u32)pid_tgid;
		flow->start_ns = bpf_ktime_get_ns();
		if (!flow->socket_inode)
			flow->socket_inode = ew_sock_inode(ctx->sk);
	}
	return 1;
}

SEC("cgroup/connect4")
int on_connect4(struct bpf_sock_addr *ctx) { return ew_claim(ctx); }

SEC("cgroup/connect6")
int on_connect6(struct bpf_sock_addr *ctx) { return ew_claim(ctx); }

SEC("cgroup/sendmsg4")
int on_sendmsg4(struct bpf_sock_addr *ctx) { return ew_claim(ctx); }

SEC("cgroup/sendmsg6")
int on_sendmsg6(struct bpf_sock_addr *ctx) { return ew_claim(ctx); }

struct ew_packet {
	struct ew_flow_tuple tuple; /* as on the wire: saddr is the sender */
	__u32 payload_off;
	__u32 payload_len;
	__u32 seq;
	__u8 tcp_flags;
};

#define EW_IPV6_EXT_MAX 8 /* IPv6 extension headers followed before a packet is given up */
#define EW_IPPROTO_HOPOPTS 0
#define EW_IPPROTO_ROUTING 43
#define EW_IPPROTO_FRAGMENT 44
#define EW_IPPROTO_AH 51
#define EW_IPPROTO_DSTOPTS 60

/* Follows IPv6 extension headers (hop-by-hop, routing, destination options, fragment, AH) from
 * `*nexthdr` at `*off` to the transport header: options a process sets on its own socket
 * (IPV6_HOPOPTS, IPV6_DSTOPTS, IPV6_RTHDR) must not hide its flow, its bytes or its name.
 * False for a fragment other than the first (no transport header) or a chain past the bound. */
static __always_inline bool ew_ipv6_transport(struct __sk_buff *skb, __u8 *nexthdr, __u32 *off)
{
	for (int i = 0; i < EW_IPV6_EXT_MAX; i++) {
		__u8 h = *nexthdr;
		if (h != EW_IPPROTO_HOPOPTS && h != EW_IPPROTO_ROUTING && h != EW_IPPROTO_FRAGMENT &&
		    h != EW_IPPROTO_AH && h != EW_IPPROTO_DSTOPTS)
			return true;
		__u8 ext[4];
		if (bpf_skb_load_bytes(skb, *off, ext, sizeof(ext)))
			return false;
		if (h == EW_IPPROTO_FRAGMENT) {
			if ((((__u16)ext[2] << 8) | ext[3]) & 0xfff8)
				return false; /* a later fragment: its transport header is in the first */
			*off += 8;
		} else if (h == EW_IPPROTO_AH) {
			*off += ((__u32)ext[1] + 2) * 4;
		} else {
			*off += ((__u32)ext[1] + 1) * 8;
		}
		*nexthdr = ext[0];
	}
	return false;
}

static __always_inline bool ew_parse_packet(struct __sk_buff *skb, struct ew_packet *pkt)
{
	__u32 l4_off;
	if (skb->protocol == bpf_htons(EW_ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return false;
		pkt->tuple.family = EW_AF_INET;
		pkt->tuple.protocol = ip.protocol;
		__builtin_memcpy(pkt->tuple.saddr, &ip.saddr, 4);
		__builtin_memcpy(pkt->tuple.daddr, &ip.daddr, 4);
		l4_off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(EW_ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		pkt->tuple.family = EW_AF_INET6;
		pkt->tuple.protocol = ip6.nexthdr;
		__builtin_memcpy(pkt->tuple.saddr, &ip6.saddr, 16);
		__builtin_memcpy(pkt->tuple.daddr, &ip6.daddr, 16);
		l4_off = sizeof(ip6);
		if (!ew_ipv6_transport(skb, &pkt->tuple.protocol, &l4_off))
			return false;
	} else {
		return false;
	}
	if (pkt->tuple.protocol == EW_PROTO_TCP) {
		struct tcphdr tcp;
		if (bpf_skb_load_bytes(skb, l4_off, &tcp, sizeof(tcp)))
			return false;
		pkt->tuple.sport = bpf_ntohs(tcp.source);
		pkt->tuple.dport = bpf_ntohs(tcp.dest);
		pkt->seq = bpf_ntohl(tcp.seq);
		pkt->tcp_flags = ((__u8 *)&tcp)[13];
		pkt->payload_off = l4_off + tcp.doff * 4;
	} else if (pkt->tuple.protocol == EW_PROTO_UDP) {
		struct udphdr udp;
		if (bpf_skb_load_bytes(skb, l4_off, &udp, sizeof(udp)))
			return false;
		pkt->tuple.sport = bpf_ntohs(udp.source);
		pkt->tuple.dport = bpf_ntohs(udp.dest);
		pkt->payload_off = l4_off + sizeof(udp);
	} else {
		return false;
	}
	pkt->payload_len = skb->len > pkt->payload_off ? skb->len - pkt->payload_off : 0;
	return true;
}

static __always_inline void ew_local_tuple(struct ew_flow_tuple *local, const struct ew_packet *pkt,
					   bool outbound)
{
	*local = pkt->tuple;
	if (!outbound) {
		__builtin_memcpy(local->saddr, pkt->tuple.daddr, 16);
		__builtin_memcpy(local->daddr, pkt->tuple.saddr, 16);
		local->sport = pkt->tuple.dport;
		local->dport = pkt->tuple.sport;
	}
}

static __always_inline void ew_flow_record(struct __sk_buff *skb, struct bpf_sock *sk,
					   struct ew_flow_stats *flow, __u16 kind)
{
	struct ew_flow_end rec = {};
	ew_fill_header(&rec.hdr, kind, sizeof(rec));
	rec.hdr.pid = flow->owner_tgid;
	rec.hdr.tid = flow->owner_tid;
	rec.cookie = bpf_get_socket_cookie(skb);
	rec.tuple = flow->tuple;
	rec.bytes_out = flow->bytes_out;
	rec.bytes_in = flow->bytes_in;
	struct bpf_tcp_sock *tp = bpf_tcp_sock(sk); /* NULL for UDP */
	if (tp) {
		rec.tcp_bytes_acked = tp->bytes_acked;
		rec.tcp_bytes_received = tp->bytes_received;
	}
	ew_submit(&rec, sizeof(rec));
}

/* Sends head bytes [offset, offset + n) of the stream (or one datagram) to userspace. */
static __always_inline void ew_capture(struct __sk_buff *skb, struct ew_flow_stats *flow,
				       __u32 offset, __u32 skb_off, __u64 n, __u8 direction,
				       __u8 datagram)
{
	/* 64-bit bounds on the very register passed to the helper, or the verifier loses them. */
	asm volatile("" : "+r"(n)); /* keep the check: the compiler may prove what the verifier cannot */
	if (n > EW_CAPTURE_MAX || n == 0)
		return;
	if (!ew_capture_allowed(&flow->capture, bpf_ktime_get_ns())) {
		ew_drop(EW_REC_FLOW_DATA, EW_DROP_CAPTURE_RATE);
		return;
	}
	struct ew_scratch *slot = ew_scratch_get(EW_REC_FLOW_DATA);
	if (!slot)
		return;
	struct ew_flow_data *rec = (struct ew_flow_data *)slot->buf;
	if (bpf_skb_load_bytes(skb, skb_off, rec + 1, n)) {
		ew_drop(EW_REC_FLOW_DATA, EW_DROP_CAPTURE_READ);
		ew_scratch_put(slot);
		return;
	}
	ew_fill_header(&rec->hdr, EW_REC_FLOW_DATA, sizeof(*rec) + n);
	rec->hdr.pid = flow->owner_tgid;
	rec->hdr.tid = flow->owner_tid;
	rec->cookie = bpf_get_socket_cookie(skb);
	rec->tuple = flow->tuple;
	rec->offset = offset;
	rec->data_size = n;
	rec->direction = direction;
	rec->datagram = datagram;
	ew_submit(rec, sizeof(*rec) + n);
	ew_scratch_put(slot);
}

/* Whether a stream whose first segment starts with `head` (`len` bytes of it loaded) can be an
 * HTTP request: the test userspace's parser makes (optional CR/LF, 1 to EW_HTTP_METHOD_MAX
 * method characters, a space). Too few bytes to tell counts as yes: capturing costs less than
 * missing a request head. */
static __always_inline bool ew_maybe_http(const __u8 *head, __u32 len)
{
	__u32 method = 0;
	bool in_method = false;
	for (__u32 i = 0; i < EW_HTTP_SNIFF; i++) {
		if (i >= len)
			return true;
		__u8 c = head[i];
		if (!in_method && (c == '\r' || c == '\n'))
			continue;
		in_method = true;
		if ((c >= 'A' && c <= 'Z') || c == '-' || c == '_') {
			if (++method > EW_HTTP_METHOD_MAX)
				return false;
			continue;
		}
		return c == ' ' && method > 0;
	}
	return true; /* undecided within the sniff: keep it */
}

/* How far past `offset` a stream head that starts at `offset` with `head` (`len` bytes loaded) is
 * copied: a TLS ClientHello whole, over as many records as it spans (up to 64 KiB: a big padding,
 * PSK or key share must not push the SNI out of reach), EW_CAPTURE_HEAD_MAX bytes of what starts
 * like an HTTP request (or a record too short to tell), and 0 for any other stream. */
static __always_inline __u32 ew_head_span(const __u8 *head, __u32 len)
{
	if (head[0] == EW_TLS_HANDSHAKE && len >= 9) {
		__u32 record_len = ((__u32)head[3] << 8) | head[4];
		__u32 hello_len = ((__u32)head[6] << 16) | ((__u32)head[7] << 8) | head[8];
		__u32 span = 5 + record_len;
		/* A ClientHello split over several records: its length, plus room for up to
		 * EW_TLS_RECORDS_MAX record headers, and not a byte of what follows more. */
		if (hello_len + 4 > record_len)
			span = hello_len + 4 + 5 * EW_TLS_RECORDS_MAX;
		return span > EW_CAPTURE_HELLO_MAX ? EW_CAPTURE_HELLO_MAX : span;
	}
	if (head[0] == EW_TLS_HANDSHAKE || ew_maybe_http(head, len))
		return EW_CAPTURE_HEAD_MAX;
	return 0;
}

static __always_inline bool ew_is_connect(const __u8 *head, __u32 len)
{
	return len >= 8 && head[0] == 'C' && head[1] == 'O' && head[2] == 'N' && head[3] == 'N' &&
	       head[4] == 'E' && head[5] == 'C' && head[6] == 'T' && head[7] == ' ';
}

/* TCP head capture: the ClientHello when the stream starts with a handshake record, the first
 * EW_CAPTURE_HEAD_MAX bytes when it starts like an HTTP request (or a DNS-over-TCP answer
 * inbound), and nothing at all otherwise: the head of any other stream is not parsed, so it is
 * not copied (that copy and its record were most of the cost of a plain TCP connection). A
 * stream that opens with CONNECT (`tunnel`, outbound only) is a proxy tunnel: the first segment
 * within its first EW_CAPTURE_HEAD_MAX bytes that starts a TLS record is taken for the tunnelled
 * ClientHello, which names the flow, and is copied whole too (once per stream; userspace parses
 * from where the request head really ends). A packet's part of the head goes out in
 * chunks of at most EW_CAPTURE_MAX (a GSO packet carries up to 64 KiB). */
static __always_inline void ew_capture_stream(struct __sk_buff *skb, const struct ew_packet *pkt,
					      struct ew_flow_stats *flow, __u32 offset,
					      __u32 *captured, __u32 *limit, __u8 *tunnel,
					      __u8 direction)
{
	if (offset >= EW_CAPTURE_STREAM_MAX || offset < *captured)
		return; /* past the head, or a retransmission of what was sent already */
	bool first = offset == 0 && *limit == 0;
	bool inner = tunnel && *tunnel == 1 && offset == *captured && offset < EW_CAPTURE_HEAD_MAX;
	if (first || inner) {
		__u8 head[EW_HTTP_SNIFF] = {};
		__u64 len = pkt->payload_len;
		asm volatile("" : "+r"(len)); /* bound the register passed to the helper (as in ew_capture) */
		if (len > EW_HTTP_SNIFF)
			len = EW_HTTP_SNIFF;
		if (len < 1 || bpf_skb_load_bytes(skb, pkt->payload_off, head, len))
			return;
		if (inner) {
			/* Each segment within the first EW_CAPTURE_HEAD_MAX bytes is looked at (a head
			 * split over segments) until one starts a TLS record: then once, no more. */
			if (head[0] == EW_TLS_HANDSHAKE && len >= 9) {
				*limit = offset + ew_head_span(head, len);
				*tunnel = 2;
			}
		} else {
			*limit = ew_head_span(head, len);
			if (*limit == 0) {
				*captured = EW_CAPTURE_STREAM_MAX; /* not a head we parse: done */
				return;
			}
			if (tunnel && ew_is_connect(head, len))
				*tunnel = 1;
		}
		if (*limit > EW_CAPTURE_STREAM_MAX)
			*limit = EW_CAPTURE_STREAM_MAX;
	}
	if (*limit == 0 || offset >= *limit)
		return;
	__u32 n = *limit - offset;
	if (n > pkt->payload_len)
		n = pkt->payload_len;
	__u32 done = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < EW_CAPTURE_STREAM_MAX / EW_CAPTURE_MAX + 1; i++) {
		if (done >= n)
			break;
		__u32 part = n - done > EW_CAPTURE_MAX ? EW_CAPTURE_MAX : n - done;
		ew_capture(skb, flow, offset + done, pkt->payload_off + done, part, direction, 0);
		done += part;
	}
	*captured = offset + n;
}

#define EW_QUIC_V1 0x00000001
#define EW_QUIC_V2 0x6b3343cf

/* QUIC: the first datagrams a UDP socket sends that are client Initials (long header, fixed bit,
 * the Initial type of QUIC v1 or v2) are copied whole for userspace to decrypt (their keys
 * derive from the packet itself, RFC 9001 section 5.2) and read the ClientHello's SNI from.
 * `tx_captured` counts them; the first datagram that is not one ends the socket's sniffing. */
static __always_inline void ew_capture_quic(struct __sk_buff *skb, const struct ew_packet *pkt,
					    struct ew_flow_stats *flow)
{
	__u8 head[5];
	if (pkt->payload_len < sizeof(head) ||
	    bpf_skb_load_bytes(skb, pkt->payload_off, head, sizeof(head))) {
		flow->tx_captured = EW_QUIC_INITIALS_MAX;
		return;
	}
	__u32 version = ((__u32)head[1] << 24) | ((__u32)head[2] << 16) | ((__u32)head[3] << 8) |
			head[4];
	__u8 type = (head[0] >> 4) & 0x03;
	bool initial = (head[0] & 0xc0) == 0xc0 &&
		       ((version == EW_QUIC_V1 && type == 0) || (version == EW_QUIC_V2 && type == 1));
	if (!initial) {
		flow->tx_captured = EW_QUIC_INITIALS_MAX;
		return;
	}
	__u32 n = pkt->payload_len > EW_CAPTURE_MAX ? EW_CAPTURE_MAX : pkt->payload_len;
	ew_capture(skb, flow, flow->tx_captured, pkt->payload_off, n, EW_DIR_OUT, 1);
	flow->tx_captured += 1;
}

/* TCP payload bytes of a segment not counted yet: what lies past the highest sequence number
 * counted so far, so that a retransmission (a segment lost under load, even on loopback) is not
 * counted twice; a SYN's data (TCP Fast Open) starts after its one sequence number. A stream
 * first seen mid-way (adopted) counts from its first segment. */
static __always_inline __u32 ew_tcp_new_bytes(const struct ew_packet *pkt, bool syn, __u32 *next,
					      __u8 *known)
{
	__u32 seq = syn ? pkt->seq + 1 : pkt->seq;
	__u32 len = pkt->payload_len;
	if (!*known) {
		*next = seq;
		*known = 1;
	}
	__s32 ahead = (__s32)(seq + len - *next);
	if (ahead <= 0)
		return 0;
	*next = seq + len;
	return (__u32)ahead < len ? (__u32)ahead : len;
}

/* --- TLS plaintext (uprobes on the TLS libraries) --------------------------------------------
 * The plaintext of a TLS write is seen where the process hands it to the library: SSL_write,
 * SSL_write_ex (libssl) and gnutls_record_send (libgnutls), attached by userspace to the host's
 * copies with a BPF cookie naming the library and the call. The library's connection object is
 * opaque here (its fd is behind SSL_get_fd, which BPF cannot call, and struct layouts vary by
 * version), so the socket is found from the write itself: a blocking library write sends its
 * record from the writing thread (tcp_sendmsg runs egress in process context), and egress below
 * notes the first outbound TCP segment of a socket the writing process owns, sent by that thread
 * while the write is in flight. The binding is kept per (process, connection object), so a later
 * write whose segments were queued (sent from softirq on an ACK) still finds its socket; when no
 * binding is known the cookie is 0 and userspace joins the write to the process's flow. */
#define EW_TLS_CALL_WRITE 0    /* SSL_write, gnutls_record_send: the return value is the count */
#define EW_TLS_CALL_WRITE_EX 1 /* SSL_write_ex: returns 1, the count is in *written */

struct ew_tls_inflight {
	__u64 object;
	__u64 buf;
	__u64 written; /* SSL_write_ex's size_t *written */
	__u64 start_ns;
	__u64 cookie;  /* set by egress: the socket the write's first segment left on */
	__u32 call;
	__u32 library;
};
EW_STATIC_ASSERT(sizeof(struct ew_tls_inflight) == 48, "ew_tls_inflight layout");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct ew_tls_inflight);
} tls_inflight SEC(".maps");

struct ew_tls_conn_key {
	__u64 object;
	__u32 tgid;
	__u32 _pad;
};
struct ew_tls_conn {
	__u64 cookie;
	__u64 offset;   /* plaintext bytes written on the connection so far */
	__u64 captured; /* plaintext bytes copied to userspace so far (bounded per connection) */
	struct ew_rate_window window; /* captures in the current second */
};
EW_STATIC_ASSERT(sizeof(struct ew_tls_conn_key) == 16, "ew_tls_conn_key layout");
EW_STATIC_ASSERT(sizeof(struct ew_tls_conn) == 40, "ew_tls_conn layout");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ew_tls_conn_key);
	__type(value, struct ew_tls_conn);
} tls_conns SEC(".maps");

/* Egress, for an outbound TCP segment with payload: bind the writing thread's library write in
 * flight to this socket (first segment wins; only a socket its own process owns). */
static __always_inline void ew_tls_bind(struct __sk_buff *skb, struct ew_flow_stats *flow)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	/* The writer's own socket; or one adopted from before the start, whose owner is unknown
	 * here (userspace finds it in /proc): the thread in a TLS write that sends on it is its
	 * user. */
	if (flow->owner_tgid && flow->owner_tgid != (__u32)(pid_tgid >> 32))
		return;
	__u32 tid = (__u32)pid_tgid;
	struct ew_tls_inflight *w = bpf_map_lookup_elem(&tls_inflight, &tid);
	if (w && !w->cookie)
		w->cookie = bpf_get_socket_cookie(skb);
}

SEC("uprobe")
int BPF_KPROBE(on_tls_write, void *object, const void *buf, __u64 len, __u64 *written)
{
	(void)len; /* the count that matters is the one the call returns */
	if (ew_is_self())
		return 0;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct ew_tls_inflight w = {
		.object = (__u64)object,
		.buf = (__u64)buf,
		.written = (__u64)written,
		.start_ns = bpf_ktime_get_ns(),
		.call = (__u32)(cookie & 0xff),
		.library = (__u32)(cookie >> 8),
	};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&tls_inflight, &tid, &w, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_tls_write_ret, long ret)
{
	(void)ctx; /* BPF_KRETPROBE's own argument: the return value is all it needs */
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct ew_tls_inflight *inflight = bpf_map_lookup_elem(&tls_inflight, &tid);
	if (!inflight)
		return 0;
	struct ew_tls_inflight w = *inflight;
	bpf_map_delete_elem(&tls_inflight, &tid);
	__u64 sent = 0;
	if (w.call == EW_TLS_CALL_WRITE_EX) {
		if (ret != 1 || !w.written || bpf_probe_read_user(&sent, sizeof(sent), (void *)w.written))
			return 0;
	} else {
		if (ret <= 0)
			return 0; /* an error or a retry (EAGAIN): nothing was written */
		sent = (__u64)ret;
	}
	struct ew_tls_conn_key key = {.object = w.object, .tgid = (__u32)(pid_tgid >> 32)};
	struct ew_tls_conn *conn = bpf_map_lookup_elem(&tls_conns, &key);
	if (!conn) {
		struct ew_tls_conn fresh = {};
		bpf_map_update_elem(&tls_conns, &key, &fresh, BPF_NOEXIST);
		conn = bpf_map_lookup_elem(&tls_conns, &key);
		if (!conn)
			return 0;
	}
	if (w.cookie)
		conn->cookie = w.cookie;
	__u64 offset = conn->offset;
	conn->offset += sent;
	if (conn->captured >= EW_PLAINTEXT_CONN_MAX)
		return 0; /* past the connection's bound: userspace sees the stream as not wholly seen */
	if (!ew_capture_allowed(&conn->window, bpf_ktime_get_ns())) {
		ew_drop(EW_REC_TLS_PLAINTEXT, EW_DROP_CAPTURE_RATE);
		return 0;
	}
	__u64 n = sent;
	if (n > EW_PLAINTEXT_MAX)
		n = EW_PLAINTEXT_MAX;
	if (n > EW_PLAINTEXT_CONN_MAX - conn->captured)
		n = EW_PLAINTEXT_CONN_MAX - conn->captured;
	struct ew_scratch *slot = ew_scratch_get(EW_REC_TLS_PLAINTEXT);
	if (!slot)
		return 0;
	struct ew_tls_plaintext *rec = (struct ew_tls_plaintext *)slot->buf;
	asm volatile("" : "+r"(n)); /* bound the very register passed to the helper */
	if (n > EW_PLAINTEXT_MAX) {
		ew_scratch_put(slot);
		return 0;
	}
	if (n && bpf_probe_read_user(rec + 1, n, (void *)w.buf)) {
		ew_drop(EW_REC_TLS_PLAINTEXT, EW_DROP_CAPTURE_READ);
		ew_scratch_put(slot);
		return 0;
	}
	conn->captured += n;
	ew_fill_header(&rec->hdr, EW_REC_TLS_PLAINTEXT, sizeof(*rec) + n);
	rec->hdr.time_ns = w.start_ns;
	rec->cookie = conn->cookie;
	rec->object = w.object;
	rec->offset = offset;
	rec->write_size = sent > 0xffffffffull ? 0xffffffffu : (__u32)sent;
	rec->data_size = n;
	rec->library = (__u8)w.library;
	rec->_pad = 0;
	ew_submit(rec, sizeof(*rec) + n);
	ew_scratch_put(slot);
	return 0;
}

static __always_inline int ew_on_packet(struct __sk_buff *skb, bool outbound)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	/* Sockets a process claimed at connect/sendmsg are tracked; accepted connections and
	 * kernel sockets never are (untracked_store). Any other socket is older than the monitor:
	 * it is adopted here, and its FLOW_START (owner unknown, socket inode) lets userspace find
	 * the owner in /proc. */
	struct ew_flow_stats *flow = bpf_sk_storage_get(&flow_store, sk, 0, 0);
	if (!flow) {
		if (bpf_sk_storage_get(&untracked_store, sk, 0, 0))
			return 1;
		__u64 inode = ew_sock_inode(sk);
		if (!inode) {
			bpf_sk_storage_get(&untracked_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			return 1;
		}
		flow = bpf_sk_storage_get(&flow_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!flow) {
			ew_drop(EW_REC_NONE, EW_DROP_FLOW_MAP_FULL);
			return 1;
		}
		flow->socket_inode = inode;
		flow->start_ns = bpf_ktime_get_ns();
	}
	if (flow->closed)
		return 1;
	struct ew_packet pkt = {};
	if (!ew_parse_packet(skb, &pkt))
		return 1;

	if (!flow->tuple.family) {
		ew_local_tuple(&flow->tuple, &pkt, outbound);
		struct ew_flow_start rec = {};
		ew_fill_header(&rec.hdr, EW_REC_FLOW_START, sizeof(rec));
		rec.hdr.pid = flow->owner_tgid;
		rec.hdr.tid = flow->owner_tid;
		rec.cookie = bpf_get_socket_cookie(skb);
		rec.tuple = flow->tuple;
		rec.owner_known = flow->owner_tgid != 0;
		rec.socket_inode = flow->socket_inode;
		ew_submit(&rec, sizeof(rec));
	}

	bool tcp = pkt.tuple.protocol == EW_PROTO_TCP;
	bool syn = tcp && (pkt.tcp_flags & 0x02);
	if (outbound) {
		flow->bytes_out += tcp ? ew_tcp_new_bytes(&pkt, syn, &flow->tx_next, &flow->tx_next_known)
				       : pkt.payload_len;
		flow->packets_out += 1;
		/* A query to port 53 entitles the socket to its answer: one datagram per query (A and
		 * AAAA in parallel are two), a stream's answers for as long as it lives. Answers to a
		 * socket that asked nothing are forged or stray, and never copied. */
		if (pkt.tuple.dport == EW_DNS_PORT && pkt.payload_len) {
			if (tcp)
				flow->dns_pending = EW_DNS_PENDING_MAX;
			else if (flow->dns_pending < EW_DNS_PENDING_MAX)
				flow->dns_pending += 1;
		}
		if (!tcp && pkt.tuple.dport != EW_DNS_PORT && pkt.payload_len &&
		    flow->tx_captured < EW_QUIC_INITIALS_MAX)
			ew_capture_quic(skb, &pkt, flow);
		if (syn) {
			flow->tx_seq0 = pkt.seq + 1;
			flow->tx_seq_known = 1;
		}
		/* One call site (the capture is inlined: two would double what the verifier walks). A
		 * SYN's data (TCP Fast Open: a ClientHello) starts after its one sequence number. */
		if (tcp && flow->tx_seq_known && pkt.payload_len) {
			__u32 first = syn ? pkt.seq + 1 : pkt.seq;
			ew_capture_stream(skb, &pkt, flow, first - flow->tx_seq0, &flow->tx_captured,
					  &flow->tx_capture_limit, &flow->tx_tunnel, EW_DIR_OUT);
		}
	} else {
		flow->bytes_in += tcp ? ew_tcp_new_bytes(&pkt, syn, &flow->rx_next, &flow->rx_next_known)
				      : pkt.payload_len;
		flow->packets_in += 1;
		bool dns = pkt.tuple.sport == EW_DNS_PORT && pkt.payload_len;
		if (dns && !flow->dns_pending) {
			ew_drop(EW_REC_FLOW_DATA, EW_DROP_DNS_UNSOLICITED);
			dns = false;
		}
		if (syn) {
			flow->rx_seq0 = pkt.seq + 1;
			flow->rx_seq_known = 1;
		} else if (dns && tcp && flow->rx_seq_known && pkt.payload_len) {
			flow->rx_capture_limit = EW_CAPTURE_HEAD_MAX;
			ew_capture_stream(skb, &pkt, flow, pkt.seq - flow->rx_seq0, &flow->rx_captured,
					  &flow->rx_capture_limit, NULL, EW_DIR_IN);
		} else if (dns && !tcp) {
			flow->dns_pending -= 1;
			__u32 n = pkt.payload_len > EW_DNS_MAX ? EW_DNS_MAX : pkt.payload_len;
			ew_capture(skb, flow, 0, pkt.payload_off, n, EW_DIR_IN, 1);
		}
	}

	__u64 now = bpf_ktime_get_ns();
	__u64 total = flow->bytes_out + flow->bytes_in;
	if (now - flow->last_update_ns >= cfg_flow_update_ns && total != flow->reported_bytes) {
		if (flow->last_update_ns)
			ew_flow_record(skb, sk, flow, EW_REC_FLOW_UPDATE);
		flow->last_update_ns = now;
		flow->reported_bytes = total;
	}
	return 1;
}

SEC("cgroup_skb/egress")
int on_egress(struct __sk_buff *skb) { return ew_on_packet(skb, true); }

SEC("cgroup_skb/ingress")
int on_ingress(struct __sk_buff *skb) { return ew_on_packet(skb, false); }

/* The TLS write binding (ew_tls_bind) is a program of its own on egress: on_egress is near the
 * verifier's budget of a million instructions, and a packet that no TLS write of its thread is
 * waiting for leaves here after one lookup. */
SEC("cgroup_skb/egress")
int on_egress_tls(struct __sk_buff *skb)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ew_tls_inflight *w = bpf_map_lookup_elem(&tls_inflight, &tid);
	if (!w || w->cookie)
		return 1;
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_TCP)
		return 1;
	struct ew_flow_stats *flow = bpf_sk_storage_get(&flow_store, sk, 0, 0);
	if (!flow || flow->closed)
		return 1;
	struct ew_packet pkt = {};
	if (!ew_parse_packet(skb, &pkt) || !pkt.payload_len)
		return 1;
	ew_tls_bind(skb, flow);
	return 1;
}

static __always_inline void ew_flow_end(struct ew_flow_stats *flow, __u64 cookie, __u64 acked,
					__u64 received)
{
	struct ew_flow_end rec = {};
	ew_fill_header(&rec.hdr, EW_REC_FLOW_END, sizeof(rec));
	rec.hdr.pid = flow->owner_tgid;
	rec.hdr.tid = flow->owner_tid;
	rec.cookie = cookie;
	rec.tuple = flow->tuple;
	rec.bytes_out = flow->bytes_out;
	rec.bytes_in = flow->bytes_in;
	rec.tcp_bytes_acked = acked;
	rec.tcp_bytes_received = received;
	ew_submit(&rec, sizeof(rec));
}

/* TCP ends here (after the FIN exchange, so every byte is counted), whatever closed it. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	(void)ctx; /* BPF_PROG's own argument, and the old state: not needed */
	(void)oldstate;
	if (newstate == EW_TCP_SYN_RECV) {
		/* A passive open (the child of a listener): never adopted as an unclaimed socket.
		 * A simultaneous open also passes here, but its socket is claimed (flow_store). */
		bpf_sk_storage_get(&untracked_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		return 0;
	}
	if (newstate != EW_TCP_CLOSE || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	struct ew_flow_stats *flow = bpf_sk_storage_get(&flow_store, sk, 0, 0);
	if (!flow || flow->closed)
		return 0;
	if (flow->tuple.family) {
		/* a typed (BTF) view of the TCP socket: direct loads, no probe-read per field */
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
		if (tp)
			ew_flow_end(flow, bpf_get_socket_cookie(sk), tp->bytes_acked, tp->bytes_received);
		else
			ew_flow_end(flow, bpf_get_socket_cookie(sk), 0, 0);
	}
	/* The storage is kept, marked closed, and goes with the socket (deleting it and creating an
	 * untracked mark instead cost a free and an allocation per connection). Packets can still
	 * leave a closed socket: tcp_close with unread data (a client exiting with a server's bytes
	 * unread, typical of Go programs that exit with keep-alive connections open) sets TCP_CLOSE
	 * first and then sends the RST, while the process still holds the file. The mark keeps
	 * egress from taking that RST for a socket older than the monitor and adopting it: a second
	 * flow with no owner (pid 0). A socket connected again after a failed connect starts over at
	 * its claim. */
	flow->closed = 1;
	return 0;
}

/* Other sockets (UDP) end when the process releases them. */
SEC("cgroup/sock_release")
int on_sock_release(struct bpf_sock *sk)
{
	if (sk->protocol == IPPROTO_TCP)
		return 1;
	struct ew_flow_stats *flow = bpf_sk_storage_get(&flow_store, sk, 0, 0);
	if (flow && flow->tuple.family)
		ew_flow_end(flow, bpf_get_socket_cookie(sk), 0, 0);
	return 1;
}
