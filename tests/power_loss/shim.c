/*
 * Power-loss simulation, part 1: an LD_PRELOAD shim that records what a process made durable.
 *
 * Loaded into a `fjord broker` by the power-loss tests (tests/src/power_loss.rs compiles it with
 * `cc -shared -fPIC`). For files under the watched directory it keeps a journal of what the
 * process did to the namespace and a "durable image" of each file's data:
 *
 *   - fsync/fdatasync of a regular file copies the file's current bytes to a shadow file
 *     (`<state>/shadow/<id>`, one per file object, keyed by an id the shim gives each file it
 *     sees created) and logs `D`; the real fsync is skipped (the shadow is what counts, and
 *     the test runs faster) unless POWER_LOSS_REAL_FSYNC=1.
 *   - fsync/fdatasync of a directory logs `S`, a barrier: namespace operations before it are
 *     durable.
 *   - sync()/syncfs() snapshot every watched file, then log a barrier.
 *   - file creation (open/openat/creat with O_CREAT), O_TRUNC, truncate/ftruncate, mkdir,
 *     rmdir, unlink/unlinkat and rename/renameat/renameat2 are logged in the order they
 *     happened (one global lock around the call and its journal line).
 *   - anything the model cannot represent (hard links, symlinks, O_SYNC/O_DSYNC, O_TMPFILE,
 *     RENAME_EXCHANGE, renames across the watched directory's edge, files that existed before
 *     the shim) is logged as `!` and the power cut refuses to run.
 *
 * sync_file_range is not intercepted: it makes nothing durable (no metadata, no disk cache
 * flush). Writes are not intercepted either: the power cut compares the files as they are
 * after SIGKILL (the page cache) with their shadows.
 *
 * What is NOT seen: system calls made without glibc (e.g. the `rustix` crate's linux_raw
 * backend, which Fjord uses only for fallocate; fallocate only extends a file with zeros, which
 * the model treats like any unsynced growth), io_uring, and mmap writes.
 *
 * Environment: POWER_LOSS_WATCH (the directory to watch; must exist and be empty when the
 * process starts) and POWER_LOSS_STATE (a directory outside it for the journal and shadows).
 * Without both, every call passes straight through.
 *
 * Journal lines (tab-separated; paths relative to the watched directory, "." for itself):
 *   V 1 <watched dir>          header
 *   C <id> <ino> <path>        a regular file was created
 *   T <id> <old> <new>         a file's size was cut/set from <old> to <new> bytes
 *   D <id> <size>              fsync/fdatasync: shadow/<id> holds the file's bytes now
 *   S <path>                   directory fsync (or sync/syncfs): a barrier
 *   M <path> / X <path>        mkdir / rmdir
 *   U <path>                   unlink
 *   R <from> <to>              rename (file or directory)
 *   ! <message>                an operation the model does not support
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int enabled;
static int real_fsync_wanted;
static char watch[PATH_MAX];
static size_t watch_len;
static char state[PATH_MAX];
static int journal_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The real functions, looked up lazily (a constructor of another library may call us before
 * ours has run). */
static int (*real_openat)(int, const char *, int, ...);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdirat)(int, const char *, mode_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_symlinkat)(const char *, int, const char *);

static pthread_once_t resolved = PTHREAD_ONCE_INIT;

#define RESOLVE(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)
static void resolve_all(void) {
    RESOLVE(openat);
    RESOLVE(fsync);
    RESOLVE(fdatasync);
    RESOLVE(sync);
    RESOLVE(syncfs);
    RESOLVE(renameat2);
    RESOLVE(unlinkat);
    RESOLVE(mkdirat);
    RESOLVE(ftruncate);
    RESOLVE(truncate);
    RESOLVE(linkat);
    RESOLVE(symlinkat);
}

#define REAL(name) (pthread_once(&resolved, resolve_all), real_##name)

static void jlog(const char *fmt, ...) {
    char line[3 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || journal_fd < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* One write per line on an O_APPEND descriptor: a SIGKILL cannot split it. */
    ssize_t ignored = write(journal_fd, line, (size_t)n);
    (void)ignored;
}

/* ---- paths ---------------------------------------------------------------------------- */

/* Collapses "//", "/./" and "/../" in an absolute path, in place. */
static void normalize(char *path) {
    char out[PATH_MAX];
    size_t len = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else if (len + 1 + n < sizeof out) {
            out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
        }
        p += n;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = 0;
    memcpy(path, out, len + 1);
}

/* The absolute path `dirfd`/`path` names, with its parent directory resolved through symlinks
 * (the last component is kept as is: it may not exist, or be a symlink itself). 0 on success. */
static int absolute(int dirfd, const char *path, char *out) {
    char joined[2 * PATH_MAX];
    if (!path)
        return -1;
    if (path[0] == '/') {
        snprintf(joined, sizeof joined, "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base))
                return -1;
        } else {
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(proc, base, sizeof base - 1);
            if (n < 0)
                return -1;
            base[n] = 0;
        }
        snprintf(joined, sizeof joined, "%s/%s", base, path);
    }
    if (strlen(joined) >= PATH_MAX)
        return -1;
    normalize(joined);
    char *slash = strrchr(joined, '/');
    if (slash && slash != joined) {
        *slash = 0;
        char parent[PATH_MAX];
        if (realpath(joined, parent)) {
            *slash = '/';
            char full[2 * PATH_MAX];
            snprintf(full, sizeof full, "%s%s", strcmp(parent, "/") == 0 ? "" : parent, slash);
            if (strlen(full) >= PATH_MAX)
                return -1;
            strcpy(joined, full);
        } else {
            *slash = '/';
        }
    }
    strcpy(out, joined);
    return 0;
}

/* The path relative to the watched directory ("." for the directory itself), or NULL when
 * it lies outside. */
static const char *relative(const char *abs) {
    if (strncmp(abs, watch, watch_len) != 0)
        return NULL;
    if (abs[watch_len] == 0)
        return ".";
    if (abs[watch_len] != '/')
        return NULL;
    return abs + watch_len + 1;
}

/* The watched-relative path of `dirfd`/`path`, written into `buf`; NULL when outside (or when
 * the shim is off). Paths holding a tab or newline would break the journal: refused loudly. */
static const char *watched(int dirfd, const char *path, char *buf) {
    if (!enabled || absolute(dirfd, path, buf) != 0)
        return NULL;
    const char *rel = relative(buf);
    if (rel && strpbrk(rel, "\t\n")) {
        jlog("!\tpath with a tab or newline: %s", rel);
        return NULL;
    }
    return rel;
}

/* ---- file objects ---------------------------------------------------------------------- */

/* File objects: every regular file the shim sees created gets an id, kept in
 * <state>/objects/<dev>-<ino> so that every process of a session (a shell script's commands,
 * say) shares them. An inode number reused after a deletion becomes a new object. The id is
 * the journal's length when the file was created: unique, and increasing. */
static void object_path(dev_t dev, ino_t ino, char *out, size_t len) {
    snprintf(out, len, "%s/objects/%llu-%llu", state, (unsigned long long)dev, (unsigned long long)ino);
}

static uint64_t find_object(dev_t dev, ino_t ino) {
    char path[PATH_MAX + 96], text[32];
    object_path(dev, ino, path, sizeof path);
    int fd = REAL(openat)(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = 0;
    return strtoull(text, NULL, 10);
}

static uint64_t new_object(dev_t dev, ino_t ino) {
    struct stat js;
    if (fstat(journal_fd, &js) != 0)
        return 0;
    uint64_t id = (uint64_t)js.st_size + 1;
    char path[PATH_MAX + 96], text[32];
    object_path(dev, ino, path, sizeof path);
    int fd = REAL(openat)(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    int n = snprintf(text, sizeof text, "%llu", (unsigned long long)id);
    ssize_t wrote = write(fd, text, (size_t)n);
    close(fd);
    return wrote == n ? id : 0;
}

/* The shim's lock: one thread of one process at a time, so the journal's order is the
 * order in which the operations happened. */
static void lock_all(void) {
    pthread_mutex_lock(&lock);
    flock(journal_fd, LOCK_EX);
}

static void unlock_all(void) {
    flock(journal_fd, LOCK_UN);
    pthread_mutex_unlock(&lock);
}

static uint64_t object_of_fd(int fd, struct stat *st) {
    if (fstat(fd, st) != 0)
        return 0;
    return find_object(st->st_dev, st->st_ino);
}

/* Copies the bytes of the file open as `fd` to shadow/<id>, through a fresh descriptor (so
 * the caller's file offset does not move) and skipping holes (preallocated, never written
 * space reads as zeros and is left as holes). 0 on success. */
static int snapshot(int fd, uint64_t id, off_t *size_out) {
    char proc[64], tmp[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int src = REAL(openat)(AT_FDCWD, proc, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return -1;
    struct stat st;
    if (fstat(src, &st) != 0) {
        close(src);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/shadow/%llu.tmp", state, (unsigned long long)id);
    snprintf(dst, sizeof dst, "%s/shadow/%llu", state, (unsigned long long)id);
    int out = REAL(openat)(AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(src);
        return -1;
    }
    static char buf[1 << 16]; /* the shim's lock is held */
    int ok = 1;
    off_t pos = 0, size = st.st_size;
    while (ok && pos < size) {
        off_t data = lseek(src, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break; /* only a hole is left */
            data = pos; /* SEEK_DATA unsupported: copy everything */
        }
        if (data >= size)
            break;
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = size;
        if (hole <= data)
            hole = size;
        for (off_t at = data; ok && at < hole;) {
            size_t want = (size_t)(hole - at) < sizeof buf ? (size_t)(hole - at) : sizeof buf;
            ssize_t got = pread(src, buf, want, at);
            if (got <= 0) {
                /* The file shrank meanwhile: the rest reads as nothing. */
                hole = at;
                size = at;
                break;
            }
            if (pwrite(out, buf, (size_t)got, at) != got)
                ok = 0;
            at += got;
        }
        pos = hole;
    }
    if (ok && REAL(ftruncate)(out, size) != 0)
        ok = 0;
    close(src);
    if (close(out) != 0)
        ok = 0;
    if (!ok || REAL(renameat2)(AT_FDCWD, tmp, AT_FDCWD, dst, 0) != 0)
        return -1;
    *size_out = size;
    return 0;
}

/* The watched-relative path of the file open as `fd` (a deleted file's carries " (deleted)",
 * which does not matter here), or NULL when it lies outside. */
static const char *fd_watched(int fd, char *buf) {
    if (!enabled)
        return NULL;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, buf, PATH_MAX - 1);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    return relative(buf);
}

/* fsync/fdatasync of `fd`: 1 when the shim handled it (a watched file or directory). */
static int record_sync(int fd) {
    char buf[PATH_MAX];
    const char *rel = fd_watched(fd, buf);
    struct stat st;
    if (!rel || fstat(fd, &st) != 0)
        return 0;
    lock_all();
    if (S_ISDIR(st.st_mode)) {
        jlog("S\t%s", rel);
    } else if (S_ISREG(st.st_mode)) {
        uint64_t id = find_object(st.st_dev, st.st_ino);
        off_t size = 0;
        if (!id)
            jlog("!\tfsync of a file the shim did not see created: %s", rel);
        else if (snapshot(fd, id, &size) == 0)
            jlog("D\t%llu\t%lld", (unsigned long long)id, (long long)size);
        else
            jlog("!\tcould not copy %s to its shadow: %s", rel, strerror(errno));
    }
    unlock_all();
    return 1;
}

/* sync()/syncfs(): every watched file is durable, and so is the namespace. */
static void snapshot_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            snapshot_tree(path);
        } else if (S_ISREG(st.st_mode)) {
            uint64_t id = find_object(st.st_dev, st.st_ino);
            int fd = REAL(openat)(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
            off_t size = 0;
            if (id && fd >= 0 && snapshot(fd, id, &size) == 0)
                jlog("D\t%llu\t%lld", (unsigned long long)id, (long long)size);
            else if (!id)
                jlog("!\tsync of a file the shim did not see created: %s", relative(path));
            if (fd >= 0)
                close(fd);
        }
    }
    closedir(d);
}

static void record_global_sync(void) {
    if (!enabled)
        return;
    lock_all();
    snapshot_tree(watch);
    jlog("S\t.");
    unlock_all();
}

/* ---- set-up ------------------------------------------------------------------------------ */

__attribute__((constructor)) static void power_loss_init(void) {
    const char *w = getenv("POWER_LOSS_WATCH");
    const char *s = getenv("POWER_LOSS_STATE");
    if (!w || !s || !*w || !*s)
        return;
    if (!realpath(w, watch))
        return;
    watch_len = strlen(watch);
    snprintf(state, sizeof state, "%s", s);
    real_fsync_wanted = getenv("POWER_LOSS_REAL_FSYNC") && strcmp(getenv("POWER_LOSS_REAL_FSYNC"), "1") == 0;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/shadow", state);
    REAL(mkdirat)(AT_FDCWD, state, 0755);
    REAL(mkdirat)(AT_FDCWD, path, 0755);
    snprintf(path, sizeof path, "%s/objects", state);
    REAL(mkdirat)(AT_FDCWD, path, 0755);
    snprintf(path, sizeof path, "%s/journal", state);
    /* The first process of a session creates the journal; later ones (a script's commands)
     * append to it. */
    int first = 1;
    journal_fd = REAL(openat)(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (journal_fd < 0 && errno == EEXIST) {
        first = 0;
        journal_fd = REAL(openat)(AT_FDCWD, path, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    if (journal_fd < 0)
        return;
    enabled = 1;
    if (!first)
        return;
    jlog("V\t1\t%s", watch);
    DIR *d = opendir(watch);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                jlog("!\tthe watched directory was not empty at start (%s)", e->d_name);
                break;
            }
        closedir(d);
    }
}

/* ---- intercepted calls ------------------------------------------------------------------- */

static int do_openat(int dirfd, const char *path, int flags, mode_t mode) {
    /* Opening without creating or truncating changes nothing the model tracks. */
    if (!enabled || !(flags & (O_CREAT | O_TRUNC)))
        return REAL(openat)(dirfd, path, flags, mode);
    char buf[PATH_MAX];
    const char *rel = watched(dirfd, path, buf);
    if (!rel)
        return REAL(openat)(dirfd, path, flags, mode);
    lock_all();
    if ((flags & O_TMPFILE) == O_TMPFILE)
        jlog("!\tO_TMPFILE under %s", rel);
    if (flags & (O_SYNC | O_DSYNC))
        jlog("!\tO_SYNC/O_DSYNC open of %s", rel);
    struct stat before;
    int existed = fstatat(dirfd, path, &before, AT_SYMLINK_NOFOLLOW) == 0;
    int fd = REAL(openat)(dirfd, path, flags, mode);
    int err = errno;
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            uint64_t known = find_object(st.st_dev, st.st_ino);
            if (!existed) {
                uint64_t id = new_object(st.st_dev, st.st_ino);
                jlog("C\t%llu\t%llu\t%s", (unsigned long long)id, (unsigned long long)st.st_ino, rel);
            } else if (!known) {
                jlog("!\topen of a file the shim did not see created: %s", rel);
            } else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
                jlog("T\t%llu\t%lld\t0", (unsigned long long)known, (long long)before.st_size);
            }
        }
    }
    unlock_all();
    errno = err;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        return (mode_t)va_arg(ap, int);
    return 0;
}

int open(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode) {
    return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode) {
    return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int fsync(int fd) {
    if (enabled && record_sync(fd) && !real_fsync_wanted)
        return 0;
    return REAL(fsync)(fd);
}

int fdatasync(int fd) {
    if (enabled && record_sync(fd) && !real_fsync_wanted)
        return 0;
    return REAL(fdatasync)(fd);
}

void sync(void) {
    record_global_sync();
    REAL(sync)();
}

int syncfs(int fd) {
    record_global_sync();
    return REAL(syncfs)(fd);
}

static int do_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                        unsigned int flags) {
    char a[PATH_MAX], b[PATH_MAX];
    const char *from = watched(olddirfd, oldpath, a);
    const char *to = watched(newdirfd, newpath, b);
    if (!from && !to)
        return REAL(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
    lock_all();
    int rc = REAL(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
    int err = errno;
    if (rc == 0) {
        if (flags & RENAME_EXCHANGE)
            jlog("!\tRENAME_EXCHANGE of %s and %s", from ? from : a, to ? to : b);
        else if (from && to)
            jlog("R\t%s\t%s", from, to);
        else
            jlog("!\trename across the watched directory's edge: %s -> %s", a, b);
    }
    unlock_all();
    errno = err;
    return rc;
}

int rename(const char *oldpath, const char *newpath) {
    return do_renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    return do_renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags) {
    return do_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

static int do_unlinkat(int dirfd, const char *path, int flags) {
    char buf[PATH_MAX];
    const char *rel = watched(dirfd, path, buf);
    if (!rel)
        return REAL(unlinkat)(dirfd, path, flags);
    lock_all();
    int rc = REAL(unlinkat)(dirfd, path, flags);
    int err = errno;
    if (rc == 0)
        jlog("%s\t%s", (flags & AT_REMOVEDIR) ? "X" : "U", rel);
    unlock_all();
    errno = err;
    return rc;
}

int unlink(const char *path) { return do_unlinkat(AT_FDCWD, path, 0); }
int unlinkat(int dirfd, const char *path, int flags) { return do_unlinkat(dirfd, path, flags); }
int rmdir(const char *path) { return do_unlinkat(AT_FDCWD, path, AT_REMOVEDIR); }

static int do_mkdirat(int dirfd, const char *path, mode_t mode) {
    char buf[PATH_MAX];
    const char *rel = watched(dirfd, path, buf);
    if (!rel)
        return REAL(mkdirat)(dirfd, path, mode);
    lock_all();
    int rc = REAL(mkdirat)(dirfd, path, mode);
    int err = errno;
    if (rc == 0)
        jlog("M\t%s", rel);
    unlock_all();
    errno = err;
    return rc;
}

int mkdir(const char *path, mode_t mode) { return do_mkdirat(AT_FDCWD, path, mode); }
int mkdirat(int dirfd, const char *path, mode_t mode) { return do_mkdirat(dirfd, path, mode); }

static int do_ftruncate(int fd, off_t length) {
    char buf[PATH_MAX];
    if (!fd_watched(fd, buf))
        return REAL(ftruncate)(fd, length);
    lock_all();
    struct stat st;
    uint64_t id = object_of_fd(fd, &st);
    int rc = REAL(ftruncate)(fd, length);
    int err = errno;
    if (rc == 0 && id)
        jlog("T\t%llu\t%lld\t%lld", (unsigned long long)id, (long long)st.st_size, (long long)length);
    else if (rc == 0 && S_ISREG(st.st_mode))
        jlog("!\tftruncate of a file the shim did not see created: %s", buf);
    unlock_all();
    errno = err;
    return rc;
}

int ftruncate(int fd, off_t length) { return do_ftruncate(fd, length); }
int ftruncate64(int fd, off64_t length) { return do_ftruncate(fd, (off_t)length); }

static int do_truncate(const char *path, off_t length) {
    char buf[PATH_MAX];
    const char *rel = watched(AT_FDCWD, path, buf);
    if (!rel)
        return REAL(truncate)(path, length);
    lock_all();
    struct stat st;
    uint64_t id = stat(path, &st) == 0 ? find_object(st.st_dev, st.st_ino) : 0;
    int rc = REAL(truncate)(path, length);
    int err = errno;
    if (rc == 0 && id)
        jlog("T\t%llu\t%lld\t%lld", (unsigned long long)id, (long long)st.st_size, (long long)length);
    else if (rc == 0)
        jlog("!\ttruncate of a file the shim did not see created: %s", rel);
    unlock_all();
    errno = err;
    return rc;
}

int truncate(const char *path, off_t length) { return do_truncate(path, length); }
int truncate64(const char *path, off64_t length) { return do_truncate(path, (off_t)length); }

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags) {
    char buf[PATH_MAX];
    if (watched(newdirfd, newpath, buf))
        jlog("!\thard link to %s", buf);
    return REAL(linkat)(olddirfd, oldpath, newdirfd, newpath, flags);
}

int link(const char *oldpath, const char *newpath) {
    return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

int symlinkat(const char *target, int newdirfd, const char *linkpath) {
    char buf[PATH_MAX];
    if (watched(newdirfd, linkpath, buf))
        jlog("!\tsymlink %s", buf);
    return REAL(symlinkat)(target, newdirfd, linkpath);
}

int symlink(const char *target, const char *linkpath) {
    return symlinkat(target, AT_FDCWD, linkpath);
}
