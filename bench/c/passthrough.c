/*
 * passthrough: the C passthrough reference of bench/run. It mirrors a source directory through FUSE the way a
 * performance-minded libfuse 3 filesystem does (in the spirit of libfuse's passthrough_hp example, written
 * for this benchmark), so that fuseguard's PassthroughFs can be compared with it on the same source.
 *
 * - libfuse 3 low-level API: the kernel's node ids are our inode objects, no paths are ever built.
 * - Inode table: a hash table keyed by (st_dev, st_ino); each inode holds an O_PATH descriptor of the file and
 *   the kernel's lookup count, and is freed when FORGET brings that count to zero. One mutex guards the table.
 * - Operations act on those descriptors: fstatat(AT_EMPTY_PATH), the *at calls on a parent's descriptor, and
 *   /proc/self/fd/N to open or change a file by its descriptor. Open files are plain descriptors used with
 *   pread/pwrite (or, with -o splice, handed to libfuse as descriptors so it can splice; measure before using).
 * - Multi-threaded: fuse_session_loop_mt with clone_fd, each worker reading from its own /dev/fuse clone.
 * - O_DIRECT is not passed on (PassthroughFs does the same): a caller's direct I/O still reaches the daemon
 *   uncached, and the daemon reads and writes the source through its page cache.
 * - No FLUSH handler: libfuse answers ENOSYS, after which the kernel sends no FLUSH at all (as fuseguard does).
 * - New entries belong to the daemon (root here), as in passthrough_hp; PassthroughFs gives them to the caller,
 *   which is the same user in bench/run.
 *
 * Options (-o): attr_timeout=S, entry_timeout=S, negative_timeout=S (1, 1, 0 by default, libfuse 2's values),
 * splice, libfuse's connection options (max_write=N, ...) and mount options (default_permissions, ...);
 * big_writes is accepted and dropped, as libfuse 3 always writes big. Without max_write, libfuse 3.14 takes
 * 1 MiB requests (max_pages 256).
 *
 * Build: gcc -O2 -Wall passthrough.c $(pkg-config --cflags --libs fuse3) -o passthrough
 * Run:   passthrough SOURCE MOUNTPOINT -f -o default_permissions
 */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <fuse_lowlevel.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct inode {
    struct inode *next;          /* hash chain */
    int fd;                      /* O_PATH descriptor of the file */
    dev_t dev;
    ino_t ino;
    uint64_t nlookup;            /* the kernel's references (FORGET gives them back); root is never freed */
};

static struct {
    double attr_timeout, entry_timeout, negative_timeout;
    int splice;
} cfg = {1.0, 1.0, 0.0, 0};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inode **table;
static size_t tsize = 4096, tcount;
static struct inode root;
static struct fuse_conn_info_opts *conn_opts;

static size_t slot(dev_t dev, ino_t ino, size_t size) {
    uint64_t h = ((uint64_t) ino * 0x9E3779B97F4A7C15ULL) ^ (uint64_t) dev;
    return (size_t) (h ^ (h >> 31)) & (size - 1);
}

static void insert(struct inode *n) {
    if (tcount + 1 > tsize) {       /* keep the load factor at most 1 */
        struct inode **t = calloc(tsize * 2, sizeof *t);
        for (size_t i = 0; i < tsize; i++) {
            for (struct inode *m = table[i], *next; m; m = next) {
                next = m->next;
                size_t b = slot(m->dev, m->ino, tsize * 2);
                m->next = t[b];
                t[b] = m;
            }
        }
        free(table);
        table = t;
        tsize *= 2;
    }
    size_t b = slot(n->dev, n->ino, tsize);
    n->next = table[b];
    table[b] = n;
    tcount++;
}

static struct inode *find(dev_t dev, ino_t ino) {
    for (struct inode *n = table[slot(dev, ino, tsize)]; n; n = n->next) {
        if (n->ino == ino && n->dev == dev) {
            return n;
        }
    }
    return NULL;
}

static void remove_inode(struct inode *n) {
    struct inode **p = &table[slot(n->dev, n->ino, tsize)];
    while (*p != n) {
        p = &(*p)->next;
    }
    *p = n->next;
    tcount--;
}

static struct inode *inode_of(fuse_ino_t id) {
    return id == FUSE_ROOT_ID ? &root : (struct inode *) (uintptr_t) id;
}

static fuse_ino_t id_of(struct inode *n) {
    return n == &root ? FUSE_ROOT_ID : (fuse_ino_t) (uintptr_t) n;
}

/* /proc/self/fd/N: opens, or changes without following, the file an O_PATH descriptor stands for. */
static void fd_path(char buf[32], int fd) {
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* Finds parent/name, counts one more kernel reference to its inode and fills e. Returns 0 or an errno. */
static int do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e) {
    memset(e, 0, sizeof *e);
    e->attr_timeout = cfg.attr_timeout;
    e->entry_timeout = cfg.entry_timeout;
    int fd = openat(inode_of(parent)->fd, name, O_PATH | O_NOFOLLOW);
    if (fd < 0) {
        return errno;
    }
    if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    pthread_mutex_lock(&table_lock);
    struct inode *n = find(e->attr.st_dev, e->attr.st_ino);
    if (n) {
        n->nlookup++;
    } else {
        n = calloc(1, sizeof *n);
        n->fd = fd;
        n->dev = e->attr.st_dev;
        n->ino = e->attr.st_ino;
        n->nlookup = 1;
        insert(n);
        fd = -1;
    }
    pthread_mutex_unlock(&table_lock);
    if (fd >= 0) {
        close(fd);
    }
    e->ino = id_of(n);
    return 0;
}

static void reply_entry_or_err(fuse_req_t req, fuse_ino_t parent, const char *name, int err) {
    struct fuse_entry_param e;
    if (err == 0) {
        err = do_lookup(parent, name, &e);
    }
    if (err) {
        fuse_reply_err(req, err);
    } else {
        fuse_reply_entry(req, &e);
    }
}

static void pt_init(void *data, struct fuse_conn_info *conn) {
    (void) data;
    fuse_apply_conn_info_opts(conn_opts, conn);
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    if (cfg.splice) {
        conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ;
    }
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
    struct fuse_entry_param e;
    int err = do_lookup(parent, name, &e);
    if (err == ENOENT && cfg.negative_timeout > 0) {
        e.ino = 0;                                  /* a cached negative entry */
        e.entry_timeout = cfg.negative_timeout;
        fuse_reply_entry(req, &e);
    } else if (err) {
        fuse_reply_err(req, err);
    } else {
        fuse_reply_entry(req, &e);
    }
}

static void forget_one(fuse_ino_t id, uint64_t nlookup) {
    struct inode *n = inode_of(id);
    pthread_mutex_lock(&table_lock);
    n->nlookup -= nlookup;
    int gone = n->nlookup == 0 && n != &root;
    if (gone) {
        remove_inode(n);
    }
    pthread_mutex_unlock(&table_lock);
    if (gone) {
        close(n->fd);
        free(n);
    }
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    forget_one(ino, nlookup);
    fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
    for (size_t i = 0; i < count; i++) {
        forget_one(forgets[i].ino, forgets[i].nlookup);
    }
    fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void) fi;
    struct stat st;
    if (fstatat(inode_of(ino)->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
        fuse_reply_err(req, errno);
    } else {
        fuse_reply_attr(req, &st, cfg.attr_timeout);
    }
}

static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int set, struct fuse_file_info *fi) {
    int fd = inode_of(ino)->fd, r = 0;
    char path[32];
    fd_path(path, fd);
    if (set & FUSE_SET_ATTR_MODE) {
        r = fi ? fchmod(fi->fh, attr->st_mode) : chmod(path, attr->st_mode);
    }
    if (r == 0 && (set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
        uid_t uid = set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t) -1;
        gid_t gid = set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t) -1;
        r = fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    }
    if (r == 0 && (set & FUSE_SET_ATTR_SIZE)) {
        r = fi ? ftruncate(fi->fh, attr->st_size) : truncate(path, attr->st_size);
    }
    if (r == 0 && (set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
        struct timespec tv[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
        if (set & FUSE_SET_ATTR_ATIME_NOW) tv[0].tv_nsec = UTIME_NOW;
        else if (set & FUSE_SET_ATTR_ATIME) tv[0] = attr->st_atim;
        if (set & FUSE_SET_ATTR_MTIME_NOW) tv[1].tv_nsec = UTIME_NOW;
        else if (set & FUSE_SET_ATTR_MTIME) tv[1] = attr->st_mtim;
        r = fi ? futimens(fi->fh, tv) : utimensat(AT_FDCWD, path, tv, 0);
    }
    if (r != 0) {
        fuse_reply_err(req, errno);
    } else {
        pt_getattr(req, ino, fi);
    }
}

static void pt_readlink(fuse_req_t req, fuse_ino_t ino) {
    char buf[PATH_MAX + 1];
    ssize_t n = readlinkat(inode_of(ino)->fd, "", buf, sizeof buf);
    if (n < 0 || n == sizeof buf) {
        fuse_reply_err(req, n < 0 ? errno : ENAMETOOLONG);
    } else {
        buf[n] = 0;
        fuse_reply_readlink(req, buf);
    }
}

static void pt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
    int r = mknodat(inode_of(parent)->fd, name, mode, rdev);
    reply_entry_or_err(req, parent, name, r < 0 ? errno : 0);
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
    int r = mkdirat(inode_of(parent)->fd, name, mode);
    reply_entry_or_err(req, parent, name, r < 0 ? errno : 0);
}

static void pt_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
    int r = symlinkat(link, inode_of(parent)->fd, name);
    reply_entry_or_err(req, parent, name, r < 0 ? errno : 0);
}

static void pt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name) {
    char path[32];
    fd_path(path, inode_of(ino)->fd);
    int r = linkat(AT_FDCWD, path, inode_of(parent)->fd, name, AT_SYMLINK_FOLLOW);
    reply_entry_or_err(req, parent, name, r < 0 ? errno : 0);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
    fuse_reply_err(req, unlinkat(inode_of(parent)->fd, name, 0) < 0 ? errno : 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
    fuse_reply_err(req, unlinkat(inode_of(parent)->fd, name, AT_REMOVEDIR) < 0 ? errno : 0);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
    int r = renameat2(inode_of(parent)->fd, name, inode_of(newparent)->fd, newname, flags);
    fuse_reply_err(req, r < 0 ? errno : 0);
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    char path[32];
    fd_path(path, inode_of(ino)->fd);
    int fd = open(path, fi->flags & ~(O_NOFOLLOW | O_DIRECT));
    if (fd < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    fi->fh = fd;
    if (fuse_reply_open(req, fi) == -ENOENT) {      /* the caller was interrupted and is gone */
        close(fd);
    }
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
    int fd = openat(inode_of(parent)->fd, name, (fi->flags | O_CREAT) & ~(O_NOFOLLOW | O_DIRECT), mode);
    if (fd < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    struct fuse_entry_param e;
    int err = do_lookup(parent, name, &e);
    if (err) {
        close(fd);
        fuse_reply_err(req, err);
        return;
    }
    fi->fh = fd;
    if (fuse_reply_create(req, &e, fi) == -ENOENT) {
        close(fd);
        forget_one(e.ino, 1);
    }
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void) ino;
    close(fi->fh);
    fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
    (void) ino;
    int r = datasync ? fdatasync(fi->fh) : fsync(fi->fh);
    fuse_reply_err(req, r < 0 ? errno : 0);
}

/* One read buffer per worker thread, grown to the largest request it served. */
static pthread_key_t buf_key;
struct rbuf { size_t cap; char data[]; };

static char *read_buffer(size_t size) {
    struct rbuf *b = pthread_getspecific(buf_key);
    if (!b || b->cap < size) {
        free(b);
        b = malloc(sizeof *b + size);
        b->cap = size;
        pthread_setspecific(buf_key, b);
    }
    return b->data;
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void) ino;
    if (cfg.splice) {                               /* libfuse moves the data: splice, or read + write */
        struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
        bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
        bv.buf[0].fd = fi->fh;
        bv.buf[0].pos = off;
        fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
        return;
    }
    char *buf = read_buffer(size);
    ssize_t n = pread(fi->fh, buf, size, off);
    if (n < 0) {
        fuse_reply_err(req, errno);
    } else {
        fuse_reply_buf(req, buf, n);
    }
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
    (void) ino;
    ssize_t n = pwrite(fi->fh, buf, size, off);
    if (n < 0) {
        fuse_reply_err(req, errno);
    } else {
        fuse_reply_write(req, n);
    }
}

/* With -o splice: the data may still be in a pipe; libfuse splices it into the file. */
static void pt_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
                         struct fuse_file_info *fi) {
    (void) ino;
    struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
    out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    out.buf[0].fd = fi->fh;
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in, 0);
    if (n < 0) {
        fuse_reply_err(req, -n);
    } else {
        fuse_reply_write(req, n);
    }
}

struct dir {
    DIR *dp;
    struct dirent *entry;        /* read but not yet sent (it did not fit) */
    off_t offset;                /* where dp stands, as the kernel counts */
};

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    int fd = openat(inode_of(ino)->fd, ".", O_RDONLY | O_DIRECTORY);
    DIR *dp = fd < 0 ? NULL : fdopendir(fd);
    if (!dp) {
        int err = errno;
        if (fd >= 0) close(fd);
        fuse_reply_err(req, err);
        return;
    }
    struct dir *d = calloc(1, sizeof *d);
    d->dp = dp;
    fi->fh = (uintptr_t) d;
    if (fuse_reply_open(req, fi) == -ENOENT) {
        closedir(dp);
        free(d);
    }
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void) ino;
    struct dir *d = (struct dir *) (uintptr_t) fi->fh;
    char *buf = read_buffer(size), *p = buf;
    size_t rem = size;
    if (off != d->offset) {
        seekdir(d->dp, off);
        d->entry = NULL;
        d->offset = off;
    }
    for (;;) {
        if (!d->entry) {
            errno = 0;
            d->entry = readdir(d->dp);
            if (!d->entry) {
                if (errno && p == buf) {
                    fuse_reply_err(req, errno);
                    return;
                }
                break;
            }
        }
        struct stat st = {.st_ino = d->entry->d_ino, .st_mode = d->entry->d_type << 12};
        off_t next = telldir(d->dp);
        size_t len = fuse_add_direntry(req, p, rem, d->entry->d_name, &st, next);
        if (len > rem) {
            break;                                  /* sent in the next READDIR */
        }
        p += len;
        rem -= len;
        d->entry = NULL;
        d->offset = next;
    }
    fuse_reply_buf(req, buf, size - rem);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void) ino;
    struct dir *d = (struct dir *) (uintptr_t) fi->fh;
    closedir(d->dp);
    free(d);
    fuse_reply_err(req, 0);
}

static void pt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
    (void) ino;
    int fd = dirfd(((struct dir *) (uintptr_t) fi->fh)->dp);
    fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino) {
    struct statvfs st;
    if (fstatvfs(inode_of(ino)->fd, &st) < 0) {
        fuse_reply_err(req, errno);
    } else {
        fuse_reply_statfs(req, &st);
    }
}

static struct fuse_lowlevel_ops ops = {
    .init = pt_init, .lookup = pt_lookup, .forget = pt_forget, .forget_multi = pt_forget_multi,
    .getattr = pt_getattr, .setattr = pt_setattr, .readlink = pt_readlink, .mknod = pt_mknod,
    .mkdir = pt_mkdir, .symlink = pt_symlink, .link = pt_link, .unlink = pt_unlink, .rmdir = pt_rmdir,
    .rename = pt_rename, .open = pt_open, .create = pt_create, .release = pt_release, .fsync = pt_fsync,
    .read = pt_read, .write = pt_write, .opendir = pt_opendir, .readdir = pt_readdir,
    .releasedir = pt_releasedir, .fsyncdir = pt_fsyncdir, .statfs = pt_statfs,
};

#define OPT(t, field) {t, offsetof(typeof(cfg), field), 1}
static const struct fuse_opt own_opts[] = {
    {"attr_timeout=%lf", offsetof(typeof(cfg), attr_timeout), 0},
    {"entry_timeout=%lf", offsetof(typeof(cfg), entry_timeout), 0},
    {"negative_timeout=%lf", offsetof(typeof(cfg), negative_timeout), 0},
    OPT("splice", splice),
    FUSE_OPT_KEY("big_writes", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_END,
};

int main(int argc, char *argv[]) {
    if (argc < 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s SOURCE MOUNTPOINT [-f] [-o OPTIONS]\n", argv[0]);
        return 2;
    }
    root.fd = open(argv[1], O_PATH | O_DIRECTORY);
    struct stat st;
    if (root.fd < 0 || fstat(root.fd, &st) < 0) {
        perror(argv[1]);
        return 1;
    }
    root.dev = st.st_dev;
    root.ino = st.st_ino;
    root.nlookup = 2;
    table = calloc(tsize, sizeof *table);
    insert(&root);                                  /* a lookup that finds the root gets the root */
    pthread_key_create(&buf_key, free);

    argv[1] = argv[0];                              /* libfuse parses the rest: MOUNTPOINT and options */
    struct fuse_args args = FUSE_ARGS_INIT(argc - 1, argv + 1);
    struct fuse_cmdline_opts opts;
    if (fuse_opt_parse(&args, &cfg, own_opts, NULL) != 0 || fuse_parse_cmdline(&args, &opts) != 0
            || !opts.mountpoint || !(conn_opts = fuse_parse_conn_info_opts(&args))) {
        fprintf(stderr, "usage: %s SOURCE MOUNTPOINT [-f] [-o OPTIONS]\n", argv[0]);
        return 2;
    }
    if (cfg.splice) {
        ops.write_buf = pt_write_buf;
    }
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
    if (!se) {
        return 1;
    }
    int rc = 1;
    if (fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, opts.mountpoint) == 0) {
            if (fuse_daemonize(opts.foreground) == 0) {
                struct fuse_loop_config *loop = fuse_loop_cfg_create();
                fuse_loop_cfg_set_clone_fd(loop, 1);
                fuse_loop_cfg_set_max_threads(loop, opts.max_threads);
                if (opts.max_idle_threads != (unsigned int) -1) {   /* -1: libfuse's default, no limit */
                    fuse_loop_cfg_set_idle_threads(loop, opts.max_idle_threads);
                }
                rc = opts.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, loop);
                fuse_loop_cfg_destroy(loop);
            }
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    fuse_session_destroy(se);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    return rc ? 1 : 0;
}
