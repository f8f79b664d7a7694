// spawn_idle N: starts N live processes (fork + exec of itself with an argv, so a monitor sees a
// real exec with arguments for each), prints "ready N" once all of them run, then waits until
// stdin closes or SIGTERM arrives and takes them all down. Used by scripts/bench-userspace for
// the monitor's memory with many live processes.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int idle_child(void)
{
    // Dies with its parent even if the parent is killed without cleaning up.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 0;
    for (;;) pause();
}

int main(int argc, char** argv)
{
    if (argc == 4 && strcmp(argv[1], "--idle") == 0) return idle_child();
    if (argc != 2) {
        fprintf(stderr, "usage: spawn_idle N\n");
        return 2;
    }
    long count = strtol(argv[1], NULL, 10);
    if (count <= 0) return 2;
    // One process group for all of us: the caller can signal every child at once.
    setpgid(0, 0);
    signal(SIGTERM, SIG_IGN);  // handled below, after the children are gone
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGTERM, SIG_DFL);

    pid_t* kids = calloc((size_t)count, sizeof(pid_t));
    if (!kids) return 1;
    long started = 0;
    for (long i = 0; i < count; ++i) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "spawn_idle: fork %ld: %s\n", i, strerror(errno));
            break;
        }
        if (pid == 0) {
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            char index[24];
            snprintf(index, sizeof index, "%ld", i);
            char* child_argv[] = {argv[0], "--idle", index, "worker-with-a-realistic-argument", NULL};
            execv("/proc/self/exe", child_argv);
            _exit(127);
        }
        kids[started++] = pid;
    }
    printf("ready %ld\n", started);
    fflush(stdout);

    // Stop on SIGTERM or when the caller closes our stdin.
    int status = started == count ? 0 : 1;
    int sig = 0;
    pid_t waiter = fork();
    if (waiter == 0) {
        char buf[64];
        while (read(STDIN_FILENO, buf, sizeof buf) > 0) {}
        kill(getppid(), SIGTERM);
        _exit(0);
    }
    sigwait(&set, &sig);
    for (long i = 0; i < started; ++i) kill(kids[i], SIGKILL);
    for (long i = 0; i < started; ++i) waitpid(kids[i], NULL, 0);
    if (waiter > 0) {
        kill(waiter, SIGKILL);
        waitpid(waiter, NULL, 0);
    }
    free(kids);
    return status;
}
