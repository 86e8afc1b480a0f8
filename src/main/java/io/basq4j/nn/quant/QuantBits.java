package io.basq4j.nn.quant;

/** The integer ranges of the LSQ quantizers (SPEC 1.2, 1.3). */
public final class QuantBits {
    public static final int MIN_BITS = 2;
    public static final int MAX_BITS = 4;

    private QuantBits() {
    }

    public static void check(int bits) {
        if (bits < MIN_BITS || bits > MAX_BITS) {
            throw new IllegalArgumentException("bits " + bits + " outside [" + MIN_BITS + ", " + MAX_BITS + "]");
        }
    }

    /** Unsigned activation range: Qp = 2^bits - 1 (Qn = 0). */
    public static int activationQp(int bits) {
        return (1 << bits) - 1;
    }

    /** Symmetric weight range: Qp = 2^(bits-1) - 1, Qn = -Qp. */
    public static int weightQp(int bits) {
        return (1 << (bits - 1)) - 1;
    }
}
