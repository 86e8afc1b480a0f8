package io.basq4j.data;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Installs a data set that ships as a Debian package when it is missing from its default place:
 * only when running as root with {@code apt-get} on the PATH, and only for the default directory
 * (a directory the user named is never "repaired"). Set the system property
 * {@value #AUTO_INSTALL_PROPERTY}{@code =false} to turn this off.
 */
public final class DatasetInstaller {
    /** System property: {@code false} turns automatic installation off. */
    public static final String AUTO_INSTALL_PROPERTY = "basq4j.data.autoInstall";

    private static final long TIMEOUT_MINUTES = 15;

    private DatasetInstaller() {}

    /** Whether automatic installation is allowed by {@value #AUTO_INSTALL_PROPERTY}. */
    public static boolean autoInstallEnabled() {
        return !"false".equalsIgnoreCase(System.getProperty(AUTO_INSTALL_PROPERTY, "true"));
    }

    /** Whether this process runs as root (real uid 0, from /proc/self/status, else {@code id -u}). */
    public static boolean isRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.UTF_8)) {
                if (line.startsWith("Uid:")) {
                    String[] f = line.substring(4).trim().split("\\s+");
                    return f.length > 0 && f[0].equals("0");
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux, or no /proc: ask id
        }
        try {
            Process p = new ProcessBuilder("id", "-u").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 && out.equals("0");
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The apt-get executable on the PATH, or null. */
    public static Path aptGet() {
        String path = System.getenv("PATH");
        List<String> dirs = new ArrayList<>(List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin"));
        if (path != null) {
            dirs.addAll(0, List.of(path.split(java.io.File.pathSeparator)));
        }
        for (String d : dirs) {
            if (d.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(d, "apt-get");
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    /** Whether {@link #install} may be tried here: enabled, root, apt-get present. */
    public static boolean canInstall() {
        return autoInstallEnabled() && isRoot() && aptGet() != null;
    }

    /**
     * Runs {@code apt-get install -y PACKAGE}, and when that fails {@code apt-get update} and the
     * install again, printing one line to {@code log} that it does so. apt-get's own output is
     * captured, and its last lines are in the exception when the install fails.
     *
     * @throws DataException if the install fails or is not possible here
     */
    public static void install(String debianPackage, String why, PrintStream log) {
        Path apt = aptGet();
        if (apt == null || !isRoot()) {
            throw new DataException("cannot install " + debianPackage + ": needs root and apt-get");
        }
        log.println("basq4j: " + why + "; installing it: apt-get install -y " + debianPackage);
        log.flush();
        Result first = run(List.of(apt.toString(), "install", "-y", debianPackage));
        if (first.ok) {
            return;
        }
        Result update = run(List.of(apt.toString(), "update"));
        Result second = update.ok ? run(List.of(apt.toString(), "install", "-y", debianPackage)) : update;
        if (!second.ok) {
            throw new DataException("apt-get install -y " + debianPackage + " failed: " + second.tail);
        }
    }

    private record Result(boolean ok, String tail) {}

    private static Result run(List<String> command) {
        Path log = null;
        try {
            log = Files.createTempFile("basq4j-apt", ".log");
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
            Process p = pb.start();
            if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                return new Result(false, String.join(" ", command) + " timed out after " + TIMEOUT_MINUTES + " min");
            }
            List<String> lines = Files.readAllLines(log, StandardCharsets.ISO_8859_1);
            String tail = String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
            return new Result(p.exitValue() == 0, "exit " + p.exitValue() + ": " + tail);
        } catch (IOException e) {
            return new Result(false, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, "interrupted");
        } finally {
            if (log != null) {
                try {
                    Files.deleteIfExists(log);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }
}
