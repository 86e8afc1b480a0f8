package io.basq4j.tensor;

import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaGetLastError;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/** Small helpers over the CUDA runtime presets: error checks and raw device pointers. */
final class CudaRt {
    private CudaRt() {
    }

    /**
     * Throws when a CUDA runtime call returned an error (and clears it, where it is not sticky).
     * {@code call} names the call; an asynchronous fault of an earlier kernel can surface in any
     * call that synchronizes, which the callers' names say where it applies.
     */
    static void check(int err, String call) {
        if (err != 0) {
            cudaGetLastError();
            throw new IllegalStateException(call + " failed: " + errorString(err) + " (cudaError " + err + ")");
        }
    }

    static String errorString(int err) {
        try {
            return cudaGetErrorString(err).getString();
        } catch (RuntimeException e) {
            return "error " + err;
        }
    }

    /** A pointer to device memory that JavaCPP never frees. */
    static final class Dev extends Pointer {
        Dev(long address) {
            this.address = address;
        }
    }

    /** A float pointer to device memory that JavaCPP never frees. */
    static final class DevFloat extends FloatPointer {
        DevFloat(long address) {
            this.address = address;
        }
    }

    /** A double pointer to device memory that JavaCPP never frees. */
    static final class DevDouble extends DoublePointer {
        DevDouble(long address) {
            this.address = address;
        }
    }

    static Pointer dev(long address) {
        return new Dev(address);
    }
}
