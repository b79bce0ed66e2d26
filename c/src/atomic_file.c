/*
 * atomic_file.c - replacing a file atomically, leaving nothing behind (gru_save's
 * writer). The rules are those of pygru/_files.py write_atomic, so that the two
 * languages' saves behave alike and clean up each other's debris:
 *
 *   * old or new, never torn: the new content goes to a new file in the target's
 *     folder, is fsynced, and replaces the target with one rename; the folder is then
 *     fsynced;
 *   * no debris: on Linux the new file is unnamed (O_TMPFILE), freed by the kernel if
 *     the process dies; it is named (linkat through /proc/self/fd) only for the instant
 *     before the rename. Elsewhere, or where the filesystem has no O_TMPFILE (or the
 *     environment variable GRU_SAVE_NO_TMPFILE is set to a non-empty value other than
 *     "0", which the tests use), it is a named temporary. Temporaries are named
 *     ".pygru-<8 hex of sha256(target's name)>-<pid>-<12 hex>.tmp" (fixed length, so
 *     a 255-byte target name works), and every save first removes those of the same
 *     target whose pid is no longer alive (kill(pid, 0) fails with ESRCH);
 *   * the mode is kept: an existing file's permission bits (& 0777) and, where allowed,
 *     its owner and group; a new file gets 0666 less the umask;
 *   * symbolic links are followed (a chain of at most 40, as the kernel; a loop is an
 *     error): the file at the end is replaced, the links stay, a dangling link gets its
 *     target created;
 *   * only regular files are replaced: a directory, device, FIFO or socket is refused
 *     before anything is written.
 * Every failure returns GRU_ERR_IO (GRU_ERR_NO_MEMORY if malloc fails) with the target
 * untouched and no temporary left; nothing prints. Windows (_WIN32): a named temporary
 * beside the target and MoveFileEx; links are not followed and stale temporaries are
 * not removed (a pid's liveness cannot be told there).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE                  /* O_TMPFILE */
#endif
#if !defined(_WIN32) && !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L      /* openat, linkat, renameat, fdopendir, kill */
#endif
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "atomic_file.h"

/* ---- the temporary's name: sha256 of the target's name, pid, 48 random bits ------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* One 64-byte block p into the state h (FIPS 180-4, section 6.2.2). */
static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], a[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        const uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, h, sizeof a);
    for (int i = 0; i < 64; i++) {
        const uint32_t S1 = ror32(a[4], 6) ^ ror32(a[4], 11) ^ ror32(a[4], 25);
        const uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
        const uint32_t t1 = a[7] + S1 + ch + K256[i] + w[i];
        const uint32_t S0 = ror32(a[0], 2) ^ ror32(a[0], 13) ^ ror32(a[0], 22);
        const uint32_t t2 = S0 + ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
        memmove(a + 1, a, 7 * sizeof *a);   /* h=g, g=f, ..., b=a */
        a[4] += t1;                         /* e = d + t1 */
        a[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) h[i] += a[i];
}

/* tag <- the first 8 hex digits of sha256(name), as pygru/_files.py's _tag. */
static void name_tag(const char *name, char tag[9])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = (const unsigned char *)name;
    const size_t n = strlen(name);
    size_t done = 0;
    for (; n - done >= 64; done += 64) sha256_block(h, p + done);
    unsigned char last[128] = {0};
    const size_t rest = n - done, blocks = rest + 9 <= 64 ? 1 : 2;
    memcpy(last, p + done, rest);
    last[rest] = 0x80;
    const uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++) last[64 * blocks - 1 - k] = (unsigned char)(bits >> (8 * k));
    for (size_t b = 0; b < blocks; b++) sha256_block(h, last + 64 * b);
    snprintf(tag, 9, "%08lx", (unsigned long)h[0]);
}

static uint64_t mix64(uint64_t z)   /* splitmix64's finaliser */
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 48 bits that differ between attempts (salt), threads (a stack address), processes
 * and runs (pid, clock); no global state. Not secret: names are created exclusively
 * and retried. */
static uint64_t random48(long pid, uint64_t salt)
{
    struct timespec ts = {0, 0};
#if defined(TIME_UTC)
    timespec_get(&ts, TIME_UTC);
#else
    ts.tv_sec = time(NULL);   /* C libraries without C11's timespec_get (old msvcrt) */
    ts.tv_nsec = (long)clock();
#endif
    uint64_t x = mix64(salt ^ ((uint64_t)pid << 32));
    x ^= mix64((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
    x ^= mix64((uint64_t)(uintptr_t)&ts);
    return mix64(x) & 0xffffffffffffULL;
}

#define TEMP_NAME_MAX 64   /* ".pygru-" 8 "-" pid (<= 20) "-" 12 ".tmp": at most 53 */
#define TEMP_ATTEMPTS 100  /* names already taken before giving up (48-bit collisions) */

static void temp_name(char out[TEMP_NAME_MAX], const char *tag, long pid, int attempt)
{
    snprintf(out, TEMP_NAME_MAX, ".pygru-%s-%ld-%012llx.tmp", tag, pid,
             (unsigned long long)random48(pid, (uint64_t)attempt));
}

#if !defined(_WIN32)
/* ==== POSIX ========================================================================== */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif

#define MAX_LINKS 40                      /* what Linux follows before ELOOP */
#define MAX_LINK_TEXT ((size_t)1 << 16)   /* a link's text is at most PATH_MAX anyway */

struct atomic_file {
    int fd;                     /* the new file, -1 once closed */
    int dirfd;                  /* the target's folder */
    char *final;                /* the target, its links followed (malloc'd) */
    const char *name;           /* the target's name in its folder (inside final) */
    long pid;
    char tag[9];                /* 8 hex of sha256(name) */
    char tmp[TEMP_NAME_MAX];    /* the new file's name in the folder while it has one */
};

static gru_status copy_string(const char *s, size_t n, char **out)
{
    char *c = malloc(n + 1);   /* n < strlen(s) + 1 <= SIZE_MAX */
    if (!c) return GRU_ERR_NO_MEMORY;
    memcpy(c, s, n);
    c[n] = '\0';
    *out = c;
    return GRU_OK;
}

/* The text of the symbolic link at path (malloc'd); size: its lstat st_size. */
static gru_status read_link(const char *path, size_t size, char **out)
{
    size_t cap = size < 63 ? 64 : size + 1;
    while (cap <= MAX_LINK_TEXT) {
        char *buf = malloc(cap);
        if (!buf) return GRU_ERR_NO_MEMORY;
        const ssize_t n = readlink(path, buf, cap);
        if (n >= 0 && (size_t)n < cap) {
            buf[n] = '\0';
            *out = buf;
            return GRU_OK;
        }
        free(buf);
        if (n < 0) return GRU_ERR_IO;
        cap *= 2;   /* the link grew since lstat (or /proc reports size 0) */
    }
    return GRU_ERR_IO;
}

/* Where the link at from, holding text, points: text if absolute, else text in from's
 * folder (the kernel resolves it the same way). *out is malloc'd. */
static gru_status link_destination(const char *from, const char *text, char **out)
{
    if (text[0] == '/') return copy_string(text, strlen(text), out);
    const char *slash = strrchr(from, '/');
    const size_t dlen = slash ? (size_t)(slash - from) + 1 : 0, tlen = strlen(text);
    if (tlen > SIZE_MAX - 1 - dlen) return GRU_ERR_IO;
    char *s = malloc(dlen + tlen + 1);
    if (!s) return GRU_ERR_NO_MEMORY;
    memcpy(s, from, dlen);
    memcpy(s + dlen, text, tlen + 1);
    *out = s;
    return GRU_OK;
}

/* *final (malloc'd) <- path with its symbolic links followed: the first name in the
 * chain that is not a link, or does not exist. A loop or a longer chain: GRU_ERR_IO. */
static gru_status resolve(const char *path, char **final)
{
    char *cur = NULL;
    gru_status st = copy_string(path, strlen(path), &cur);
    for (int hop = 0; st == GRU_OK && hop <= MAX_LINKS; hop++) {
        struct stat sb;
        const int r = lstat(cur, &sb);
        if (r != 0 && errno != ENOENT) break;   /* ENOENT: a new file */
        if (r != 0 || !S_ISLNK(sb.st_mode)) {
            *final = cur;
            return GRU_OK;
        }
        char *text = NULL, *next = NULL;
        st = read_link(cur, sb.st_size > 0 ? (size_t)sb.st_size : 0, &text);
        if (st == GRU_OK) st = link_destination(cur, text, &next);
        free(text);
        free(cur);
        cur = next;
    }
    free(cur);
    return st == GRU_OK ? GRU_ERR_IO : st;
}

/* Opens the target's folder and checks the target there: absent (*exists = 0) or a
 * regular file (*exists = 1, *sb its stat); anything else is refused. */
static gru_status open_folder(atomic_file *af, struct stat *sb, int *exists)
{
    char *slash = strrchr(af->final, '/');
    af->name = slash ? slash + 1 : af->final;
    if (!*af->name || strcmp(af->name, ".") == 0 || strcmp(af->name, "..") == 0)
        return GRU_ERR_IO;   /* names a folder, not a file in it */
    char *folder = NULL;
    const size_t flen = slash ? (size_t)(slash - af->final) : 0;
    gru_status st = slash ? copy_string(af->final, flen ? flen : 1, &folder)
                          : copy_string(".", 1, &folder);
    if (st) return st;
    af->dirfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(folder);
    if (af->dirfd < 0) return GRU_ERR_IO;
    *exists = fstatat(af->dirfd, af->name, sb, AT_SYMLINK_NOFOLLOW) == 0;
    if (!*exists) return errno == ENOENT ? GRU_OK : GRU_ERR_IO;
    return S_ISREG(sb->st_mode) ? GRU_OK : GRU_ERR_IO;   /* a link here: raced */
}

/* 1 if entry is ".pygru-<tag>-<pid>-<12 hex>.tmp" (*pid set; pids beyond pid_t's range,
 * which no process can have, do not match and so are kept, as pygru does). */
static int temp_of(const char *entry, const char *tag, long *pid)
{
    if (strncmp(entry, ".pygru-", 7) != 0 || strncmp(entry + 7, tag, 8) != 0 ||
        entry[15] != '-')
        return 0;
    const char *p = entry + 16;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT_MAX - 9) / 10) return 0;
        v = v * 10 + (*p - '0');
    }
    if (p == entry + 16 || *p++ != '-') return 0;
    for (int k = 0; k < 12; k++)
        if (!((p[k] >= '0' && p[k] <= '9') || (p[k] >= 'a' && p[k] <= 'f'))) return 0;
    *pid = v;
    return strcmp(p + 12, ".tmp") == 0;
}

/* Removes the temporaries of earlier saves of this target whose process is gone (a
 * process of ours, or alive, or someone else's keeps its file). Best effort. */
static void remove_stale(const atomic_file *af)
{
    const int fd = openat(af->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = 0;
        struct stat sb;
        if (!temp_of(e->d_name, af->tag, &pid) || pid == af->pid)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;   /* alive, or not ours to ask about */
        if (fstatat(af->dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
            unlinkat(af->dirfd, e->d_name, 0);
    }
    closedir(d);
}

#ifdef O_TMPFILE
static int named_only(void)   /* GRU_SAVE_NO_TMPFILE set (and not "0"): tests */
{
    const char *e = getenv("GRU_SAVE_NO_TMPFILE");
    return e && *e && strcmp(e, "0") != 0;
}
#endif

/* af->fd <- an unnamed new file in the folder (O_TMPFILE), or left -1 where that is not
 * supported (or cannot be named later: no /proc), for a named temporary instead. */
static gru_status open_unnamed(atomic_file *af)
{
#ifdef O_TMPFILE
    if (named_only()) return GRU_OK;
    const int fd = openat(af->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0)
        return errno == EOPNOTSUPP || errno == ENOTSUP || errno == EISDIR || errno == EINVAL
                   ? GRU_OK : GRU_ERR_IO;
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (access(proc, F_OK) != 0) {
        close(fd);
        return GRU_OK;
    }
    af->fd = fd;
#else
    (void)af;
#endif
    return GRU_OK;
}

/* af->fd <- a new named temporary in the folder (af->tmp its name). */
static gru_status open_named(atomic_file *af)
{
    for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        temp_name(af->tmp, af->tag, af->pid, attempt);
        af->fd = openat(af->dirfd, af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                        0666);
        if (af->fd >= 0) return GRU_OK;
        if (errno != EEXIST) break;
    }
    af->tmp[0] = '\0';
    return GRU_ERR_IO;
}

/* The old file's owner (where allowed) and permission bits onto the new file. */
static gru_status keep_owner_and_mode(int fd, const struct stat *old)
{
    if ((old->st_uid != geteuid() || old->st_gid != getegid()) &&
        fchown(fd, old->st_uid, old->st_gid) != 0) {
        /* not allowed (not root): the new file is ours, as any new file */
    }
    return fchmod(fd, old->st_mode & 0777) == 0 ? GRU_OK : GRU_ERR_IO;   /* after fchown */
}

gru_status atomic_file_open(const char *path, atomic_file **out)
{
    *out = NULL;
    atomic_file *af = calloc(1, sizeof *af);
    if (!af) return GRU_ERR_NO_MEMORY;
    af->fd = af->dirfd = -1;
    af->pid = (long)getpid();
    struct stat old;
    int exists = 0;
    gru_status st = resolve(path, &af->final);
    if (st == GRU_OK) st = open_folder(af, &old, &exists);
    if (st == GRU_OK) {
        name_tag(af->name, af->tag);
        remove_stale(af);
        st = open_unnamed(af);
    }
    if (st == GRU_OK && af->fd < 0) st = open_named(af);
    if (st == GRU_OK && exists) st = keep_owner_and_mode(af->fd, &old);
    if (st != GRU_OK) {
        atomic_file_abort(af);
        return st;
    }
    *out = af;
    return GRU_OK;
}

gru_status atomic_file_write(atomic_file *af, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        const size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        const ssize_t w = write(af->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return GRU_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return GRU_OK;
}

/* Names the unnamed new file (af->tmp) for the rename: linkat through /proc/self/fd
 * with AT_SYMLINK_FOLLOW (that magic link leads to the open file itself). */
static gru_status link_unnamed(atomic_file *af)
{
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", af->fd);
    for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        temp_name(af->tmp, af->tag, af->pid, attempt);
        if (linkat(AT_FDCWD, proc, af->dirfd, af->tmp, AT_SYMLINK_FOLLOW) == 0) return GRU_OK;
        if (errno != EEXIST) break;
    }
    af->tmp[0] = '\0';
    return GRU_ERR_IO;
}

gru_status atomic_file_commit(atomic_file *af)
{
    gru_status st = fsync(af->fd) == 0 ? GRU_OK : GRU_ERR_IO;
    if (st == GRU_OK && af->tmp[0] == '\0') st = link_unnamed(af);
    const int fd = af->fd;
    af->fd = -1;
    if (close(fd) != 0) st = GRU_ERR_IO;   /* some filesystems report write errors here */
    if (st == GRU_OK && renameat(af->dirfd, af->tmp, af->dirfd, af->name) != 0) st = GRU_ERR_IO;
    if (st == GRU_OK) {
        af->tmp[0] = '\0';                 /* it is the target now */
        if (fsync(af->dirfd) != 0) {
            /* the rename is done; only its durability is in doubt (best effort) */
        }
    }
    atomic_file_abort(af);
    return st;
}

void atomic_file_abort(atomic_file *af)
{
    if (!af) return;
    if (af->fd >= 0) close(af->fd);
    if (af->tmp[0]) unlinkat(af->dirfd, af->tmp, 0);
    if (af->dirfd >= 0) close(af->dirfd);
    free(af->final);
    free(af);
}

#else
/* ==== Windows ======================================================================== */
#include <fcntl.h>
#include <io.h>
#include <process.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <windows.h>

struct atomic_file {
    FILE *f;
    char *path;   /* the target (malloc'd) */
    char *tmp;    /* the new file, beside it (malloc'd) */
};

/* af->tmp <- "<path's folder>/.pygru-<tag>-<pid>-<12 hex>.tmp" (malloc'd). */
static gru_status win_temp_path(atomic_file *af)
{
    const char *base = af->path;
    for (const char *p = af->path; *p; p++)
        if (*p == '/' || *p == '\\') base = p + 1;
    const size_t dlen = (size_t)(base - af->path);
    if (!*base || dlen > SIZE_MAX - TEMP_NAME_MAX) return GRU_ERR_IO;
    char tag[9], name[TEMP_NAME_MAX];
    name_tag(base, tag);
    temp_name(name, tag, (long)_getpid(), 0);
    af->tmp = malloc(dlen + TEMP_NAME_MAX);
    if (!af->tmp) return GRU_ERR_NO_MEMORY;
    memcpy(af->tmp, af->path, dlen);
    memcpy(af->tmp + dlen, name, strlen(name) + 1);
    return GRU_OK;
}

/* af->f <- a new named temporary beside the target (af->tmp its name). */
static gru_status win_open_temp(atomic_file *af)
{
    for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        free(af->tmp);
        af->tmp = NULL;
        gru_status st = win_temp_path(af);
        if (st) return st;
        const int fd = _open(af->tmp, _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY,
                             _S_IREAD | _S_IWRITE);
        if (fd >= 0 && (af->f = _fdopen(fd, "wb")) != NULL) return GRU_OK;
        if (fd >= 0) {
            _close(fd);
            remove(af->tmp);
        }
        if (fd >= 0 || errno != EEXIST) break;
    }
    free(af->tmp);
    af->tmp = NULL;
    return GRU_ERR_IO;
}

gru_status atomic_file_open(const char *path, atomic_file **out)
{
    *out = NULL;
    struct _stat64 sb;
    if (_stat64(path, &sb) == 0 && (sb.st_mode & _S_IFMT) != _S_IFREG) return GRU_ERR_IO;
    atomic_file *af = calloc(1, sizeof *af);
    const size_t plen = strlen(path);
    if (!af || !(af->path = malloc(plen + 1))) {
        free(af);
        return GRU_ERR_NO_MEMORY;
    }
    memcpy(af->path, path, plen + 1);
    const gru_status st = win_open_temp(af);
    if (st != GRU_OK) {
        atomic_file_abort(af);
        return st;
    }
    *out = af;
    return GRU_OK;
}

gru_status atomic_file_write(atomic_file *af, const void *buf, size_t n)
{
    return fwrite(buf, 1, n, af->f) == n ? GRU_OK : GRU_ERR_IO;
}

gru_status atomic_file_commit(atomic_file *af)
{
    gru_status st = fflush(af->f) == 0 && _commit(_fileno(af->f)) == 0 ? GRU_OK : GRU_ERR_IO;
    if (fclose(af->f) != 0) st = GRU_ERR_IO;
    af->f = NULL;
    if (st == GRU_OK &&
        !MoveFileExA(af->tmp, af->path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        st = GRU_ERR_IO;
    if (st == GRU_OK) {
        free(af->tmp);   /* it is the target now */
        af->tmp = NULL;
    }
    atomic_file_abort(af);
    return st;
}

void atomic_file_abort(atomic_file *af)
{
    if (!af) return;
    if (af->f) fclose(af->f);
    if (af->tmp) remove(af->tmp);
    free(af->tmp);
    free(af->path);
    free(af);
}
#endif
