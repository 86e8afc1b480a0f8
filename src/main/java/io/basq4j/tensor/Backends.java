package io.basq4j.tensor;

/**
 * The backend registry. The CPU backend is always there; the CUDA backend is looked up lazily
 * by class name ({@code io.basq4j.tensor.CudaBackend}) and counts as absent when its native
 * libraries or a driver are missing.
 */
public final class Backends {
    private static volatile Backend cpu;
    private static volatile Backend cuda;
    private static volatile String cudaProblem;
    private static volatile boolean cudaProbed;

    private Backends() {
    }

    public static Backend get(Device d) {
        if (d == Device.CPU) {
            return cpu();
        }
        Backend b = cuda();
        if (b == null) {
            throw new IllegalStateException("CUDA is not usable here: " + cudaProblem);
        }
        return b;
    }

    /**
     * Routes CPU tensors created from now on through a timing wrapper (see {@link OpProfile});
     * returns the profile.
     */
    public static synchronized OpProfile profileCpu() {
        OpProfile p = OpProfile.wrap(cpu());
        cpu = p.backend();
        return p;
    }

    public static Backend cpu() {
        Backend b = cpu;
        if (b == null) {
            synchronized (Backends.class) {
                if (cpu == null) {
                    cpu = new CpuBackend();
                }
                b = cpu;
            }
        }
        return b;
    }

    /** The CUDA backend, or null when it cannot run here ({@link #cudaProblem()} says why). */
    public static Backend cuda() {
        if (!cudaProbed) {
            synchronized (Backends.class) {
                if (!cudaProbed) {
                    try {
                        Class<?> c = Class.forName("io.basq4j.tensor.CudaBackend");
                        Backend b = (Backend) c.getDeclaredConstructor().newInstance();
                        if (b.available()) {
                            cuda = b;
                        } else {
                            cudaProblem = "no CUDA device";
                        }
                    } catch (ClassNotFoundException e) {
                        cudaProblem = "this build has no CUDA backend";
                    } catch (Throwable t) {
                        Throwable root = t;
                        while (root.getCause() != null) {
                            root = root.getCause();
                        }
                        cudaProblem = root.getClass().getSimpleName() + ": " + root.getMessage();
                    }
                    cudaProbed = true;
                }
            }
        }
        return cuda;
    }

    public static boolean cudaAvailable() {
        return cuda() != null;
    }

    /** Why CUDA is unavailable (null when it is available or was not probed). */
    public static String cudaProblem() {
        cuda();
        return cudaProblem;
    }
}
