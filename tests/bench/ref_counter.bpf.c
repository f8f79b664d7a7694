/* The floor for scripts/bench: one bare counting program on one syscall tracepoint, the least a
 * syscall-tracepoint monitor can cost (its getppid ratio is the slow-path tax alone). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tp/syscalls/sys_enter_openat")
int count_openat(void *ctx)
{
	__u32 zero = 0;
	__u64 *value = bpf_map_lookup_elem(&counts, &zero);
	if (value)
		*value += 1;
	return 0;
}
