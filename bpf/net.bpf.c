/* Network telemetry from cgroup hooks (no syscall tracepoint, so no slow-path tax): the owner of
 * each socket at connect/sendmsg, payload bytes per socket in both directions at the packet
 * level (every send path, io_uring included), the head of each outbound stream (TLS ClientHello
 * or HTTP request head) and DNS answers for userspace to parse, and the close with the kernel's
 * own TCP counters. */
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

struct ew_rate_window {
	__u64 start_ns;
	__u64 used;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ew_rate_window);
} capture_rate SEC(".maps");

/* Whether one more capture fits the socket's and this CPU's windows (and takes it). */
static __always_inline bool ew_capture_allowed(struct ew_flow_stats *flow)
{
	__u64 now = bpf_ktime_get_ns();
	if (now - flow->capture_window_ns >= 1000000000ull) {
		flow->capture_window_ns = now;
		flow->capture_used = 0;
	}
	if (flow->capture_used >= cfg_capture_socket_per_s)
		return false;
	__u32 zero = 0;
	struct ew_rate_window *cpu = bpf_map_lookup_elem(&capture_rate, &zero);
	if (!cpu)
		return false;
	if (now - cpu->start_ns >= 1000000000ull) {
		cpu->start_ns = now;
		cpu->used = 0;
	}
	if (cpu->used >= cfg_capture_cpu_per_s)
		return false;
	cpu->used += 1;
	flow->capture_used += 1;
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
		pkt->tuple.protocol = ip6.nexthdr; /* extension headers: not followed */
		__builtin_memcpy(pkt->tuple.saddr, &ip6.saddr, 16);
		__builtin_memcpy(pkt->tuple.daddr, &ip6.daddr, 16);
		l4_off = sizeof(ip6);
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
	if (!ew_capture_allowed(flow)) {
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

/* TCP head capture: the first TLS record when the stream starts with a handshake record, the
 * first EW_CAPTURE_HEAD_MAX bytes when it starts like an HTTP request (or a DNS-over-TCP answer
 * inbound), and nothing at all otherwise: the head of any other stream is not parsed, so it is
 * not copied (that copy and its record were most of the cost of a plain TCP connection). */
static __always_inline void ew_capture_stream(struct __sk_buff *skb, const struct ew_packet *pkt,
					      struct ew_flow_stats *flow, __u32 seq0,
					      __u32 *captured, __u32 *limit, __u8 direction)
{
	__u32 offset = pkt->seq - seq0;
	if (offset >= EW_CAPTURE_TLS_MAX || offset < *captured)
		return; /* past the head, or a retransmission of what was sent already */
	if (offset == 0 && *limit == 0) {
		__u8 head[EW_HTTP_SNIFF] = {};
		__u64 len = pkt->payload_len;
		asm volatile("" : "+r"(len)); /* bound the register passed to the helper (as in ew_capture) */
		if (len > EW_HTTP_SNIFF)
			len = EW_HTTP_SNIFF;
		if (len < 1 || bpf_skb_load_bytes(skb, pkt->payload_off, head, len))
			return;
		if (head[0] == EW_TLS_HANDSHAKE && len >= 9) {
			__u32 record_len = ((__u32)head[3] << 8) | head[4];
			__u32 hello_len = ((__u32)head[6] << 16) | ((__u32)head[7] << 8) | head[8];
			*limit = 5 + record_len;
			/* A ClientHello split over several records: its length, plus room for up to
			 * EW_TLS_RECORDS_MAX record headers, and not a byte of what follows more. */
			if (hello_len + 4 > record_len)
				*limit = hello_len + 4 + 5 * EW_TLS_RECORDS_MAX;
		} else if (head[0] == EW_TLS_HANDSHAKE || ew_maybe_http(head, len)) {
			*limit = EW_CAPTURE_HEAD_MAX;
		} else {
			*captured = EW_CAPTURE_TLS_MAX; /* not a head we parse: this stream is done */
			return;
		}
		if (*limit > EW_CAPTURE_TLS_MAX)
			*limit = EW_CAPTURE_TLS_MAX;
	}
	if (*limit == 0 || offset >= *limit)
		return;
	__u32 n = *limit - offset;
	if (n > pkt->payload_len)
		n = pkt->payload_len;
	ew_capture(skb, flow, offset, pkt->payload_off, n, direction, 0);
	*captured = offset + n;
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
		if (syn) {
			flow->tx_seq0 = pkt.seq + 1;
			flow->tx_seq_known = 1;
		} else if (tcp && flow->tx_seq_known && pkt.payload_len) {
			ew_capture_stream(skb, &pkt, flow, flow->tx_seq0, &flow->tx_captured,
					  &flow->tx_capture_limit, EW_DIR_OUT);
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
			ew_capture_stream(skb, &pkt, flow, flow->rx_seq0, &flow->rx_captured,
					  &flow->rx_capture_limit, EW_DIR_IN);
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
