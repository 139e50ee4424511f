/* The cost a make or ninja user pays per step: spawn `/bin/true` N times,
 * one after the other (fork, exec, wait), as a build tool runs a command.
 *
 *     spawn_true N
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("spawn_true: fork");
            return 1;
        }
        if (pid == 0) {
            execl("/bin/true", "true", (char *)0);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "spawn_true: /bin/true failed\n");
            return 1;
        }
    }
    return 0;
}
