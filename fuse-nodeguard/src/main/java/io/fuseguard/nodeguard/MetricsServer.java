package io.fuseguard.nodeguard;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * Serves a Prometheus registry over HTTP with the JDK's built-in server: {@code GET /metrics} (Prometheus text
 * format 0.0.4), {@code GET /healthz} ({@code 200 ok} while the given health check passes, {@code 503}
 * otherwise; for liveness probes) and {@code GET /readyz} ({@code 200 ready}, or {@code 503} with the reason; for
 * readiness and startup probes). Bind it to {@link #LOOPBACK} unless something else must scrape it.
 */
public final class MetricsServer implements AutoCloseable {

    /** The default address: only this machine (or this pod's network namespace) can connect. */
    public static final String LOOPBACK = "127.0.0.1";

    private final HttpServer server;
    private final ExecutorService executor;

    private MetricsServer(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * A fresh Prometheus registry.
     *
     * @return the registry
     */
    public static PrometheusMeterRegistry newRegistry() {
        return new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    }

    /**
     * Starts serving.
     *
     * @param bind     the address to listen on ({@link #LOOPBACK}, {@code 0.0.0.0})
     * @param port     the port (0 for any free one)
     * @param registry what {@code /metrics} shows
     * @param healthy  what {@code /healthz} asks
     * @return the running server
     * @throws IOException if the port cannot be bound
     */
    public static MetricsServer start(String bind, int port, PrometheusMeterRegistry registry, BooleanSupplier healthy)
            throws IOException {
        return start(bind, port, registry, healthy,
                () -> healthy.getAsBoolean() ? Optional.empty() : Optional.of("not healthy"));
    }

    /**
     * Starts serving, with a readiness check of its own.
     *
     * @param bind     the address to listen on ({@link #LOOPBACK}, {@code 0.0.0.0})
     * @param port     the port (0 for any free one)
     * @param registry what {@code /metrics} shows
     * @param healthy  what {@code /healthz} asks
     * @param notReady what {@code /readyz} asks: why it is not ready, empty when it is
     * @return the running server
     * @throws IOException if the port cannot be bound
     */
    public static MetricsServer start(String bind, int port, PrometheusMeterRegistry registry, BooleanSupplier healthy,
                                      Supplier<Optional<String>> notReady) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(bind, port), 16);
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuseguard-metrics-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/metrics", ex -> {
            try (ex) {
                if (!"GET".equals(ex.getRequestMethod()) && !"HEAD".equals(ex.getRequestMethod())) {
                    send(ex, 405, "text/plain", "method not allowed\n");
                    return;
                }
                send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", registry.scrape());
            }
        });
        server.createContext("/healthz", ex -> {
            try (ex) {
                boolean ok = healthy.getAsBoolean();
                send(ex, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "the guard has not scanned recently\n");
            }
        });
        server.createContext("/readyz", ex -> {
            try (ex) {
                Optional<String> why = notReady.get();
                send(ex, why.isEmpty() ? 200 : 503, "text/plain", why.map(w -> "not ready: " + w + "\n")
                        .orElse("ready\n"));
            }
        });
        server.createContext("/", ex -> {
            try (ex) {
                send(ex, 404, "text/plain", "see /metrics, /healthz and /readyz\n");
            }
        });
        server.start();
        return new MetricsServer(server, executor);
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        boolean head = "HEAD".equals(ex.getRequestMethod());
        ex.sendResponseHeaders(status, head ? -1 : b.length);
        if (!head) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(b);
            }
        }
    }

    /**
     * The port it listens on.
     *
     * @return the port
     */
    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
