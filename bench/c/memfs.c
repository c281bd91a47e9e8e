/*
 * memfs: the C libfuse reference of the fuseguard benchmark (bench/run). An in-memory filesystem on the
 * libfuse 2.9 high-level API, multi-threaded (fuse_main without -s), so it is what "native speed" means for
 * the Java variants measured next to it.
 *
 * Names: one hash table keyed by (parent, name), plus a list of children per directory for readdir.
 * Content: 64 KiB chunks allocated on first write (holes read as zeros), so a write costs what it writes.
 * Locking: one read-write lock; reads, getattr and readdir share it, changes take it exclusively.
 * Open files are reached through fi->fh; a node unlinked while open lives until its last release.
 *
 * Build: gcc -O2 -Wall memfs.c $(pkg-config --cflags --libs fuse) -o memfs
 * Run:   memfs -f -o big_writes,max_write=131072 MOUNTPOINT
 *
 * memfs3.c includes this file with MEMFS_FUSE3 defined: the same filesystem on libfuse 3, with its own
 * operation table (libfuse 3's signatures) and main.
 */
#ifndef MEMFS_FUSE3
#define FUSE_USE_VERSION 26
#define FILL(buf, name) filler(buf, name, NULL, 0)
#endif
#define _GNU_SOURCE
#include <fuse.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

struct node {
    struct node *parent, *hnext;            /* hash chain */
    struct node *first, *next, *prev;       /* children of a directory; siblings */
    char *name, *link;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    nlink_t nlink;
    struct timespec atime, mtime, ctime;
    off_t size;
    char **chunks;
    size_t nchunks;                         /* capacity of chunks */
    int opens, dead;
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct node root;
static struct node **table;
static size_t tsize = 1024, tcount;

static size_t hash(const struct node *parent, const char *name, size_t len) {
    uint64_t h = 1469598103934665603ULL ^ (uintptr_t) parent;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char) name[i]) * 1099511628211ULL;
    }
    return (size_t) (h ^ (h >> 29));
}

static struct node *child(const struct node *dir, const char *name, size_t len) {
    for (struct node *n = table[hash(dir, name, len) & (tsize - 1)]; n; n = n->hnext) {
        if (n->parent == dir && strlen(n->name) == len && memcmp(n->name, name, len) == 0) {
            return n;
        }
    }
    return NULL;
}

static void grow(void) {
    size_t nsize = tsize * 2;
    struct node **nt = calloc(nsize, sizeof *nt);
    for (size_t i = 0; i < tsize; i++) {
        for (struct node *n = table[i], *next; n; n = next) {
            next = n->hnext;
            size_t b = hash(n->parent, n->name, strlen(n->name)) & (nsize - 1);
            n->hnext = nt[b];
            nt[b] = n;
        }
    }
    free(table);
    table = nt;
    tsize = nsize;
}

/* Links n under dir (name already set). */
static void attach(struct node *dir, struct node *n) {
    if (tcount + 1 > tsize) {
        grow();
    }
    n->parent = dir;
    size_t b = hash(dir, n->name, strlen(n->name)) & (tsize - 1);
    n->hnext = table[b];
    table[b] = n;
    tcount++;
    n->prev = NULL;
    n->next = dir->first;
    if (dir->first) {
        dir->first->prev = n;
    }
    dir->first = n;
    if (S_ISDIR(n->mode)) {
        dir->nlink++;
    }
}

static void detach(struct node *n) {
    struct node *dir = n->parent;
    struct node **p = &table[hash(dir, n->name, strlen(n->name)) & (tsize - 1)];
    while (*p != n) {
        p = &(*p)->hnext;
    }
    *p = n->hnext;
    tcount--;
    if (n->prev) {
        n->prev->next = n->next;
    } else {
        dir->first = n->next;
    }
    if (n->next) {
        n->next->prev = n->prev;
    }
    if (S_ISDIR(n->mode)) {
        dir->nlink--;
    }
    n->parent = NULL;
}

static struct node *resolve(const char *path) {
    struct node *n = &root;
    while (n) {
        while (*path == '/') {
            path++;
        }
        if (!*path) {
            return n;
        }
        size_t len = strcspn(path, "/");
        n = S_ISDIR(n->mode) ? child(n, path, len) : NULL;
        path += len;
    }
    return NULL;
}

/* The directory that would hold path, and the last component's name. */
static struct node *parent_of(const char *path, const char **name) {
    const char *slash = strrchr(path, '/');
    *name = slash + 1;
    char *dir = strndup(path, slash - path);
    struct node *d = resolve(dir);
    free(dir);
    return d && S_ISDIR(d->mode) ? d : NULL;
}

static void now(struct timespec *t) {
    clock_gettime(CLOCK_REALTIME, t);
}

static void free_node(struct node *n) {
    for (size_t i = 0; i < n->nchunks; i++) {
        free(n->chunks[i]);
    }
    free(n->chunks);
    free(n->name);
    free(n->link);
    free(n);
}

/* Drops a name that is gone from the namespace; the node lives on while it is open. */
static void drop(struct node *n) {
    if (n->opens > 0) {
        n->dead = 1;
    } else {
        free_node(n);
    }
}

static int make(const char *path, mode_t mode, const char *link, struct node **out) {
    const char *name;
    struct node *dir = parent_of(path, &name);
    if (!dir) {
        return -ENOENT;
    }
    if (child(dir, name, strlen(name))) {
        return -EEXIST;
    }
    struct node *n = calloc(1, sizeof *n);
    n->name = strdup(name);
    n->link = link ? strdup(link) : NULL;
    n->mode = mode;
    n->nlink = S_ISDIR(mode) ? 2 : 1;
    n->uid = fuse_get_context()->uid;
    n->gid = fuse_get_context()->gid;
    now(&n->mtime);
    n->atime = n->ctime = n->mtime;
    if (link) {
        n->size = strlen(link);
    }
    attach(dir, n);
    dir->mtime = dir->ctime = n->mtime;
    if (out) {
        *out = n;
    }
    return 0;
}

/* Frees content beyond size and zeroes the tail of the last chunk kept. */
static void set_size(struct node *n, off_t size) {
    if (size < n->size) {
        size_t keep = (size + CHUNK - 1) / CHUNK;
        for (size_t i = keep; i < n->nchunks; i++) {
            free(n->chunks[i]);
            n->chunks[i] = NULL;
        }
        if (size % CHUNK && keep - 1 < n->nchunks && n->chunks[keep - 1]) {
            memset(n->chunks[keep - 1] + size % CHUNK, 0, CHUNK - size % CHUNK);
        }
    }
    n->size = size;
    now(&n->mtime);
    n->ctime = n->mtime;
}

#define WITH(mode, ...) do { int r_; pthread_rwlock_##mode##lock(&lock); __VA_ARGS__; pthread_rwlock_unlock(&lock); return r_; } while (0)
#define NODE_OR_ENOENT(path) struct node *n = resolve(path); if (!n) { r_ = -ENOENT; break; }

static void fill(const struct node *n, struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_mode = n->mode;
    st->st_nlink = n->nlink;
    st->st_uid = n->uid;
    st->st_gid = n->gid;
    st->st_size = n->size;
    st->st_blocks = (n->size + 511) / 512;
    st->st_blksize = 4096;
    st->st_atim = n->atime;
    st->st_mtim = n->mtime;
    st->st_ctim = n->ctime;
}

static int m_getattr(const char *path, struct stat *st) {
    WITH(rd, do { NODE_OR_ENOENT(path); fill(n, st); r_ = 0; } while (0));
}

static int m_fgetattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    (void) path;
    WITH(rd, fill((struct node *) (uintptr_t) fi->fh, st); r_ = 0);
}

static int m_readlink(const char *path, char *buf, size_t size) {
    WITH(rd, do {
        NODE_OR_ENOENT(path);
        if (!S_ISLNK(n->mode)) { r_ = -EINVAL; break; }
        strncpy(buf, n->link, size - 1);
        buf[size - 1] = 0;
        r_ = 0;
    } while (0));
}

static int m_mkdir(const char *path, mode_t mode) {
    WITH(wr, r_ = make(path, S_IFDIR | (mode & 07777), NULL, NULL));
}

static int m_mknod(const char *path, mode_t mode, dev_t dev) {
    (void) dev;
    WITH(wr, r_ = S_ISREG(mode) ? make(path, mode, NULL, NULL) : -EPERM);
}

static int m_symlink(const char *target, const char *path) {
    WITH(wr, r_ = make(path, S_IFLNK | 0777, target, NULL));
}

static int m_unlink(const char *path) {
    WITH(wr, do {
        NODE_OR_ENOENT(path);
        if (S_ISDIR(n->mode)) { r_ = -EISDIR; break; }
        struct node *dir = n->parent;
        detach(n);
        now(&dir->mtime);
        dir->ctime = dir->mtime;
        drop(n);
        r_ = 0;
    } while (0));
}

static int m_rmdir(const char *path) {
    WITH(wr, do {
        NODE_OR_ENOENT(path);
        if (!S_ISDIR(n->mode)) { r_ = -ENOTDIR; break; }
        if (n == &root) { r_ = -EBUSY; break; }
        if (n->first) { r_ = -ENOTEMPTY; break; }
        struct node *dir = n->parent;
        detach(n);
        now(&dir->mtime);
        dir->ctime = dir->mtime;
        free_node(n);
        r_ = 0;
    } while (0));
}

static int m_rename(const char *from, const char *to) {
    WITH(wr, do {
        NODE_OR_ENOENT(from);
        const char *name;
        struct node *dir = parent_of(to, &name);
        if (!dir || n == &root) { r_ = -ENOENT; break; }
        for (struct node *a = dir; a; a = a->parent) {
            if (a == n) { r_ = -EINVAL; goto out; }
        }
        struct node *old = child(dir, name, strlen(name));
        if (old == n) { r_ = 0; break; }
        if (old) {
            if (S_ISDIR(old->mode) && !S_ISDIR(n->mode)) { r_ = -EISDIR; break; }
            if (!S_ISDIR(old->mode) && S_ISDIR(n->mode)) { r_ = -ENOTDIR; break; }
            if (S_ISDIR(old->mode) && old->first) { r_ = -ENOTEMPTY; break; }
            detach(old);
            drop(old);
        }
        struct node *src = n->parent;
        detach(n);
        free(n->name);
        n->name = strdup(name);
        attach(dir, n);
        now(&n->ctime);
        src->mtime = src->ctime = dir->mtime = dir->ctime = n->ctime;
        r_ = 0;
    out:;
    } while (0));
}

static int m_chmod(const char *path, mode_t mode) {
    WITH(wr, do {
        NODE_OR_ENOENT(path);
        n->mode = (n->mode & S_IFMT) | (mode & 07777);
        now(&n->ctime);
        r_ = 0;
    } while (0));
}

static int m_chown(const char *path, uid_t uid, gid_t gid) {
    WITH(wr, do {
        NODE_OR_ENOENT(path);
        if (uid != (uid_t) -1) n->uid = uid;
        if (gid != (gid_t) -1) n->gid = gid;
        now(&n->ctime);
        r_ = 0;
    } while (0));
}

static int m_truncate(const char *path, off_t size) {
    WITH(wr, do {
        NODE_OR_ENOENT(path);
        if (!S_ISREG(n->mode)) { r_ = -EINVAL; break; }
        set_size(n, size);
        r_ = 0;
    } while (0));
}

static int m_ftruncate(const char *path, off_t size, struct fuse_file_info *fi) {
    (void) path;
    WITH(wr, set_size((struct node *) (uintptr_t) fi->fh, size); r_ = 0);
}

static void set_time(struct timespec *dst, const struct timespec *src) {
    if (src->tv_nsec == UTIME_NOW) {
        now(dst);
    } else if (src->tv_nsec != UTIME_OMIT) {
        *dst = *src;
    }
}

static int m_utimens(const char *path, const struct timespec tv[2]) {
    WITH(wr, do {
        NODE_OR_ENOENT(path);
        set_time(&n->atime, &tv[0]);
        set_time(&n->mtime, &tv[1]);
        now(&n->ctime);
        r_ = 0;
    } while (0));
}

static int m_open(const char *path, struct fuse_file_info *fi) {
    WITH(wr, do {
        NODE_OR_ENOENT(path);
        if (S_ISDIR(n->mode)) { r_ = -EISDIR; break; }
        n->opens++;
        fi->fh = (uintptr_t) n;
        r_ = 0;
    } while (0));
}

static int m_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    WITH(wr, do {
        struct node *n;
        r_ = make(path, S_IFREG | (mode & 07777), NULL, &n);
        if (r_ == 0) {
            n->opens++;
            fi->fh = (uintptr_t) n;
        }
    } while (0));
}

static int m_release(const char *path, struct fuse_file_info *fi) {
    (void) path;
    WITH(wr, do {
        struct node *n = (struct node *) (uintptr_t) fi->fh;
        if (--n->opens == 0 && n->dead) {
            free_node(n);
        }
        r_ = 0;
    } while (0));
}

static int m_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void) path;
    WITH(rd, do {
        struct node *n = (struct node *) (uintptr_t) fi->fh;
        if (off >= n->size) { r_ = 0; break; }
        if ((off_t) size > n->size - off) size = n->size - off;
        size_t done = 0;
        while (done < size) {
            size_t c = (off + done) / CHUNK, o = (off + done) % CHUNK;
            size_t len = CHUNK - o < size - done ? CHUNK - o : size - done;
            if (c < n->nchunks && n->chunks[c]) {
                memcpy(buf + done, n->chunks[c] + o, len);
            } else {
                memset(buf + done, 0, len);
            }
            done += len;
        }
        r_ = (int) size;
    } while (0));
}

static int m_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void) path;
    WITH(wr, do {
        struct node *n = (struct node *) (uintptr_t) fi->fh;
        size_t need = (off + size + CHUNK - 1) / CHUNK;
        if (need > n->nchunks) {
            size_t cap = n->nchunks ? n->nchunks : 4;
            while (cap < need) cap *= 2;
            n->chunks = realloc(n->chunks, cap * sizeof *n->chunks);
            memset(n->chunks + n->nchunks, 0, (cap - n->nchunks) * sizeof *n->chunks);
            n->nchunks = cap;
        }
        size_t done = 0;
        while (done < size) {
            size_t c = (off + done) / CHUNK, o = (off + done) % CHUNK;
            size_t len = CHUNK - o < size - done ? CHUNK - o : size - done;
            if (!n->chunks[c]) {
                n->chunks[c] = len == CHUNK ? malloc(CHUNK) : calloc(1, CHUNK);
            }
            memcpy(n->chunks[c] + o, buf + done, len);
            done += len;
        }
        if (off + (off_t) size > n->size) n->size = off + size;
        now(&n->mtime);
        n->ctime = n->mtime;
        r_ = (int) size;
    } while (0));
}

static int m_statfs(const char *path, struct statvfs *st) {
    (void) path;
    memset(st, 0, sizeof *st);
    st->f_bsize = st->f_frsize = 4096;
    st->f_blocks = st->f_bfree = st->f_bavail = 16ULL << 20;   /* 64 GiB */
    st->f_files = st->f_ffree = st->f_favail = 1 << 24;
    st->f_namemax = 255;
    return 0;
}

static int m_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void) path; (void) datasync; (void) fi;
    return 0;
}

static int m_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi) {
    (void) off; (void) fi;
    WITH(rd, do {
        NODE_OR_ENOENT(path);
        if (!S_ISDIR(n->mode)) { r_ = -ENOTDIR; break; }
        FILL(buf, ".");
        FILL(buf, "..");
        for (struct node *c = n->first; c; c = c->next) {
            FILL(buf, c->name);
        }
        r_ = 0;
    } while (0));
}

static void init_root(void) {
    table = calloc(tsize, sizeof *table);
    root.mode = S_IFDIR | 0755;
    root.nlink = 2;
    root.uid = getuid();
    root.gid = getgid();
    now(&root.mtime);
    root.atime = root.ctime = root.mtime;
}

#ifndef MEMFS_FUSE3
static struct fuse_operations ops = {
    .getattr = m_getattr, .fgetattr = m_fgetattr, .readlink = m_readlink, .mknod = m_mknod,
    .mkdir = m_mkdir, .symlink = m_symlink, .unlink = m_unlink, .rmdir = m_rmdir, .rename = m_rename,
    .chmod = m_chmod, .chown = m_chown, .truncate = m_truncate, .ftruncate = m_ftruncate,
    .utimens = m_utimens, .open = m_open, .create = m_create, .release = m_release, .read = m_read,
    .write = m_write, .statfs = m_statfs, .fsync = m_fsync, .readdir = m_readdir,
};

int main(int argc, char *argv[]) {
    init_root();
    return fuse_main(argc, argv, &ops, NULL);
}
#endif
