package io.basq4j.tensor;

/**
 * The CUDA backend cannot run here: no kernel library in this build, no NVIDIA driver, no
 * device, or a CUDA library that does not load. The message is one line that says which.
 */
public final class CudaUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CudaUnavailableException(String message) {
        super(message);
    }

    /** A one-line reason from a load failure of {@code what} (e.g. "the CUDA runtime"). */
    static CudaUnavailableException fromLoadFailure(String what, Throwable t) {
        StringBuilder all = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            all.append(' ').append(c.getMessage());
            for (Throwable s : c.getSuppressed()) {
                all.append(' ').append(s.getMessage());
            }
        }
        String text = all.toString();
        if (text.contains("libcuda.so")) {
            return new CudaUnavailableException(what + " did not load: no NVIDIA driver here (libcuda.so.1 not found)");
        }
        Throwable root = t;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        String msg = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        msg = msg.strip();
        int nl = msg.indexOf('\n');
        if (nl >= 0) {
            msg = msg.substring(0, nl);
        }
        if (msg.length() > 200) {
            msg = msg.substring(0, 200) + "...";
        }
        return new CudaUnavailableException(what + " did not load: " + msg);
    }
}
