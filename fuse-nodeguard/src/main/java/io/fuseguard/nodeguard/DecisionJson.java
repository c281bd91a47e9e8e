package io.fuseguard.nodeguard;

import java.time.Duration;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The JSON form of a {@link Decision}: one object per line, fields documented in {@code docs/node-guard.md}.
 * Built with Jackson's tree model, so every string (mount points and command names are chosen by users) is
 * escaped by the library.
 */
public final class DecisionJson {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private DecisionJson() {
    }

    /**
     * The shared mapper (also for readers of the lines, e.g. tests).
     *
     * @return the mapper
     */
    public static ObjectMapper mapper() {
        return MAPPER;
    }

    /**
     * One decision as a JSON object.
     *
     * @param d the decision
     * @return the tree
     */
    public static ObjectNode toTree(Decision d) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("type", "decision");
        o.put("time", d.time().toString());
        o.put("connection", d.connection());
        if (d.mount().isPresent()) {
            o.put("mountPoint", d.mount().get().mountPoint().toString());
            o.put("fsType", d.mount().get().fsType());
            o.put("source", d.mount().get().source());
        } else {
            o.putNull("mountPoint");
            o.putNull("fsType");
            o.putNull("source");
        }
        if (d.waiting().isPresent()) {
            o.put("waiting", d.waiting().getAsInt());
        } else {
            o.putNull("waiting");
        }
        o.put("verdict", d.verdict().json());
        o.put("action", d.action().json());
        o.put("reason", d.reason());
        ArrayNode readers = o.putArray("daemons");
        for (Decision.Reader r : d.readers()) {
            ObjectNode n = readers.addObject();
            n.put("pid", r.pid());
            n.put("comm", r.comm());
            n.put("liveness", r.liveness().name().toLowerCase(java.util.Locale.ROOT));
            if (r.state() == ' ') {
                n.putNull("state");
            } else {
                n.put("state", String.valueOf(r.state()));
            }
            ArrayNode fds = n.putArray("devFuseFds");
            r.fds().forEach(fds::add);
            n.put("source", r.source());
            n.put("attachedPerFdinfo", r.attached());
        }
        ArrayNode tasks = o.putArray("blockedTasks");
        for (int i = 0; i < d.blockedTasks().size(); i++) {
            ObjectNode n = task(tasks.addObject(), d.blockedTasks().get(i));
            if (i < d.blockedFor().size()) {
                n.put("blockedForMs", d.blockedFor().get(i).toMillis());
            }
        }
        if (d.action() == Decision.Action.ABORTED) {
            ArrayNode rel = o.putArray("released");
            d.released().forEach(t -> brief(rel.addObject(), t));
            ArrayNode still = o.putArray("stillBlocked");
            d.stillBlocked().forEach(t -> brief(still.addObject(), t));
            if (d.waitingAfter().isPresent()) {
                o.put("waitingAfter", d.waitingAfter().getAsInt());
            } else {
                o.putNull("waitingAfter");
            }
            o.put("abortWatchMs", d.abortElapsed().map(Duration::toMillis).orElse(0L));
        }
        return o;
    }

    /**
     * One decision as a line of JSON.
     *
     * @param d the decision
     * @return the text, without a line break
     */
    public static String toJson(Decision d) {
        try {
            return MAPPER.writeValueAsString(toTree(d));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize a decision", e);
        }
    }

    private static ObjectNode task(ObjectNode n, BlockedTask t) {
        brief(n, t);
        n.put("state", String.valueOf(t.state()));
        n.put("exiting", t.exiting());
        n.put("wchan", t.wchan());
        ArrayNode stack = n.putArray("stack");
        t.stack().forEach(stack::add);
        n.put("kernelWait", t.stack().isEmpty() ? "wchan" : "stack");
        n.put("pidNamespace", t.pidNamespace());
        n.put("attribution", t.attribution().json());
        ArrayNode c = n.putArray("candidateConnections");
        t.connections().forEach(c::add);
        return n;
    }

    private static ObjectNode brief(ObjectNode n, BlockedTask t) {
        n.put("pid", t.pid());
        n.put("tid", t.tid());
        n.put("comm", t.comm());
        return n;
    }
}
