package io.basq4j.deploy.infer;

/**
 * A vector of floats as 16-bit integers times one power-of-two scale: {@code v[i] = q[i] * 2^e},
 * |q| <= 32767, with the smallest e that holds the vector's largest |v|. Every such value is a
 * float32 exactly, so decoding is exact; encoding rounds each value to the nearest multiple of
 * 2^e, an error of at most 2^-15 of the vector's largest magnitude (which spans 2^14 to 2^15
 * multiples). Scales are normal floats (e >= -126); an all-zero vector has scale 1.
 */
final class Scaled16 {
    static final int QMAX = 32767;
    /** The smallest exponent used (2^-126: the smallest normal float). */
    static final int MIN_EXP = -126;

    private Scaled16() {
    }

    /** The exponent e for v[off .. off + len): the smallest with every |rint(v / 2^e)| <= 32767. */
    static int exponent(float[] v, int off, int len) {
        float m = 0f;
        for (int i = off; i < off + len; i++) {
            if (!Float.isFinite(v[i])) {
                throw new IllegalArgumentException("parameter " + v[i] + " cannot be scaled to 16 bits");
            }
            m = Math.max(m, Math.abs(v[i]));
        }
        if (m == 0f) {
            return 0;
        }
        int e = Math.max(MIN_EXP, Math.getExponent(m) - 14); // m / 2^e in [2^14, 2^15)
        if (Math.rint(m / Math.scalb(1.0, e)) > QMAX) {
            e++;
        }
        return e;
    }

    /** The integers of v[off .. off + len) at exponent e. */
    static short[] encode(float[] v, int off, int len, int e) {
        short[] q = new short[len];
        double scale = Math.scalb(1.0, e);
        for (int i = 0; i < len; i++) {
            q[i] = (short) Math.rint(v[off + i] / scale);
        }
        return q;
    }

    /** q * 2^e (exact). */
    static float decode(short q, int e) {
        return (float) Math.scalb((double) q, e);
    }

    /** v[off .. off + len) rounded in place to its 16-bit scaled values. */
    static void round(float[] v, int off, int len) {
        int e = exponent(v, off, len);
        short[] q = encode(v, off, len, e);
        for (int i = 0; i < len; i++) {
            v[off + i] = decode(q[i], e);
        }
    }

    /** Whether v[off .. off + len) holds 16-bit scaled values already. */
    static boolean holds(float[] v, int off, int len) {
        float[] c = java.util.Arrays.copyOfRange(v, off, off + len);
        round(c, 0, len);
        for (int i = 0; i < len; i++) {
            if (Float.floatToIntBits(c[i]) != Float.floatToIntBits(v[off + i])) {
                return false;
            }
        }
        return true;
    }
}
