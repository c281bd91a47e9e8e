package io.fuseguard.nodeguard;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * Serves a Prometheus registry over HTTP with the JDK's built-in server: {@code GET /metrics} (Prometheus text
 * format 0.0.4) and {@code GET /healthz} ({@code 200 ok} while the given health check passes, {@code 503}
 * otherwise; for liveness probes).
 */
public final class MetricsServer implements AutoCloseable {

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
     * @param bind     the address to listen on ({@code 0.0.0.0}, {@code 127.0.0.1})
     * @param port     the port (0 for any free one)
     * @param registry what {@code /metrics} shows
     * @param healthy  what {@code /healthz} asks
     * @return the running server
     * @throws IOException if the port cannot be bound
     */
    public static MetricsServer start(String bind, int port, PrometheusMeterRegistry registry, BooleanSupplier healthy)
            throws IOException {
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
        server.createContext("/", ex -> {
            try (ex) {
                send(ex, 404, "text/plain", "see /metrics and /healthz\n");
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
