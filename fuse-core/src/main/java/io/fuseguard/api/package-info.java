/**
 * What a filesystem written for fuseguard implements, and the values it sees. {@link io.fuseguard.api.FuseFileSystem}
 * is one interface whose every method but {@code getattr} has a default (ENOSYS, or a harmless no-op), with
 * typed kernel values ({@link io.fuseguard.api.OpenFlags}, {@link io.fuseguard.api.FileType},
 * {@link io.fuseguard.api.XattrMode}) and no pointer anywhere. Errors are exceptions, converted to errnos at the
 * boundary: {@link io.fuseguard.api.ErrnoException} for an exact answer, any {@link java.io.IOException} for what
 * the JDK reported. {@link io.fuseguard.api.RequestContext} says who is asking and by when the answer is due;
 * {@link io.fuseguard.api.GuardListener} hears what the guard did.
 */
package io.fuseguard.api;
