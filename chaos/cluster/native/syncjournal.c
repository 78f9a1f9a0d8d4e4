/* syncjournal: an LD_PRELOAD shim that remembers, per file, how much of it the broker made durable.
 *
 * On every successful fsync(2)/fdatasync(2) of a regular file it records the file's size *before* the
 * call (everything written before the call is on disk once it returns) in a slot file named after the
 * path, under $BC_SYNC_JOURNAL. A simulated power loss (chaos/faults: power-loss-*) kills the node and cuts
 * each recorded file back to that size: the unsynced tail a real crash loses with the page cache.
 * Files the broker never syncs are left whole. Without $BC_SYNC_JOURNAL the shim does nothing.
 *
 * $BC_SYNC_DELAY_MS (optional) makes each fsync/fdatasync of a regular file take that much longer: a busy
 * disk, under which a broker's own choices show (Redis, appendfsync everysec: it acknowledges writes it
 * has postponed writing while a background fsync runs).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* An empty slot "i<inode>" per file ever synced, whatever it is called now: a file synced under one name
 * and renamed (a temp file made durable, then moved into place) is not one the broker never synced. */
static void remember_inode(const char *dir, ino_t inode) {
    char slot[PATH_MAX];
    snprintf(slot, sizeof slot, "%s/i%016llx", dir, (unsigned long long)inode);
    int out = open(slot, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (out >= 0) close(out);
}

/* "<20-digit size> <path>\n", overwritten in place: one small file per synced path. */
static void remember(int fd, off_t size, ino_t inode) {
    const char *dir = getenv("BC_SYNC_JOURNAL");
    if (dir == NULL || size < 0) return;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = '\0';
    char slot[PATH_MAX];
    snprintf(slot, sizeof slot, "%s/%016llx", dir, (unsigned long long)fnv1a(path));
    char line[PATH_MAX + 32];
    int len = snprintf(line, sizeof line, "%020lld %s\n", (long long)size, path);
    int saved = errno;
    int out = open(slot, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (out < 0 && errno == ENOENT) {
        mkdir(dir, 01777);
        out = open(slot, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    }
    if (out >= 0) {
        if (pwrite(out, line, (size_t)len, 0) == len) (void)ftruncate(out, len);
        close(out);
        remember_inode(dir, inode);
    }
    errno = saved;
}

static void like_a_busy_disk(void) {
    const char *delay = getenv("BC_SYNC_DELAY_MS");
    long ms = delay == NULL ? 0 : strtol(delay, NULL, 10);
    if (ms > 0) usleep((useconds_t)(ms * 1000));
}

static int synced(const char *name, sync_fn *real, int fd) {
    if (*real == NULL) *real = (sync_fn)dlsym(RTLD_NEXT, name);
    struct stat st;
    off_t size = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? st.st_size : -1;
    if (size >= 0) like_a_busy_disk();
    int result = (*real)(fd);
    if (result == 0 && size >= 0) remember(fd, size, st.st_ino);
    return result;
}

int fsync(int fd) {
    static sync_fn real;
    return synced("fsync", &real, fd);
}

int fdatasync(int fd) {
    static sync_fn real;
    return synced("fdatasync", &real, fd);
}
