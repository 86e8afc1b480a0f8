package io.basq4j.tensor;

import java.util.Locale;

/**
 * How far the CUDA backend may trade float32 accuracy for speed, process-wide: TF32 tensor cores
 * for convolutions, and which cuDNN algorithms a convolution may use. Plain settings that load
 * nothing (the CPU backend ignores them), read by the CUDA backend at every convolution.
 *
 * <p>TF32 (tensor cores on float32 inputs rounded to 10 bits of mantissa) moves values across
 * quantization levels, so it is a recorded choice ({@code --tf32}, {@code RunConfig.tf32}):
 * {@link Tf32#AUTO} (the default) allows it for convolutions while training, as the reference
 * (PyTorch's default, {@code torch.backends.cudnn.allow_tf32}), and not while evaluating (the
 * search's fitness, accuracies: code inside {@link #evaluation()}); {@link Tf32#ON} allows it
 * everywhere, {@link Tf32#OFF} nowhere. The linear layer's SGEMM uses TF32 only with
 * {@code -Dbasq4j.cuda.tf32.matmul=true} (PyTorch's default is off as well). Initial mode: system
 * property {@code basq4j.cuda.tf32} (auto, on, off).
 *
 * <p>Algorithms: {@link Algorithms#RANKED} takes cuDNN's heuristic ranking (the default);
 * {@link Algorithms#DIRECT_SUM} only the implicit-GEMM family, whose float32 error is that of a
 * direct sum (FFT and Winograd transforms can come close to 1e-5 of max|y|): what a comparison
 * with a reference at float32 tolerances needs ({@link #parity()}). cuDNN's deterministic
 * algorithms are required unless {@code -Dbasq4j.cuda.deterministic=false}.
 */
public final class CudaMath {
    /** When convolutions may use TF32 tensor cores. */
    public enum Tf32 {
        /** While training, not while evaluating (the default; the reference's training setting). */
        AUTO,
        /** Always. */
        ON,
        /** Never: float32 throughout. */
        OFF;

        /** auto, on, off (also true/false); throws IllegalArgumentException naming the valid values. */
        public static Tf32 parse(String s) {
            return switch (s == null ? "" : s.trim().toLowerCase(Locale.ROOT)) {
                case "auto" -> AUTO;
                case "on", "true" -> ON;
                case "off", "false" -> OFF;
                default -> throw new IllegalArgumentException("unknown TF32 mode '" + s + "' (valid: auto, on, off)");
            };
        }

        /** The lower-case name, as --tf32 takes it. */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Which cuDNN convolution algorithms may run. */
    public enum Algorithms {
        /** cuDNN's heuristic ranking, falling back down the list. */
        RANKED,
        /** Implicit GEMM only: a direct sum's float32 error. */
        DIRECT_SUM
    }

    private static volatile Tf32 tf32 = Tf32.parse(System.getProperty("basq4j.cuda.tf32", "auto"));
    private static volatile Algorithms algorithms = Algorithms.RANKED;
    private static volatile boolean deterministic =
            !"false".equalsIgnoreCase(System.getProperty("basq4j.cuda.deterministic", "true"));
    private static final boolean MATMUL_TF32 = Boolean.getBoolean("basq4j.cuda.tf32.matmul");
    private static final ThreadLocal<int[]> EVALUATING = ThreadLocal.withInitial(() -> new int[1]);

    private CudaMath() {
    }

    public static Tf32 tf32() {
        return tf32;
    }

    public static void setTf32(Tf32 mode) {
        tf32 = java.util.Objects.requireNonNull(mode);
    }

    public static Algorithms algorithms() {
        return algorithms;
    }

    public static void setAlgorithms(Algorithms a) {
        algorithms = java.util.Objects.requireNonNull(a);
    }

    /** Whether cuDNN must use deterministic algorithms (default true). */
    public static boolean deterministic() {
        return deterministic;
    }

    public static void setDeterministic(boolean on) {
        deterministic = on;
    }

    /** Whether the calling thread is inside {@link #evaluation()}. */
    public static boolean evaluating() {
        return EVALUATING.get()[0] > 0;
    }

    /** Whether a convolution run now, on this thread, may use TF32. */
    public static boolean convTf32() {
        Tf32 m = tf32;
        return m == Tf32.ON || (m == Tf32.AUTO && !evaluating());
    }

    /** Whether the linear layer's SGEMM may use TF32 (-Dbasq4j.cuda.tf32.matmul, default false). */
    public static boolean matmulTf32() {
        return MATMUL_TF32;
    }

    /** A setting in force until close (restores what was there before). */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Marks the calling thread as evaluating (accuracies, the search's fitness) until close:
     * under {@link Tf32#AUTO} its convolutions run without TF32. Nests.
     */
    public static Scope evaluation() {
        int[] depth = EVALUATING.get();
        depth[0]++;
        return () -> depth[0]--;
    }

    /**
     * Float32 parity with a reference until close: TF32 off, direct-sum convolution algorithms
     * ({@code parity --device cuda}).
     */
    public static Scope parity() {
        Tf32 t = tf32;
        Algorithms a = algorithms;
        tf32 = Tf32.OFF;
        algorithms = Algorithms.DIRECT_SUM;
        return () -> {
            tf32 = t;
            algorithms = a;
        };
    }

    /** One line for logs and reports: "tf32 auto (convolutions while training), cuDNN ranked, deterministic". */
    public static String describe() {
        String t = switch (tf32) {
            case AUTO -> "auto (convolutions while training)";
            case ON -> "on (convolutions)";
            case OFF -> "off";
        };
        return "tf32 " + t + (MATMUL_TF32 ? " and matmul" : "") + ", cuDNN "
                + (algorithms == Algorithms.RANKED ? "ranked" : "direct-sum")
                + (deterministic ? ", deterministic" : "");
    }
}
