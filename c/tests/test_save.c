/*
 * test_save.c - gru_save against killed saves and odd targets (issue 11, finding 13;
 * the C twin of tests/test_files_hostile.py). Every case runs both ways of making the
 * new file: unnamed (O_TMPFILE, Linux) and a named temporary (GRU_SAVE_NO_TMPFILE=1,
 * the way of other systems and of filesystems without O_TMPFILE):
 *
 *   * SIGKILL at random moments of large saves (in a forked child) leaves the target
 *     complete (old or new, loadable by gru_load) and no debris but, at most, the
 *     named temporary of the save just killed, which the next save removes;
 *   * stale temporaries are removed only when they belong to the same target (the tag
 *     pygru computes: sha256 of the name) and their pid is dead;
 *   * a failing write (RLIMIT_FSIZE) leaves the old file and nothing else;
 *   * an existing file's mode (and, as root, owner) is kept; a new file gets 0666 less
 *     the umask;
 *   * symbolic links are followed and stay (one, a chain, up to 40; 41 or a loop is
 *     GRU_ERR_IO); a dangling link gets its target created;
 *   * a directory, FIFO, socket or (as root) device node is refused and left intact;
 *   * names of 240..255 bytes work.
 * After every case the folder is listed: only the expected names may be there. The
 * kill test is skipped (with a message) under ThreadSanitizer, where it takes ~30 s;
 * -DUNDER_TSAN=0 runs it there too (it passed so).
 */
#define _XOPEN_SOURCE 700
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sysmacros.h>   /* makedev */
#endif

#ifndef UNDER_TSAN   /* -DUNDER_TSAN=0 runs the kill test under ThreadSanitizer too */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

static char base[256];   /* this section's scratch folder */
static int way;          /* 0: unnamed new file (O_TMPFILE), 1: named temporary */
static const char *const WAYS[2] = {"unnamed", "named"};

/* ---- helpers ---------------------------------------------------------------------- */

/* A fresh empty folder base/<label>-<n> into out. */
static int new_folder(char *out, size_t n, const char *label)
{
    static int count;
    snprintf(out, n, "%s/%s-%d", base, label, count++);
    return mkdir(out, 0777) == 0;
}

static const char *join(char *out, size_t n, const char *dir, const char *name)
{
    if (snprintf(out, n, "%s/%s", dir, name) >= (int)n) out[0] = '\0';   /* never here */
    return out;
}

/* A float32 model whose every parameter element is v + its index * 1e-3. */
static gru_model *model_of(int64_t I, int64_t H, int64_t L, float v)
{
    gru_config cfg = make_config(I, H, L, 0, 1, 1, GRU_FLOAT32);
    gru_model *m = NULL;
    size_t count = 0;
    if (gru_create(&cfg, &m) != GRU_OK || gru_param_count(m, &count) != GRU_OK) return m;
    for (size_t p = 0; p < count; p++) {
        const char *name;
        void *data;
        size_t n;
        gru_param_info(m, p, &name, NULL, NULL);
        gru_param_data(m, name, &data, &n);
        for (size_t k = 0; k < n; k++) ((float *)data)[k] = v + (float)(k % 1000) * 1e-3f;
    }
    gru_params_changed(m, NULL);
    return m;
}

/* The whole file (malloc'd; *n its size), NULL if it cannot be read. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) {
            unsigned char *b = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
            if (!b) break;
            buf = b;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    *n = len;
    return buf;
}

/* 1 if the file at path holds exactly want (n bytes). */
static int holds(const char *path, const unsigned char *want, size_t n)
{
    size_t len = 0;
    unsigned char *got = slurp(path, &len);
    const int same = got && len == n && memcmp(got, want, n) == 0;
    free(got);
    return same;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The folder's names, sorted, joined by '|' into out ("" if empty). */
static void listing(const char *dir, char *out, size_t n)
{
    char *names[64];
    int count = 0;
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(out, n, "<cannot list %s>", dir);
        return;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL && count < 64;)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[count++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, by_name);
    for (int i = 0; i < count; i++) {
        const size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s", i ? "|" : "", names[i] ? names[i] : "?");
        free(names[i]);
    }
}

/* Checks that the folder holds exactly the names in want (sorted, '|'-separated). */
static int check_folder(const char *dir, const char *want, const char *file, int line)
{
    char got[4096];
    listing(dir, got, sizeof got);
    return check_report(strcmp(got, want) == 0, file, line,
                        "folder holds \"%s\", expected \"%s\"", got, want);
}
#define CHECK_FOLDER(dir, want) check_folder(dir, want, __FILE__, __LINE__)

/* A temporary's name ".pygru-<8 hex>-<pid>-<12 hex>.tmp"? */
static int is_temp(const char *name)
{
    unsigned tag;
    long pid;
    char rnd[13], tail[8];
    return strlen(name) < 64 &&
           sscanf(name, ".pygru-%8x-%ld-%12[0-9a-f]%7s", &tag, &pid, rnd, tail) == 4 &&
           strlen(rnd) == 12 && strcmp(tail, ".tmp") == 0;
}

static int mode_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void set_way(int w)
{
    way = w;
    setenv("GRU_SAVE_NO_TMPFILE", w ? "1" : "0", 1);
}

/* A pid that was just used by a process that has since ended. */
static long dead_pid(void)
{
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return (long)pid;
}

/* ---- modes and owners ------------------------------------------------------------- */

static void modes(gru_model *a, gru_model *b)
{
    static const int kept[] = {0600, 0640, 0444, 0755};
    static const int umasks[][2] = {{022, 0644}, {077, 0600}, {002, 0664}};
    char dir[512], path[600];
    for (int i = 0; i < 3; i++) {
        check_set_ctx("save %s: new file, umask %03o", WAYS[way], umasks[i][0]);
        if (!new_folder(dir, sizeof dir, "umask")) continue;
        const mode_t old = umask((mode_t)umasks[i][0]);
        CHECK_OK(gru_save(a, join(path, sizeof path, dir, "m.safetensors")));
        umask(old);
        CHECK_INT_EQ(mode_of(path), umasks[i][1]);
        CHECK_FOLDER(dir, "m.safetensors");
    }
    for (int i = 0; i < 4; i++) {
        check_set_ctx("save %s: existing file of mode %04o", WAYS[way], kept[i]);
        if (!new_folder(dir, sizeof dir, "mode")) continue;
        REQUIRE_OK(gru_save(a, join(path, sizeof path, dir, "m.safetensors")), continue);
        chmod(path, (mode_t)kept[i]);
        CHECK_OK(gru_save(b, path));
        CHECK_INT_EQ(mode_of(path), kept[i]);
        CHECK_FOLDER(dir, "m.safetensors");
    }
}

static void owner(gru_model *a)
{
    char dir[512], path[600];
    check_set_ctx("save %s: an existing file's owner", WAYS[way]);
    if (geteuid() != 0) {
        printf("  save %s: owner kept: skipped (only root can give a file away)\n", WAYS[way]);
        return;
    }
    if (!new_folder(dir, sizeof dir, "owner")) return;
    REQUIRE_OK(gru_save(a, join(path, sizeof path, dir, "m.safetensors")), return);
    REQUIRE(chown(path, 12345, 23456) == 0 && chmod(path, 0600) == 0, return);
    CHECK_OK(gru_save(a, path));
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_uid == 12345 && sb.st_gid == 23456 &&
          (sb.st_mode & 07777) == 0600);
}

/* ---- symbolic links --------------------------------------------------------------- */

/* Saves b through here/link.bin -> (kind) -> a file holding a's model, of mode 0600. */
static void one_link(gru_model *a, gru_model *b, const unsigned char *want, size_t n, int kind)
{
    static const char *const KINDS[] = {"relative, same folder", "relative, other folder",
                                        "absolute, other folder", "chain of two links"};
    char top[512], here[600], there[600], real[700], link[700], mid[700], text[700], got[700];
    check_set_ctx("save %s: symlink %s", WAYS[way], KINDS[kind]);
    if (!new_folder(top, sizeof top, "link")) return;
    join(here, sizeof here, top, "here");
    join(there, sizeof there, top, "there");
    mkdir(here, 0777);
    mkdir(there, 0777);
    join(real, sizeof real, kind == 0 ? here : there, "real.bin");
    join(link, sizeof link, here, "link.bin");
    join(mid, sizeof mid, there, "middle.bin");
    snprintf(text, sizeof text, "%s", kind == 0 ? "real.bin" : kind == 1 ? "../there/real.bin" : real);
    REQUIRE_OK(gru_save(a, real), return);
    chmod(real, 0600);
    if (kind == 3) REQUIRE(symlink(text, mid) == 0 && symlink(mid, link) == 0, return);
    else REQUIRE(symlink(text, link) == 0, return);
    CHECK_OK(gru_save(b, link));
    const ssize_t len = readlink(link, got, sizeof got - 1);
    got[len > 0 ? len : 0] = '\0';
    CHECK_MSG(strcmp(got, kind == 3 ? mid : text) == 0, "the link stays: \"%s\"", got);
    CHECK(holds(real, want, n));
    CHECK_INT_EQ(mode_of(real), 0600);
    CHECK_FOLDER(here, kind == 0 ? "link.bin|real.bin" : "link.bin");
    CHECK_FOLDER(there, kind == 0 ? "" : kind == 3 ? "middle.bin|real.bin" : "real.bin");
}

/* A chain of n links l0 -> l1 -> ... -> l(n-1) -> m.bin (absent) in dir. */
static void chain(const char *dir, int n)
{
    char from[600], name[16], to[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "l%d", i);
        if (i + 1 < n) snprintf(to, sizeof to, "l%d", i + 1);
        else snprintf(to, sizeof to, "m.bin");
        symlink(to, join(from, sizeof from, dir, name));
    }
}

static void links(gru_model *a, gru_model *b, const unsigned char *want, size_t n)
{
    char dir[512], path[600], text[64];
    for (int kind = 0; kind < 4; kind++) one_link(a, b, want, n, kind);

    check_set_ctx("save %s: a dangling symlink", WAYS[way]);
    if (new_folder(dir, sizeof dir, "dangling")) {
        mkdir(join(path, sizeof path, dir, "there"), 0777);
        symlink("there/new.bin", join(path, sizeof path, dir, "link.bin"));
        CHECK_OK(gru_save(b, path));
        struct stat sb;
        CHECK(lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode));
        CHECK(holds(join(path, sizeof path, dir, "there/new.bin"), want, n));
        CHECK_FOLDER(join(path, sizeof path, dir, "there"), "new.bin");
    }
    check_set_ctx("save %s: a loop of symlinks", WAYS[way]);
    if (new_folder(dir, sizeof dir, "loop")) {
        symlink("b", join(path, sizeof path, dir, "a"));
        symlink("a", join(path, sizeof path, dir, "b"));
        CHECK_STATUS(gru_save(a, join(path, sizeof path, dir, "a")), GRU_ERR_IO);
        const ssize_t len = readlink(path, text, sizeof text - 1);
        CHECK(len == 1 && text[0] == 'b');
        CHECK_FOLDER(dir, "a|b");
    }
    for (int len = 40; len <= 41; len++) {   /* Linux follows 40 links, not 41 */
        check_set_ctx("save %s: a chain of %d symlinks", WAYS[way], len);
        if (!new_folder(dir, sizeof dir, "chain")) continue;
        chain(dir, len);
        CHECK_STATUS(gru_save(b, join(path, sizeof path, dir, "l0")),
                     len == 40 ? GRU_OK : GRU_ERR_IO);
        if (len == 40) CHECK(holds(join(path, sizeof path, dir, "m.bin"), want, n));
        else CHECK_MSG(access(join(path, sizeof path, dir, "m.bin"), F_OK) != 0, "nothing written");
        remove_tree(dir);
    }
}

/* ---- what is not a regular file is refused ---------------------------------------- */

static int make_node(const char *path, int kind)
{
    struct sockaddr_un sa;
    int fd, ok;
    switch (kind) {
    case 0: return mkdir(path, 0777) == 0;
    case 1: return mkfifo(path, 0666) == 0;
    case 2:
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sa.sun_path) return 0;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (fd >= 0) close(fd);
        return ok;
#if defined(__linux__)
    case 3: return mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0;    /* what /dev/null is */
    case 4: return mknod(path, S_IFBLK | 0600, makedev(7, 200)) == 0;  /* never opened */
#endif
    default: return 0;
    }
}

static void not_regular(gru_model *a)
{
    static const char *const KINDS[] = {"directory", "FIFO", "socket", "character device",
                                        "block device"};
    char dir[512], node[600], link[600];
    for (int kind = 0; kind < 5; kind++) {
        for (int through_link = 0; through_link < 2; through_link++) {
            check_set_ctx("save %s: a %s%s", WAYS[way], KINDS[kind], through_link ? " through a link" : "");
            if (kind >= 3 && geteuid() != 0) {
                if (!through_link) printf("  save %s: %s refused: skipped (only root can mknod)\n", WAYS[way], KINDS[kind]);
                continue;
            }
            if (!new_folder(dir, sizeof dir, "node")) continue;
            REQUIRE(make_node(join(node, sizeof node, dir, "node"), kind), continue);
            struct stat before, after;
            lstat(node, &before);
            if (through_link) symlink("node", join(link, sizeof link, dir, "link"));
            CHECK_STATUS(gru_save(a, through_link ? link : node), GRU_ERR_IO);
            CHECK(lstat(node, &after) == 0 && after.st_mode == before.st_mode &&
                  after.st_ino == before.st_ino && after.st_rdev == before.st_rdev);
            CHECK_FOLDER(dir, through_link ? "link|node" : "node");
            remove_tree(dir);
        }
    }
}

/* ---- names ------------------------------------------------------------------------ */

static void names(gru_model *a, gru_model *b, const unsigned char *want, size_t n)
{
    char dir[512], name[256], path[800];
    static const int lengths[] = {240, 250, 255};
    for (int i = 0; i < 3; i++) {
        check_set_ctx("save %s: a name of %d bytes", WAYS[way], lengths[i]);
        if (!new_folder(dir, sizeof dir, "long")) continue;
        memset(name, 'm', (size_t)lengths[i]);
        memcpy(name + lengths[i] - 12, ".safetensors", 13);
        join(path, sizeof path, dir, name);
        CHECK_OK(gru_save(a, path));
        CHECK_OK(gru_save(b, path));   /* over an existing file too */
        CHECK(holds(path, want, n));
        gru_model *back = NULL;
        CHECK_OK(gru_load(path, &back, NULL, 0));
        gru_destroy(back);
        CHECK_FOLDER(dir, name);
        remove_tree(dir);
    }
    check_set_ctx("save %s: paths that name no file", WAYS[way]);
    CHECK_STATUS(gru_save(a, ""), GRU_ERR_IO);
    CHECK_STATUS(gru_save(a, join(path, sizeof path, base, "none/m.safetensors")), GRU_ERR_IO);
    CHECK_STATUS(gru_save(a, join(path, sizeof path, base, "none/")), GRU_ERR_IO);
    if (new_folder(dir, sizeof dir, "dots")) {
        CHECK_STATUS(gru_save(a, join(path, sizeof path, dir, ".")), GRU_ERR_IO);
        CHECK_STATUS(gru_save(a, join(path, sizeof path, dir, "..")), GRU_ERR_IO);
        CHECK_STATUS(gru_save(a, join(path, sizeof path, dir, "x/")), GRU_ERR_IO);
        CHECK_FOLDER(dir, "");
    }
}

/* ---- temporaries: stale ones removed, a failing write leaves none ------------------- */

/* The tags pygru gives m.safetensors and other.safetensors (hashlib.sha256(name)
 * .hexdigest()[:8]): C and Python clean each other's debris. */
#define TAG_M "0eb66ee8"
#define TAG_OTHER "61f31e4d"

static void stale(gru_model *a)
{
    char dir[512], path[600], n[6][96], want[700];
    check_set_ctx("save %s: stale temporaries", WAYS[way]);
    if (!new_folder(dir, sizeof dir, "stale")) return;
    const long dead = dead_pid();
    snprintf(n[0], 96, ".pygru-%s-%ld-%s.tmp", TAG_M, dead, "000000000000");   /* removed */
    snprintf(n[1], 96, ".pygru-%s-%ld-%s.tmp", TAG_M, (long)getppid(), "111111111111");
    snprintf(n[2], 96, ".pygru-%s-%ld-%s.tmp", TAG_M, (long)getpid(), "222222222222");
    snprintf(n[3], 96, ".pygru-%s-%ld-%s.tmp", TAG_OTHER, dead, "333333333333");
    snprintf(n[4], 96, ".pygru-%s-%ld-%s.tmp", TAG_M, dead, "44444444444");   /* 11 hex */
    snprintf(n[5], 96, "notes.tmp");
    for (int i = 0; i < 6; i++) {
        FILE *f = fopen(join(path, sizeof path, dir, n[i]), "wb");
        if (f) fclose(f);
    }
    CHECK_OK(gru_save(a, join(path, sizeof path, dir, "m.safetensors")));
    const char *kept[6] = {n[1], n[2], n[3], n[4], n[5], "m.safetensors"};
    qsort(kept, 6, sizeof *kept, by_name);
    snprintf(want, sizeof want, "%s|%s|%s|%s|%s|%s", kept[0], kept[1], kept[2], kept[3],
             kept[4], kept[5]);
    CHECK_FOLDER(dir, want);   /* all but n[0], the dead save's of the same target */
    remove_tree(dir);
}

/* A save that fails half-way (the file size limit of a child process): the old file
 * stays, and nothing else. */
static void failing_write(gru_model *a, gru_model *big)
{
    char dir[512], path[600];
    check_set_ctx("save %s: a write that fails (RLIMIT_FSIZE)", WAYS[way]);
    if (!new_folder(dir, sizeof dir, "fsize")) return;
    REQUIRE_OK(gru_save(a, join(path, sizeof path, dir, "m.safetensors")), return);
    size_t n = 0;
    unsigned char *old = slurp(path, &n);
    const pid_t pid = fork();
    if (pid == 0) {
        const struct rlimit lim = {1 << 16, 1 << 16};
        signal(SIGXFSZ, SIG_IGN);
        _exit(setrlimit(RLIMIT_FSIZE, &lim) == 0 ? (int)gru_save(big, path) : 99);
    }
    int status = 0;
    REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid, free(old); return);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == GRU_ERR_IO,
              "the child's gru_save: status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK(old && holds(path, old, n));
    CHECK_FOLDER(dir, "m.safetensors");
    free(old);
    remove_tree(dir);
}

/* ---- killed saves ----------------------------------------------------------------- */

#define KILLS 20

typedef struct kill_run {
    const char *dir, *path;
    const unsigned char *ref[2];   /* the complete files of model 0 and model 1 */
    size_t n[2];
    int seen[3];                   /* absent, model 0, model 1 after a kill */
    int temps;                     /* temporaries seen after a kill (named way) */
} kill_run;

/* Forks a child that saves models 0 and 1 in turns, kills it after `delay` seconds, and
 * checks what it left. */
static void kill_once(kill_run *k, gru_model *m[2], double delay)
{
    const pid_t pid = fork();
    if (pid == 0)
        for (;;)
            for (int i = 0; i < 2; i++) gru_save(m[i], k->path);
    REQUIRE(pid > 0, return);
    struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the saving child died early");
    size_t len = 0;
    unsigned char *got = slurp(k->path, &len);
    int which = got ? -1 : 0;   /* absent, model 0 or 1's complete file, or torn (-1) */
    for (int i = 0; i < 2 && got; i++)
        if (len == k->n[i] && memcmp(got, k->ref[i], len) == 0) which = i + 1;
    free(got);
    CHECK_MSG(which > 0 || (which == 0 && !k->seen[1] && !k->seen[2]),
              "the target after a kill: %s", which < 0 ? "torn" : "gone");
    if (which >= 0) k->seen[which]++;
    if (which > 0 && mode_of(k->path) != 0640) chmod(k->path, 0640);   /* the first time */
    char names[4096], *save = NULL;
    listing(k->dir, names, sizeof names);
    int others = 0, ok = 1;
    for (char *e = strtok_r(names, "|", &save); e; e = strtok_r(NULL, "|", &save)) {
        if (strcmp(e, "m.safetensors") == 0) continue;
        others++;
        ok &= is_temp(e);
    }
    CHECK_MSG(ok && others <= 1, "after a kill: %d other names (at most the killed save's "
              "temporary allowed)", others);
    k->temps += others;
}

static void killed_saves(gru_model *m[2])
{
    char dir[512], path[600], refdir[512], ref[600];
    check_set_ctx("save %s: SIGKILL during saves", WAYS[way]);
    if (UNDER_TSAN) {
        printf("  save %s: killed saves: skipped under ThreadSanitizer (a save takes ~0.3 s "
               "there; build the test with -DUNDER_TSAN=0 to run it)\n", WAYS[way]);
        return;
    }
    if (!new_folder(dir, sizeof dir, "kill") || !new_folder(refdir, sizeof refdir, "ref")) return;
    kill_run k = {dir, join(path, sizeof path, dir, "m.safetensors"), {NULL, NULL}, {0, 0},
                  {0, 0, 0}, 0};
    unsigned char *refs[2] = {NULL, NULL};
    double t0 = seconds_now();
    for (int i = 0; i < 2; i++) {
        REQUIRE_OK(gru_save(m[i], join(ref, sizeof ref, refdir, "m.safetensors")), goto done);
        refs[i] = slurp(ref, &k.n[i]);
        k.ref[i] = refs[i];
    }
    const double one = (seconds_now() - t0) / 2;   /* one save */
    rng g = {(uint64_t)way + 13};
    int kills = 0;
    const double t1 = seconds_now();
    for (; kills < KILLS; kills++)   /* the first kill early: before any save completes */
        kill_once(&k, m, rng_uniform(&g, 0.0, (kills ? 1.5 : 0.5) * one));
    CHECK_MSG(k.seen[1] + k.seen[2] > 0, "no save completed before its kill");
    CHECK_INT_EQ(mode_of(path), 0640);
    CHECK_OK(gru_save(m[1], path));   /* a later save cleans up after them */
    CHECK_FOLDER(dir, "m.safetensors");
    gru_model *back = NULL;
    CHECK_OK(gru_load(path, &back, NULL, 0));
    gru_destroy(back);
    printf("  save %s: %d kills in %.1f s (one save %.0f ms, %.1f MB): target absent %d, "
           "model 0 %d, model 1 %d times; %d temporaries left by a kill, then removed\n",
           WAYS[way], kills, seconds_now() - t1, one * 1e3, (double)k.n[0] / 1e6, k.seen[0],
           k.seen[1], k.seen[2], k.temps);
done:
    free(refs[0]);
    free(refs[1]);
    remove_tree(dir);
    remove_tree(refdir);
}

/* ---- entry point ------------------------------------------------------------------ */

void test_save(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/gru_save_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    gru_model *a = model_of(2, 3, 1, 1.0f), *b = model_of(2, 3, 1, 2.0f);
    gru_model *big[2] = {model_of(384, 384, 4, 1.0f), model_of(384, 384, 4, 2.0f)};
    char path[600];
    size_t n = 0;
    unsigned char *want = NULL;
    REQUIRE(a && b && big[0] && big[1], goto done);
    REQUIRE_OK(gru_save(b, join(path, sizeof path, base, "b.safetensors")), goto done);
    want = slurp(path, &n);   /* b's file, as every case below must leave it */
    remove(path);
    for (int w = 0; w < 2; w++) {
        set_way(w);
        modes(a, b);
        owner(a);
        links(a, b, want, n);
        not_regular(a);
        names(a, b, want, n);
        stale(a);
        failing_write(a, big[0]);
        killed_saves(big);
    }
done:
    unsetenv("GRU_SAVE_NO_TMPFILE");
    free(want);
    gru_destroy(a);
    gru_destroy(b);
    gru_destroy(big[0]);
    gru_destroy(big[1]);
    remove_tree(base);
    check_set_ctx("%s", "");
}
