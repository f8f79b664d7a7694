/* busy_shm PATH OUT: a System V segment attached while another thread of each process keeps its
 * address space's lock busy (mmap and munmap in a loop, as an allocator's thread does).
 *
 * The kernel side finds what an attach mapped with bpf_find_vma, which only try-locks the
 * address space: a lookup that finds the lock taken has to be retried, not lost. Both sides
 * attach while their churn runs: a receiver in a session of its own, then this process, which
 * stops its churn, reads PATH and copies it into the segment (memcpy only); the receiver writes
 * what appeared there to OUT. Exit status 0 when OUT holds PATH's bytes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER 8 /* the length of what follows, once it is whole */

static volatile int churning = 1;

static void pause_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* Takes the address space's lock for writing, over and over, until told to stop. */
static void *churn(void *unused)
{
	(void)unused;
	while (__atomic_load_n(&churning, __ATOMIC_RELAXED)) {
		void *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, 1 << 16);
	}
	return NULL;
}

#define CHURNS 2 /* two threads: one of them, as a rule, waits for the lock the other holds */

/* Attaches `segment` while churn threads run; the churn stops after. */
static char *attach_busy(int segment)
{
	pthread_t threads[CHURNS];
	__atomic_store_n(&churning, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < CHURNS; ++i)
		if (pthread_create(&threads[i], NULL, churn, NULL) != 0)
			return NULL;
	pause_ms(20); /* the churn is under way */
	char *address = shmat(segment, NULL, 0);
	pause_ms(20);
	__atomic_store_n(&churning, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < CHURNS; ++i)
		pthread_join(threads[i], NULL);
	return address == (void *)-1 ? NULL : address;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: busy_shm PATH OUT\n");
		return 64;
	}
	struct stat st;
	if (stat(argv[1], &st) != 0 || st.st_size <= 0) {
		perror("busy_shm: stat");
		return 1;
	}
	long size = st.st_size;
	int segment = shmget(IPC_PRIVATE, HEADER + size, IPC_CREAT | 0600);
	if (segment < 0) {
		perror("busy_shm: shmget");
		return 1;
	}
	pid_t receiver = fork();
	if (receiver == 0) {
		setsid();
		char *view = attach_busy(segment);
		if (!view)
			_exit(2);
		for (int i = 0; i < 2000 && __atomic_load_n((volatile long *)view, __ATOMIC_ACQUIRE) != size; ++i)
			pause_ms(10);
		if (*(volatile long *)view != size)
			_exit(3);
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		_exit(fd >= 0 && write(fd, view + HEADER, size) == size ? 0 : 4);
	}
	char *view = attach_busy(segment);
	int status = 1;
	if (view) {
		pause_ms(300); /* the receiver attached */
		char *bytes = malloc(size);
		int fd = open(argv[1], O_RDONLY);
		if (bytes && fd >= 0 && read(fd, bytes, size) == size) {
			memcpy(view + HEADER, bytes, size);
			__atomic_store_n((volatile long *)view, size, __ATOMIC_RELEASE);
		}
		if (fd >= 0)
			close(fd);
		free(bytes);
	}
	if (waitpid(receiver, &status, 0) == receiver && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		status = 0;
	else
		fprintf(stderr, "busy_shm: the receiver failed\n");
	shmctl(segment, IPC_RMID, NULL);
	return status ? 1 : 0;
}
