package io.fuseguard.api;

/**
 * The error numbers a filesystem answers with, as Linux defines them (x86-64 and arm64 share these numbers).
 * Throw one with {@link ErrnoException}; or throw an {@link java.io.IOException} and let fuseguard convert it
 * ({@code NoSuchFileException} is ENOENT, and so on).
 */
public enum Errno {
    EPERM(1, "Operation not permitted"),
    ENOENT(2, "No such file or directory"),
    ESRCH(3, "No such process"),
    EINTR(4, "Interrupted system call"),
    EIO(5, "Input/output error"),
    ENXIO(6, "No such device or address"),
    E2BIG(7, "Argument list too long"),
    EBADF(9, "Bad file descriptor"),
    EAGAIN(11, "Resource temporarily unavailable"),
    ENOMEM(12, "Cannot allocate memory"),
    EACCES(13, "Permission denied"),
    EFAULT(14, "Bad address"),
    EBUSY(16, "Device or resource busy"),
    EEXIST(17, "File exists"),
    EXDEV(18, "Invalid cross-device link"),
    ENODEV(19, "No such device"),
    ENOTDIR(20, "Not a directory"),
    EISDIR(21, "Is a directory"),
    EINVAL(22, "Invalid argument"),
    ENFILE(23, "Too many open files in system"),
    EMFILE(24, "Too many open files"),
    ETXTBSY(26, "Text file busy"),
    EFBIG(27, "File too large"),
    ENOSPC(28, "No space left on device"),
    ESPIPE(29, "Illegal seek"),
    EROFS(30, "Read-only file system"),
    EMLINK(31, "Too many links"),
    EPIPE(32, "Broken pipe"),
    ERANGE(34, "Numerical result out of range"),
    EDEADLK(35, "Resource deadlock avoided"),
    ENAMETOOLONG(36, "File name too long"),
    ENOLCK(37, "No locks available"),
    ENOSYS(38, "Function not implemented"),
    ENOTEMPTY(39, "Directory not empty"),
    ELOOP(40, "Too many levels of symbolic links"),
    ENODATA(61, "No data available"),
    ETIME(62, "Timer expired"),
    EPROTO(71, "Protocol error"),
    EOVERFLOW(75, "Value too large for defined data type"),
    EILSEQ(84, "Invalid or incomplete multibyte or wide character"),
    EOPNOTSUPP(95, "Operation not supported"),
    /** The same number as {@link #EOPNOTSUPP} on Linux. */
    ENOTSUP(95, "Operation not supported"),
    ECONNABORTED(103, "Software caused connection abort"),
    ENOTCONN(107, "Transport endpoint is not connected"),
    ETIMEDOUT(110, "Connection timed out"),
    ESTALE(116, "Stale file handle"),
    EREMOTEIO(121, "Remote I/O error"),
    EDQUOT(122, "Disk quota exceeded"),
    ECANCELED(125, "Operation canceled");

    private final int code;
    private final String description;

    Errno(int code, String description) {
        this.code = code;
        this.description = description;
    }

    /** The number the kernel gets. */
    public int code() {
        return code;
    }

    /** What {@code strerror} says for it. */
    public String description() {
        return description;
    }

    /** The errno with this number (the first name, for numbers with two), or {@code null}. */
    public static Errno of(int code) {
        for (Errno e : values()) {
            if (e.code == code) {
                return e;
            }
        }
        return null;
    }

    /** The errno whose {@code strerror} text this is (what the JDK puts in a FileSystemException), or null. */
    public static Errno ofDescription(String text) {
        if (text == null) {
            return null;
        }
        for (Errno e : values()) {
            if (e.description.equals(text)) {
                return e;
            }
        }
        return null;
    }
    /**
     * The errno a JDK I/O failure stands for, or {@code null} when it cannot be told (fuseguard then answers
     * EIO). The JDK throws a dedicated type for a few errnos ({@code NoSuchFileException} is ENOENT, and so on)
     * and puts {@code strerror}'s text in the rest: a {@code FileSystemException}'s reason, or a channel's
     * message, sometimes with a remark after it ("Too many levels of symbolic links (NOFOLLOW_LINKS
     * specified)").
     */
    public static Errno of(java.io.IOException e) {
        if (e instanceof java.nio.file.NoSuchFileException) {
            return ENOENT;
        }
        if (e instanceof java.nio.file.FileAlreadyExistsException) {
            return EEXIST;
        }
        if (e instanceof java.nio.file.DirectoryNotEmptyException) {
            return ENOTEMPTY;
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return EACCES;
        }
        if (e instanceof java.nio.file.NotDirectoryException) {
            return ENOTDIR;
        }
        if (e instanceof java.nio.file.NotLinkException) {
            return EINVAL;
        }
        if (e instanceof java.nio.file.FileSystemLoopException) {
            return ELOOP;
        }
        String text = e instanceof java.nio.file.FileSystemException f ? f.getReason() : e.getMessage();
        if (text == null) {
            return null;
        }
        Errno exact = ofDescription(text);
        if (exact != null) {
            return exact;
        }
        for (Errno errno : values()) {
            if (text.startsWith(errno.description + " (")) {
                return errno;
            }
        }
        return null;
    }
}
