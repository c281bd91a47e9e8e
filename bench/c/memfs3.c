/*
 * memfs3: the C reference of bench/run (memfs.c, an in-memory filesystem on libfuse's high-level API) built
 * against libfuse 3 instead of 2.9, so that fuseguard's MemoryFs can be compared with what libfuse offers today.
 *
 * The filesystem is the very same code: this file includes memfs.c. Only what libfuse 3 changed is here: the
 * operation table (getattr, truncate, chmod, chown and utimens take the open file when there is one, rename
 * takes flags, the directory filler takes flags) and main, which runs fuse_loop_mt with clone_fd set: each
 * worker thread reads its requests from its own clone of /dev/fuse (FUSE_DEV_IOC_CLONE) instead of all
 * threads sharing one descriptor.
 *
 * It takes memfs's options, so bench/run mounts both the same way: -o big_writes is accepted and dropped
 * (libfuse 3 always writes big), max_write=N is applied to the connection in init (libfuse 3 leaves such
 * options to the filesystem), attr_timeout, entry_timeout and negative_timeout are libfuse 3's high-level
 * options as they were 2.9's. Everything else is libfuse 3.14's defaults (async reads, parallel directory
 * operations, no writeback cache, no splice).
 *
 * Build: gcc -O2 -Wall memfs3.c $(pkg-config --cflags --libs fuse3) -o memfs3
 * Run:   memfs3 -f -o big_writes,max_write=131072 MOUNTPOINT
 */
#define FUSE_USE_VERSION 312
#define MEMFS_FUSE3
#define FILL(buf, name) filler(buf, name, NULL, 0, 0)
#include "memfs.c"

#include <fuse_lowlevel.h>   /* fuse_parse_cmdline */
#include <stdio.h>

static struct fuse_conn_info_opts *conn_opts;

static void *m3_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void) cfg;
    fuse_apply_conn_info_opts(conn_opts, conn);
    return NULL;
}

static int m3_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    return fi ? m_fgetattr(path, st, fi) : m_getattr(path, st);
}

static int m3_rename(const char *from, const char *to, unsigned int flags) {
    return flags ? -EINVAL : m_rename(from, to);    /* memfs (2.9) knows no RENAME_NOREPLACE or _EXCHANGE */
}

static int m3_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    (void) fi;
    return m_chmod(path, mode);
}

static int m3_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    (void) fi;
    return m_chown(path, uid, gid);
}

static int m3_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    return fi ? m_ftruncate(path, size, fi) : m_truncate(path, size);
}

static int m3_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    (void) fi;
    return m_utimens(path, tv);
}

static int m3_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
    (void) flags;
    return m_readdir(path, buf, filler, off, fi);
}

static const struct fuse_operations ops3 = {
    .init = m3_init, .getattr = m3_getattr, .readlink = m_readlink, .mknod = m_mknod, .mkdir = m_mkdir,
    .symlink = m_symlink, .unlink = m_unlink, .rmdir = m_rmdir, .rename = m3_rename, .chmod = m3_chmod,
    .chown = m3_chown, .truncate = m3_truncate, .utimens = m3_utimens, .open = m_open, .create = m_create,
    .release = m_release, .read = m_read, .write = m_write, .statfs = m_statfs, .fsync = m_fsync,
    .readdir = m3_readdir,
};

int main(int argc, char *argv[]) {
    static const struct fuse_opt dropped[] = {FUSE_OPT_KEY("big_writes", FUSE_OPT_KEY_DISCARD), FUSE_OPT_END};
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts opts;
    if (fuse_opt_parse(&args, NULL, dropped, NULL) != 0 || fuse_parse_cmdline(&args, &opts) != 0) {
        return 2;
    }
    if (!opts.mountpoint) {
        fprintf(stderr, "usage: %s [-f] [-o OPTIONS] MOUNTPOINT\n", argv[0]);
        return 2;
    }
    conn_opts = fuse_parse_conn_info_opts(&args);   /* takes max_write=N out of args, for init */
    if (!conn_opts) {
        return 2;
    }
    init_root();
    struct fuse *f = fuse_new(&args, &ops3, sizeof ops3, NULL);
    if (!f) {
        return 1;
    }
    int rc = 1;
    if (fuse_mount(f, opts.mountpoint) == 0) {
        if (fuse_daemonize(opts.foreground) == 0 && fuse_set_signal_handlers(fuse_get_session(f)) == 0) {
            struct fuse_loop_config *loop = fuse_loop_cfg_create();
            fuse_loop_cfg_set_clone_fd(loop, 1);
            fuse_loop_cfg_set_max_threads(loop, opts.max_threads);
            if (opts.max_idle_threads != (unsigned int) -1) {   /* -1: libfuse's default, no limit */
                fuse_loop_cfg_set_idle_threads(loop, opts.max_idle_threads);
            }
            rc = opts.singlethread ? fuse_loop(f) : fuse_loop_mt(f, loop);
            fuse_loop_cfg_destroy(loop);
            fuse_remove_signal_handlers(fuse_get_session(f));
        }
        fuse_unmount(f);
    }
    fuse_destroy(f);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    return rc ? 1 : 0;
}
