package io.basq4j.kernels;

/** Helpers shared by the kernel bindings: error codes to exceptions. */
public final class Kernels {
    private Kernels() {
    }

    /** Throws {@link KernelException} when {@code code} is not {@link CpuKernels#OK}. */
    public static void check(int code, String kernel) {
        if (code != CpuKernels.OK) {
            throw new KernelException(kernel, code);
        }
    }

    /** Human-readable name of a kernel error code. */
    public static String describe(int code) {
        return switch (code) {
            case CpuKernels.OK -> "ok";
            case CpuKernels.EINVAL -> "invalid size or argument";
            case CpuKernels.EUNSUPPORTED -> "unsupported by this build";
            case CpuKernels.EDEVICE -> "device error";
            default -> "error " + code;
        };
    }

    /** A kernel returned an error code. */
    public static final class KernelException extends RuntimeException {
        private final int code;

        public KernelException(String kernel, int code) {
            super(kernel + " failed: " + describe(code));
            this.code = code;
        }

        public int code() {
            return code;
        }
    }
}
