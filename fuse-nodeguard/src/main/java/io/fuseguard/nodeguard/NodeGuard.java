package io.fuseguard.nodeguard;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

import io.fuseguard.kernel.DaemonLocator;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.FuseDeviceHolders;
import io.fuseguard.kernel.FuseDeviceHolders.DeviceFd;
import io.fuseguard.kernel.FuseDeviceHolders.Liveness;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.ProcFiles;
import io.fuseguard.kernel.TaskStat;
import io.fuseguard.nodeguard.Decision.Action;
import io.fuseguard.nodeguard.Decision.Reader;
import io.fuseguard.nodeguard.Decision.Verdict;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node guard: finds FUSE connections that are provably wedged and aborts them through {@code fusectl}.
 *
 * <p><b>The rule.</b> A connection is aborted only when, in two scans at least {@link GuardSettings#grace()}
 * apart, (1) requests wait on it ({@code fusectl}'s {@code waiting} &gt; 0) or a task is blocked in a system
 * call on a file of its mount, and (2) no live process could read them: every process holding a
 * {@code /dev/fuse} descriptor that may serve it is gone, a zombie, or has only threads in {@code do_exit()}
 * ({@code PF_EXITING}), and the {@code /proc} scan that showed this was complete. Which descriptors "may serve
 * it": on Linux 6.16+ the kernel names the connection of each {@code /dev/fuse} descriptor in {@code fdinfo},
 * so exactly those attached to it; on older kernels every {@code /dev/fuse} descriptor on the machine (the
 * rule then only fires when no live process holds {@code /dev/fuse} at all). See {@code docs/node-guard.md}.
 *
 * <p><b>The opt-in stuck rule</b> ({@link GuardSettings#stuckLimit()}): a connection whose reader is alive is
 * aborted when, for the whole limit, its requests kept waiting, one task stayed blocked on it, and no reader
 * process made a read or write system call ({@code /proc/<pid>/io}). This can abort a daemon that is merely
 * slow without doing system calls (a long computation, a stop-the-world pause, a debugger) or one whose
 * progress is invisible there; the aborted mount then answers {@code ENOTCONN} until it is remounted.
 *
 * <p>The guard never touches a mount point (no {@code stat}, no {@code open}); it reads only {@code /proc},
 * {@code fusectl} and the mount table, every read bounded and tolerant of entries that vanish or are
 * malformed. Use {@link #scan()} for one pass, {@link #once()} for an orchestrator's single call (it waits the
 * grace period when it has to), {@link #run} for the periodic loop. Not thread-safe: one caller at a time.
 */
public final class NodeGuard {

    private static final Logger LOG = LoggerFactory.getLogger(NodeGuard.class);
    private static final int MOUNTINFO_LIMIT = 16 * 1024 * 1024;

    private final GuardSettings settings;
    private final GuardMetrics metrics;
    private final FuseControl control;
    private final TaskScanner scanner;

    /** Descriptors last seen attached to (or possibly serving) each connection. */
    private final Map<Long, List<DeviceFd>> knownFds = new HashMap<>();
    /** Every process seen holding a descriptor of the connection, with its comm. */
    private final Map<Long, Map<Integer, String>> formerReaders = new HashMap<>();
    private final Map<Long, Instant> noReaderSince = new HashMap<>();
    private final Map<Long, Instant> waitingSince = new HashMap<>();
    private final Map<Long, Long> readerIo = new HashMap<>();
    private final Map<Long, Instant> readerProgress = new HashMap<>();
    private final Map<String, Instant> taskFirstSeen = new HashMap<>();
    private final Map<Long, String> lastEmitted = new HashMap<>();
    private final Map<Long, Verdict> lastVerdict = new HashMap<>();
    private final Set<Long> known = new HashSet<>();
    /** Why the last scan could not trust fusectl; empty when it could. */
    private volatile Optional<String> notReady = Optional.of("no scan yet");

    /**
     * A guard with the given settings and metrics.
     *
     * @param settings what to look at, what it may do
     * @param metrics  where to count (see {@link GuardMetrics})
     */
    public NodeGuard(GuardSettings settings, GuardMetrics metrics) {
        this.settings = settings;
        this.metrics = metrics;
        this.control = new FuseControl(settings.fusectl());
        this.scanner = new TaskScanner(settings.proc());
    }

    /**
     * A guard that counts into a private registry.
     *
     * @param settings what to look at, what it may do
     */
    public NodeGuard(GuardSettings settings) {
        this(settings, new GuardMetrics(new SimpleMeterRegistry()));
    }

    /**
     * The settings.
     *
     * @return them
     */
    public GuardSettings settings() {
        return settings;
    }

    /**
     * The metrics.
     *
     * @return them
     */
    public GuardMetrics metrics() {
        return metrics;
    }

    /**
     * The result of one scan.
     *
     * @param decisions one per connection in scope, ascending by id
     * @param changed   the decisions that differ from the last one emitted for their connection (what a
     *                  periodic guard prints)
     * @param elapsed   the scan's duration
     */
    public record ScanResult(List<Decision> decisions, List<Decision> changed, Duration elapsed) {
        /**
         * Copies.
         *
         * @param decisions see the record description
         * @param changed see the record description
         * @param elapsed see the record description
         */
        public ScanResult {
            decisions = List.copyOf(decisions);
            changed = List.copyOf(changed);
        }
    }

    /** One connection as seen by the scan. */
    private record Conn(long id, Optional<MountEntry> mount, OptionalInt waiting) {
        boolean pending() {
            return waiting.isPresent() && waiting.getAsInt() > 0;
        }
    }

    /**
     * One scan: reads the mount table, {@code fusectl} and (when needed) {@code /proc}, decides about every
     * connection in scope and acts (abort, unless dry run).
     *
     * @return the decisions
     */
    public ScanResult scan() {
        long t0 = System.nanoTime();
        Instant now = Instant.now();
        MountTable table = readMountTable();
        TreeSet<Long> ids = new TreeSet<>();
        Optional<String> listError = Optional.empty();
        try {
            ids.addAll(control.connectionIds());
        } catch (IOException | RuntimeException e) {
            listError = Optional.of("cannot list " + settings.fusectl() + ": " + e.getMessage());
        }
        Optional<String> problem = listError.or(() -> fusectlProblem(table, ids));
        if (!problem.equals(notReady)) {
            if (problem.isPresent()) {
                LOG.warn("not ready: {}; connections without a readable waiting count are undecidable",
                        problem.get());
            } else if (notReady.isPresent() && !notReady.get().equals("no scan yet")) {
                LOG.info("ready again: {} is readable", settings.fusectl());
            }
        }
        notReady = problem;
        metrics.ready(problem.isEmpty());
        table.fuseMounts().forEach(m -> ids.add(m.connectionId()));

        Map<Long, Conn> all = new TreeMap<>();
        for (long id : ids) {
            all.put(id, new Conn(id, table.findByConnection(id), control.waiting(id)));
        }
        Set<Long> pendingAll = new HashSet<>();
        all.values().stream().filter(Conn::pending).forEach(c -> pendingAll.add(c.id()));

        List<Conn> inScope = all.values().stream()
                .filter(c -> settings.under().isEmpty() || c.mount().map(m -> settings.inScope(m.mountPoint()))
                        .orElse(false))
                .toList();
        for (Conn c : all.values()) {
            if (c.pending()) {
                waitingSince.putIfAbsent(c.id(), now);
            } else {
                waitingSince.remove(c.id());
            }
        }

        // Readers: confirm cheaply what an earlier scan found; scan /proc fully only when that does not do.
        Map<Long, List<Reader>> liveCached = new HashMap<>();
        boolean needFull = false;
        for (Conn c : inScope) {
            if (!known.contains(c.id())) {
                needFull = true; // first sight: learn its daemon
            }
            if (c.pending()) {
                List<Reader> live = confirmCached(c.id());
                if (live.isEmpty()) {
                    needFull = true;
                } else {
                    liveCached.put(c.id(), live);
                }
            }
        }
        FuseDeviceHolders.Snapshot snap = null;
        if (needFull) {
            snap = FuseDeviceHolders.scan(settings.proc(), settings.scanBudget());
            learn(snap, all.keySet());
        }
        inScope.forEach(c -> known.add(c.id()));

        boolean anyWithoutReader = inScope.stream().anyMatch(c -> c.pending() && !liveCached.containsKey(c.id()));
        boolean needTasks = settings.pidNamespace().isPresent() || anyWithoutReader
                || (settings.stuckLimit().isPresent() && inScope.stream().anyMatch(Conn::pending));
        List<BlockedTask> tasks = needTasks ? scanner.scan(pendingAll) : List.of();
        trackTasks(tasks, now);

        if (settings.pidNamespace().isPresent()) {
            String ns = settings.pidNamespace().get();
            Set<Long> blocking = new HashSet<>();
            for (BlockedTask t : tasks) {
                if (!t.pidNamespace().equals(ns)) {
                    continue;
                }
                if (t.attribution() == BlockedTask.Attribution.AMBIGUOUS) {
                    // Several candidates: only those whose daemon belongs to the namespace.
                    t.connections().stream().filter(id -> daemonInNamespace(id, ns)).forEach(blocking::add);
                } else {
                    blocking.addAll(t.connections());
                }
            }
            inScope = inScope.stream().filter(c -> blocking.contains(c.id())).toList();
        }
        List<Decision> decisions = new ArrayList<>();
        for (Conn c : inScope) {
            Conn withMount = c.mount().isPresent() ? c : new Conn(c.id(), scanner.mountSeen(c.id()), c.waiting());
            decisions.add(c.waiting().isEmpty() && (problem.isPresent() || c.mount().isPresent())
                    ? unreadable(withMount, now, problem)
                    : decide(withMount, now, liveCached.get(c.id()), snap, tasks));
        }
        // forget state of connections that are gone
        knownFds.keySet().retainAll(all.keySet());
        formerReaders.keySet().retainAll(all.keySet());
        noReaderSince.keySet().retainAll(all.keySet());
        known.retainAll(all.keySet());
        lastEmitted.keySet().retainAll(all.keySet());
        lastVerdict.keySet().retainAll(all.keySet());

        List<Decision> changed = new ArrayList<>();
        for (Decision d : decisions) {
            String sig = d.verdict() + "/" + d.action();
            if (!sig.equals(lastEmitted.put(d.connection(), sig)) || d.action() == Action.ABORTED
                    || d.action() == Action.FAILED) {
                changed.add(d);
            }
        }
        Duration elapsed = Duration.ofNanos(System.nanoTime() - t0);
        metrics.scanned(elapsed, inScope.size(), inScope.stream().map(Conn::id).toList());
        return new ScanResult(decisions, changed, elapsed);
    }

    /**
     * Why {@code fusectl} cannot be trusted, judged from what a scan saw: without it no waiting count can be read,
     * every connection would look idle, and the guard would guard nothing while looking healthy.
     *
     * @return the reason, or empty when {@code fusectl} is readable
     */
    public Optional<String> fusectlProblem() {
        TreeSet<Long> ids = new TreeSet<>();
        try {
            ids.addAll(control.connectionIds());
        } catch (IOException | RuntimeException e) {
            return Optional.of("cannot list " + settings.fusectl() + ": " + e.getMessage());
        }
        return fusectlProblem(readMountTable(), ids);
    }

    /**
     * Why the last scan could not read {@code fusectl} (what {@code /readyz} and {@code fuseguard_guard_ready}
     * report), or empty when it could.
     *
     * @return the reason, or empty
     */
    public Optional<String> notReadyReason() {
        return notReady;
    }

    private Optional<String> fusectlProblem(MountTable table, Set<Long> listed) {
        Path dir = settings.fusectl();
        if (!Files.isDirectory(dir)) {
            return Optional.of(dir + " does not exist (no fuse kernel module, or the FUSE control filesystem is not"
                    + " mounted or not given to this container)");
        }
        String type = "";
        try {
            type = Files.getFileStore(dir).type();
        } catch (IOException | RuntimeException e) {
            // unknown: judged by its content below
        }
        if (type.equals("sysfs")) {
            return Optional.of(dir + " is sysfs's own directory: the FUSE control filesystem is not mounted on it"
                    + " (mount -t fusectl none /sys/fs/fuse/connections; in a pod, on the host before the pod starts)");
        }
        long mounted = table.fuseMounts().stream().map(MountEntry::connectionId).distinct().count();
        if (mounted > 0 && table.fuseMounts().stream().noneMatch(m -> listed.contains(m.connectionId()))) {
            return Optional.of(dir + " lists none of the " + mounted + " FUSE connection(s) of " + settings.mountinfo()
                    + ": it is not the FUSE control filesystem of this machine");
        }
        return Optional.empty();
    }

    private Decision unreadable(Conn c, Instant now, Optional<String> problem) {
        metrics.skipped();
        return plain(c, now, Verdict.UNDECIDABLE, List.of(), List.of(), List.of(), Action.SKIPPED,
                "no readable waiting count in " + settings.fusectl().resolve(Long.toString(c.id())) + ": "
                        + problem.orElse("its directory is missing or unreadable"));
    }

    /**
     * A single decision pass for orchestrators: scans, and when a connection has no live reader but the grace
     * period has not passed yet, waits until it has and scans again.
     *
     * @return the final decisions (one per connection in scope)
     * @throws InterruptedException if interrupted while waiting out the grace period
     */
    public List<Decision> once() throws InterruptedException {
        ScanResult first = scan();
        boolean confirm = first.decisions().stream().anyMatch(d -> d.verdict() == Verdict.NO_READER_UNCONFIRMED);
        if (!confirm) {
            return first.decisions();
        }
        Thread.sleep(settings.grace().toMillis() + 10);
        return scan().decisions();
    }

    /**
     * Scans every {@code interval} until {@code stop} says so, handing every changed decision to
     * {@code sink}. A scan that throws is logged and the loop goes on.
     *
     * @param interval time between the starts of two scans
     * @param sink     receives the decisions that changed
     * @param stop     checked before each scan
     * @throws InterruptedException if interrupted while sleeping
     */
    public void run(Duration interval, Consumer<Decision> sink, BooleanSupplier stop) throws InterruptedException {
        while (!stop.getAsBoolean()) {
            long start = System.nanoTime();
            try {
                scan().changed().forEach(sink);
            } catch (RuntimeException e) {
                LOG.error("scan failed; going on", e);
            }
            long sleep = interval.toNanos() - (System.nanoTime() - start);
            if (sleep > 0) {
                Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
            }
        }
    }

    private MountTable readMountTable() {
        Optional<String> text = ProcFiles.read(settings.mountinfo(), MOUNTINFO_LIMIT, StandardCharsets.ISO_8859_1);
        if (text.isEmpty()) {
            LOG.warn("cannot read {}: mount points unknown", settings.mountinfo());
            return new MountTable(List.of());
        }
        return new MountTable(text.get());
    }

    /** Whether a process that holds or held the connection's /dev/fuse (or its fsname names) is in the pid ns. */
    private boolean daemonInNamespace(long id, String ns) {
        Set<Integer> pids = new HashSet<>(formerReaders.getOrDefault(id, Map.of()).keySet());
        knownFds.getOrDefault(id, List.of()).stream().filter(d -> d.connection().isPresent())
                .forEach(d -> pids.add(d.pid()));
        return pids.stream().anyMatch(p -> pidNamespaceOf(settings.proc(), p).map(ns::equals).orElse(false));
    }

    /** Cached descriptors of the connection that are still held by a live process. */
    private List<Reader> confirmCached(long id) {
        List<Reader> live = new ArrayList<>();
        for (DeviceFd d : knownFds.getOrDefault(id, List.of())) {
            if (d.connection().isEmpty()) {
                continue; // only an attributed descriptor proves a reader cheaply
            }
            if (FuseDeviceHolders.stillHeld(settings.proc(), d)
                    && FuseDeviceHolders.liveness(settings.proc(), d.pid()) == Liveness.LIVE) {
                live.add(reader(d.pid(), Liveness.LIVE, List.of(d.fd()), "fd", true));
                break;
            }
        }
        return live;
    }

    private void learn(FuseDeviceHolders.Snapshot snap, Set<Long> ids) {
        for (long id : ids) {
            List<DeviceFd> fds = snap.mayServe(id);
            knownFds.put(id, fds);
            Map<Integer, String> former = formerReaders.computeIfAbsent(id, k -> new LinkedHashMap<>());
            for (DeviceFd d : fds) {
                if (d.connection().isPresent() && !former.containsKey(d.pid())) {
                    former.put(d.pid(), comm(d.pid()));
                }
            }
        }
    }

    private void trackTasks(List<BlockedTask> tasks, Instant now) {
        Set<String> keys = new HashSet<>();
        for (BlockedTask t : tasks) {
            keys.add(t.key());
            taskFirstSeen.putIfAbsent(t.key(), now);
        }
        taskFirstSeen.keySet().retainAll(keys);
    }

    private Decision decide(Conn c, Instant now, List<Reader> cachedLive, FuseDeviceHolders.Snapshot snap,
                            List<BlockedTask> tasks) {
        List<BlockedTask> mine = tasks.stream().filter(t -> t.mayWaitOn(c.id())).toList();
        List<Duration> blockedFor = mine.stream()
                .map(t -> Duration.between(taskFirstSeen.getOrDefault(t.key(), now), now)).toList();
        boolean fdBlocked = mine.stream().anyMatch(t -> t.attribution() == BlockedTask.Attribution.FD);
        boolean candidate = c.pending() || fdBlocked;

        // Readers: live ones now, plus every earlier holder with its state now.
        List<Reader> readers = new ArrayList<>();
        Set<Integer> listed = new HashSet<>();
        if (cachedLive != null) {
            readers.addAll(cachedLive);
            cachedLive.forEach(r -> listed.add(r.pid()));
        } else if (snap != null) {
            Map<Integer, List<DeviceFd>> byPid = new TreeMap<>();
            snap.mayServe(c.id()).forEach(d -> byPid.computeIfAbsent(d.pid(), k -> new ArrayList<>()).add(d));
            byPid.forEach((pid, fds) -> {
                Liveness l = FuseDeviceHolders.liveness(settings.proc(), pid);
                readers.add(reader(pid, l, fds.stream().map(DeviceFd::fd).toList(), "fd",
                        fds.stream().allMatch(d -> d.connection().isPresent())));
                listed.add(pid);
            });
        }
        formerReaders.getOrDefault(c.id(), Map.of()).forEach((pid, comm) -> {
            if (listed.add(pid)) {
                readers.add(reader(pid, FuseDeviceHolders.liveness(settings.proc(), pid), List.of(), "earlier-scan",
                        true));
            }
        });
        c.mount().map(MountEntry::source).map(DaemonLocator::parseFsName).filter(OptionalInt::isPresent)
                .ifPresent(p -> {
                    if (listed.add(p.getAsInt())) {
                        readers.add(reader(p.getAsInt(), FuseDeviceHolders.liveness(settings.proc(), p.getAsInt()),
                                List.of(), "fsname", false));
                    }
                });
        boolean liveReader = readers.stream().anyMatch(r -> r.liveness() == Liveness.LIVE && !r.fds().isEmpty());

        if (!candidate) {
            noReaderSince.remove(c.id());
            return plain(c, now, Verdict.IDLE, readers, mine, blockedFor, Action.NONE, "no request waits");
        }
        if (liveReader) {
            noReaderSince.remove(c.id());
            Optional<String> stuck = stuck(c, now, readers, mine, blockedFor);
            if (stuck.isPresent()) {
                return act(c, now, Verdict.STUCK, readers, mine, blockedFor, stuck.get());
            }
            lastVerdict.put(c.id(), Verdict.SERVED);
            return plain(c, now, Verdict.SERVED, readers, mine, blockedFor, Action.NONE,
                    "a live process holds its /dev/fuse (pid " + readers.stream()
                            .filter(r -> r.liveness() == Liveness.LIVE && !r.fds().isEmpty()).findFirst()
                            .map(Reader::pid).orElse(-1) + ")");
        }
        if (snap == null || !snap.complete()) {
            noReaderSince.remove(c.id());
            metrics.skipped();
            return plain(c, now, Verdict.UNDECIDABLE, readers, mine, blockedFor, Action.SKIPPED,
                    snap == null ? "no /proc scan" : "incomplete /proc scan: " + snap.incompleteReason());
        }
        Optional<String> unseen = unseenNamedDaemon(c, readers);
        if (unseen.isPresent()) {
            noReaderSince.remove(c.id());
            metrics.skipped();
            return plain(c, now, Verdict.UNDECIDABLE, readers, mine, blockedFor, Action.SKIPPED, unseen.get());
        }
        Instant since = noReaderSince.computeIfAbsent(c.id(), k -> now);
        Duration without = Duration.between(since, now);
        String why = (c.pending() ? c.waiting().getAsInt() + " request(s) wait" : "a task is blocked on a file of it")
                + " and no live process holds a /dev/fuse descriptor that may serve it"
                + (snap.kernelNamesConnections() ? " (per fdinfo fuse_connection)"
                        : " (kernel does not name connections: no live /dev/fuse holder at all)")
                + ", for " + without.toMillis() + " ms";
        if (without.compareTo(settings.grace()) < 0 || since.equals(now)) {
            return plain(c, now, Verdict.NO_READER_UNCONFIRMED, readers, mine, blockedFor, Action.NONE,
                    why + "; confirming for the grace period (" + settings.grace().toMillis() + " ms)");
        }
        return act(c, now, Verdict.WEDGED, readers, mine, blockedFor, why);
    }

    /**
     * A fuseguard daemon's mount source ({@code fuseguard:PID:NAME}) names the daemon, by its pid in its own pid
     * namespace. When no process was ever seen holding a {@code /dev/fuse} descriptor attached to the connection
     * and this {@code /proc} does not show that pid dying (a zombie, or only threads in {@code do_exit}), nothing
     * shows that the daemon died: it may run where this {@code /proc} cannot see (another pid namespace, a
     * {@code /proc} that is not the host's), and the pid may name another process here. Leaving it alone may miss a
     * wedge; aborting it may kill a healthy filesystem. The reason for leaving it alone, when that is the case.
     */
    private Optional<String> unseenNamedDaemon(Conn c, List<Reader> readers) {
        OptionalInt named = c.mount().map(MountEntry::source).map(DaemonLocator::parseFsName)
                .orElse(OptionalInt.empty());
        if (named.isEmpty()) {
            return Optional.empty();
        }
        int pid = named.getAsInt();
        Liveness seen = readers.stream().filter(r -> r.pid() == pid).map(Reader::liveness).findFirst()
                .orElse(Liveness.GONE);
        boolean dying = seen == Liveness.EXITING || seen == Liveness.ZOMBIE;
        boolean holderSeen = !formerReaders.getOrDefault(c.id(), Map.of()).isEmpty()
                || readers.stream().anyMatch(r -> r.source().equals("fd") && r.attached());
        if (dying || holderSeen) {
            return Optional.empty();
        }
        return Optional.of("no process here holds a /dev/fuse descriptor that may serve it, but its mount source names"
                + " fuseguard daemon pid " + pid + ", which " + settings.proc() + (seen == Liveness.GONE
                ? " does not show" : " shows alive (holding none of its descriptors)")
                + ", and no process was ever seen holding its /dev/fuse: no evidence that the daemon died (it may run"
                + " in a pid namespace this /proc does not show); left alone");
    }

    /** The opt-in rule; the reason when it is met. */
    private Optional<String> stuck(Conn c, Instant now, List<Reader> readers, List<BlockedTask> mine,
                                   List<Duration> blockedFor) {
        if (settings.stuckLimit().isEmpty() || !c.pending()) {
            readerIo.remove(c.id());
            readerProgress.remove(c.id());
            return Optional.empty();
        }
        Duration limit = settings.stuckLimit().get();
        long io = 0;
        for (Reader r : readers) {
            if (r.liveness() == Liveness.LIVE && !r.fds().isEmpty()) {
                io += ioCount(r.pid()) * 31 + r.pid();
            }
        }
        Long before = readerIo.put(c.id(), io);
        if (before == null || before != io) {
            readerProgress.put(c.id(), now);
        }
        Duration noProgress = Duration.between(readerProgress.getOrDefault(c.id(), now), now);
        Duration waitingFor = Duration.between(waitingSince.getOrDefault(c.id(), now), now);
        Duration longest = blockedFor.stream().max(Duration::compareTo).orElse(Duration.ZERO);
        if (noProgress.compareTo(limit) >= 0 && waitingFor.compareTo(limit) >= 0 && longest.compareTo(limit) >= 0) {
            return Optional.of("stuck rule (opt-in, limit " + limit.toMillis() + " ms): requests waiting for "
                    + waitingFor.toMillis() + " ms, a task blocked for " + longest.toMillis()
                    + " ms, and its reader(s) made no read/write system call for " + noProgress.toMillis() + " ms");
        }
        return Optional.empty();
    }

    /** Read plus write system calls of a process ({@code syscr + syscw}), -1 if unreadable. */
    private long ioCount(int pid) {
        Optional<String> io = ProcFiles.read(settings.proc().resolve(Integer.toString(pid)).resolve("io"), 4096);
        if (io.isEmpty()) {
            return -1;
        }
        long sum = 0;
        for (String line : io.get().split("\n")) {
            if (line.startsWith("syscr:") || line.startsWith("syscw:")) {
                try {
                    sum += Long.parseLong(line.substring(6).trim());
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return sum;
    }

    private Decision act(Conn c, Instant now, Verdict verdict, List<Reader> readers, List<BlockedTask> mine,
                         List<Duration> blockedFor, String why) {
        if (lastVerdict.put(c.id(), verdict) != verdict) {
            metrics.wedged(verdict == Verdict.STUCK ? "stuck" : "no-live-reader");
        }
        if (settings.dryRun()) {
            if (!("" + verdict + "/" + Action.WOULD_ABORT).equals(lastEmitted.get(c.id()))) {
                metrics.wouldAbort();
            }
            return plain(c, now, verdict, readers, mine, blockedFor, Action.WOULD_ABORT, why + "; dry run");
        }
        OptionalInt waitingBefore = control.waiting(c.id());
        if (!control.exists(c.id())) {
            return plain(c, now, verdict, readers, mine, blockedFor, Action.SKIPPED,
                    why + "; but the connection went away before the abort");
        }
        long t0 = System.nanoTime();
        try {
            control.abort(c.id());
        } catch (IOException e) {
            metrics.failed();
            return plain(c, now, verdict, readers, mine, blockedFor, Action.FAILED,
                    why + "; abort failed: " + e.getMessage());
        }
        LOG.warn("aborted FUSE connection {} ({}): {}", c.id(),
                c.mount().map(m -> m.mountPoint().toString()).orElse("no mount point here"), why);
        List<BlockedTask> still = new ArrayList<>(mine);
        List<BlockedTask> released = new ArrayList<>();
        long deadline = t0 + settings.releaseWait().toNanos();
        long drainedAt = 0;
        while (true) {
            for (var it = still.iterator(); it.hasNext(); ) {
                BlockedTask t = it.next();
                if (!scanner.stillBlocked(t)) {
                    released.add(t);
                    it.remove();
                }
            }
            long n = System.nanoTime();
            if (still.isEmpty() || n - deadline >= 0) {
                break;
            }
            OptionalInt w = control.waiting(c.id());
            if (w.isEmpty() || w.getAsInt() == 0) {
                if (drainedAt == 0) {
                    drainedAt = n;
                } else if (n - drainedAt >= 300_000_000L) {
                    break; // what is left waits elsewhere (it was only a candidate for this connection)
                }
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        Duration watched = Duration.ofNanos(System.nanoTime() - t0);
        metrics.aborted(released.size());
        noReaderSince.remove(c.id());
        return new Decision(now, c.id(), c.mount(), waitingBefore.isPresent() ? waitingBefore : c.waiting(), verdict,
                readers, mine, blockedFor, Action.ABORTED, why, released, still, control.waiting(c.id()),
                Optional.of(watched));
    }

    private static Decision plain(Conn c, Instant now, Verdict v, List<Reader> readers, List<BlockedTask> mine,
                                  List<Duration> blockedFor, Action a, String reason) {
        return new Decision(now, c.id(), c.mount(), c.waiting(), v, readers, mine, blockedFor, a, reason, List.of(),
                List.of(), OptionalInt.empty(), Optional.empty());
    }

    private Reader reader(int pid, Liveness l, List<Integer> fds, String source, boolean attached) {
        Optional<TaskStat> st = TaskStat.read(settings.proc().resolve(Integer.toString(pid)).resolve("stat"));
        return new Reader(pid, st.map(TaskStat::comm).orElse(""), l, st.map(TaskStat::state).orElse(' '), fds, source,
                attached);
    }

    private String comm(int pid) {
        return TaskStat.read(settings.proc().resolve(Integer.toString(pid)).resolve("stat")).map(TaskStat::comm)
                .orElse("");
    }

    /**
     * The pid namespace of a process, in the form the kernel prints ({@code pid:[4026531836]}).
     *
     * @param proc the procfs root
     * @param pid  a process
     * @return its pid namespace, or empty if it cannot be read (gone, no permission)
     */
    public static Optional<String> pidNamespaceOf(Path proc, int pid) {
        return ProcFiles.readLink(proc.resolve(Integer.toString(pid)).resolve("ns").resolve("pid"));
    }
}
