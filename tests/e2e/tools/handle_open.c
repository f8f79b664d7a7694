/* handle_open [--mmap] PATH: opens PATH with no path on the open itself (name_to_handle_at, then
 * open_by_handle_at on a descriptor of its directory) and copies the file to stdout, with read(2)
 * or (--mmap) by writing out a mapping of it, no read at all. The e2e test of a file opened by
 * handle: the monitor must name it from what the kernel opened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t done = write(1, buf, n);
		if (done <= 0) {
			fprintf(stderr, "write: %s\n", strerror(errno));
			return 1;
		}
		buf += done;
		n -= (size_t)done;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int mapped = argc == 3 && strcmp(argv[1], "--mmap") == 0;
	if (argc != 2 && !mapped) {
		fprintf(stderr, "usage: handle_open [--mmap] PATH\n");
		return 2;
	}
	const char *path = argv[argc - 1];
	struct file_handle *handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
	if (!handle)
		return 1;
	handle->handle_bytes = MAX_HANDLE_SZ;
	int mount_id;
	if (name_to_handle_at(AT_FDCWD, path, handle, &mount_id, 0) != 0) {
		fprintf(stderr, "name_to_handle_at: %s\n", strerror(errno));
		return 1;
	}
	char *copy = strdup(path);
	int mount_fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (mount_fd < 0) {
		fprintf(stderr, "open directory: %s\n", strerror(errno));
		return 1;
	}
	int fd = open_by_handle_at(mount_fd, handle, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "open_by_handle_at: %s\n", strerror(errno));
		return 1;
	}
	if (mapped) {
		struct stat st;
		if (fstat(fd, &st) != 0 || st.st_size == 0) {
			fprintf(stderr, "fstat: %s\n", strerror(errno));
			return 1;
		}
		char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			fprintf(stderr, "mmap: %s\n", strerror(errno));
			return 1;
		}
		return write_all(map, (size_t)st.st_size);
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (write_all(buf, (size_t)n))
			return 1;
	}
	if (n < 0) {
		fprintf(stderr, "read: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
