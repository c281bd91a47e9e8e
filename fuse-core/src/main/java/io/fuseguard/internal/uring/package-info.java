/**
 * FUSE over io_uring (protocol 7.42, Linux 6.14 and later): the io_uring instance itself ({@link
 * io.fuseguard.internal.uring.IoUring}: setup, the mapped rings, submission and completion) and the FUSE protocol
 * spoken over it ({@link io.fuseguard.internal.uring.FuseRing}: ring entries registered per queue, requests
 * delivered on them, answers committed on the entry that carried the request). Nothing here runs a handler or
 * knows the guards: the session hands what arrives to its request threads and answers through here.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
package io.fuseguard.internal.uring;
