/* handle_open PATH: opens PATH with no path on the open itself (name_to_handle_at, then
 * open_by_handle_at on a descriptor of its directory) and copies the file to stdout. The e2e
 * test of a file opened by handle: the monitor must name it from what the kernel opened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: handle_open PATH\n");
		return 2;
	}
	struct file_handle *handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
	if (!handle)
		return 1;
	handle->handle_bytes = MAX_HANDLE_SZ;
	int mount_id;
	if (name_to_handle_at(AT_FDCWD, argv[1], handle, &mount_id, 0) != 0) {
		fprintf(stderr, "name_to_handle_at: %s\n", strerror(errno));
		return 1;
	}
	char *copy = strdup(argv[1]);
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
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (write(1, buf, n) != n) {
			fprintf(stderr, "write: %s\n", strerror(errno));
			return 1;
		}
	}
	if (n < 0) {
		fprintf(stderr, "read: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
