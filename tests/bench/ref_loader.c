/* Loads tests/bench/ref_counter.bpf.o, attaches it, prints "attached", and on SIGINT/SIGTERM
 * prints the number of openat calls it counted (scripts/bench checks it is not zero, so the
 * reference cannot pass without having run). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ref_loader ref_counter.bpf.o\n");
		return 2;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "ref_loader: cannot load %s\n", argv[1]);
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "count_openat");
	struct bpf_link *link = prog ? bpf_program__attach(prog) : NULL;
	if (!link) {
		fprintf(stderr, "ref_loader: cannot attach tp/syscalls/sys_enter_openat\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached\n");
	fflush(stdout);
	while (!stop)
		sleep(1); /* a signal cuts the sleep short */

	int ncpus = libbpf_num_possible_cpus();
	__u64 *values = calloc(ncpus, sizeof(*values));
	__u32 zero = 0;
	__u64 total = 0;
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "counts");
	if (!values || !map || bpf_map_lookup_elem(bpf_map__fd(map), &zero, values)) {
		fprintf(stderr, "ref_loader: cannot read the counter\n");
		return 1;
	}
	for (int i = 0; i < ncpus; i++)
		total += values[i];
	printf("counted %llu\n", (unsigned long long)total);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
