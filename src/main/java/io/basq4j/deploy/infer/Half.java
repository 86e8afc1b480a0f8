package io.basq4j.deploy.infer;

/**
 * IEEE 754 binary16 (half precision) conversions, rounding to nearest, ties to even (Java 17
 * has none). Halves hold 11 significant bits, normal exponents -14..15 (largest 65504) and
 * subnormals down to 2^-24.
 */
final class Half {
    static final float MAX = 65504f;

    private Half() {
    }

    /** The half nearest {@code f} as a float (exact in float); infinite beyond the half range. */
    static float round(float f) {
        return toFloat(toBits(f));
    }

    /** The bit pattern of the half nearest {@code f}. */
    static short toBits(float f) {
        int sign = Float.floatToRawIntBits(f) >>> 16 & 0x8000;
        float a = Math.abs(f);
        if (Float.isNaN(f)) {
            return (short) (sign | 0x7E00);
        }
        // the spacing of halves around a: 2^(e - 10) for normals, 2^-24 for subnormals
        int e = Math.getExponent(a);
        float quantum = Math.scalb(1f, Math.max(e, -14) - 10);
        float r = (float) Math.rint(a / quantum) * quantum; // exact scaling by a power of two
        if (r > MAX || Float.isInfinite(a)) {
            return (short) (sign | 0x7C00);
        }
        if (r == 0f) {
            return (short) sign;
        }
        int re = Math.getExponent(r);
        if (re < -14) {
            return (short) (sign | (int) (r / Math.scalb(1f, -24))); // subnormal: mantissa in units of 2^-24
        }
        int mant = (int) (r / Math.scalb(1f, re - 10)) - 1024;
        return (short) (sign | (re + 15) << 10 | mant);
    }

    /** The float value of a half bit pattern. */
    static float toFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = bits >>> 15;
        int exp = bits >>> 10 & 0x1F;
        int mant = bits & 0x3FF;
        float v;
        if (exp == 0) {
            v = mant * Math.scalb(1f, -24);
        } else if (exp == 31) {
            v = mant == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
        } else {
            v = (1024 + mant) * Math.scalb(1f, exp - 25);
        }
        return sign == 1 ? -v : v;
    }
}
