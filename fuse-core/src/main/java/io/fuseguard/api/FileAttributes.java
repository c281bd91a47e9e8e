package io.fuseguard.api;

import java.time.Instant;
import java.util.Objects;

/**
 * Attributes of a file as answered to GETATTR (and to readdir, when known). Immutable; build one with
 * {@link #builder(FileType)}.
 *
 * @param type        what kind of file this is
 * @param permissions permission bits including set-uid/set-gid/sticky ({@code mode & 07777})
 * @param nlink       number of hard links
 * @param uid         owner
 * @param gid         group
 * @param size        size in bytes (for symlinks: length of the target)
 * @param blocks      512-byte blocks allocated; derived from size when not set
 * @param inode       inode number reported to callers (0 lets libfuse choose)
 * @param atime       last access
 * @param mtime       last modification of the content
 * @param ctime       last change of the attributes
 * @param rdev        device number of a character or block device node (0 otherwise)
 * @param birthTime   when the file was made ({@code statx(2)}'s {@code stx_btime}), or null when the filesystem does
 *                    not keep it; callers see it only through {@link FuseFileSystem#statx}
 */
public record FileAttributes(FileType type, int permissions, long nlink, long uid, long gid, long size, long blocks,
                             long inode, Instant atime, Instant mtime, Instant ctime, long rdev, Instant birthTime) {

    /** Validates the record. */
    public FileAttributes {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(atime, "atime");
        Objects.requireNonNull(mtime, "mtime");
        Objects.requireNonNull(ctime, "ctime");
        if (size < 0 || nlink < 0 || blocks < 0) {
            throw new IllegalArgumentException("negative size, nlink or blocks");
        }
    }

    /** Attributes without a birth time (the constructor of the API before birth times). */
    public FileAttributes(FileType type, int permissions, long nlink, long uid, long gid, long size, long blocks,
                          long inode, Instant atime, Instant mtime, Instant ctime, long rdev) {
        this(type, permissions, nlink, uid, gid, size, blocks, inode, atime, mtime, ctime, rdev, null);
    }

    /** The full mode: type bits and permission bits. */
    public int mode() {
        return type.bits() | (permissions & 07777);
    }

    /** A builder with sensible defaults: nlink 1 (2 for directories), owner root, all times "now". */
    public static Builder builder(FileType type) {
        return new Builder(type);
    }

    /** A builder that starts from these attributes. */
    public Builder toBuilder() {
        Builder b = new Builder(type);
        b.permissions = permissions;
        b.nlink = nlink;
        b.uid = uid;
        b.gid = gid;
        b.size = size;
        b.blocks = blocks;
        b.inode = inode;
        b.atime = atime;
        b.mtime = mtime;
        b.ctime = ctime;
        b.rdev = rdev;
        b.birthTime = birthTime;
        return b;
    }

    /** Builds {@link FileAttributes}. Not thread-safe. */
    public static final class Builder {
        private final FileType type;
        private int permissions;
        private long nlink;
        private long uid;
        private long gid;
        private long size;
        private long blocks = -1;
        private long inode;
        private Instant atime;
        private Instant mtime;
        private Instant ctime;
        private long rdev;
        private Instant birthTime;

        private Builder(FileType type) {
            this.type = Objects.requireNonNull(type, "type");
            this.nlink = type == FileType.DIRECTORY ? 2 : 1;
            this.permissions = type == FileType.DIRECTORY ? 0755 : 0644;
        }

        /** Permission bits ({@code mode & 07777}); type bits, if present, are ignored. */
        public Builder permissions(int permissions) {
            this.permissions = permissions & 07777;
            return this;
        }

        /** Hard link count. */
        public Builder nlink(long nlink) {
            this.nlink = nlink;
            return this;
        }

        /** Owner and group. */
        public Builder owner(long uid, long gid) {
            this.uid = uid;
            this.gid = gid;
            return this;
        }

        /** Size in bytes. */
        public Builder size(long size) {
            this.size = size;
            return this;
        }

        /** 512-byte blocks allocated (for sparse files); defaults to ceil(size / 512). */
        public Builder blocks(long blocks) {
            this.blocks = blocks;
            return this;
        }

        /** Inode number reported to callers. */
        public Builder inode(long inode) {
            this.inode = inode;
            return this;
        }

        /** Sets atime, mtime and ctime at once. */
        public Builder times(Instant all) {
            this.atime = all;
            this.mtime = all;
            this.ctime = all;
            return this;
        }

        /** Access time. */
        public Builder atime(Instant atime) {
            this.atime = atime;
            return this;
        }

        /** Modification time. */
        public Builder mtime(Instant mtime) {
            this.mtime = mtime;
            return this;
        }

        /** Change time. */
        public Builder ctime(Instant ctime) {
            this.ctime = ctime;
            return this;
        }

        /** Device number of a device node, as {@code makedev(major, minor)} encodes it. */
        public Builder rdev(long rdev) {
            this.rdev = rdev;
            return this;
        }

        /** When the file was made (null: not kept, the default). */
        public Builder birthTime(Instant birthTime) {
            this.birthTime = birthTime;
            return this;
        }

        /** The attributes. */
        public FileAttributes build() {
            Instant now = (atime == null || mtime == null || ctime == null) ? Instant.now() : null;
            long blk = blocks >= 0 ? blocks : (size + 511) / 512;
            return new FileAttributes(type, permissions, nlink, uid, gid, size, blk, inode,
                    atime != null ? atime : now, mtime != null ? mtime : now, ctime != null ? ctime : now, rdev,
                    birthTime);
        }
    }
}
