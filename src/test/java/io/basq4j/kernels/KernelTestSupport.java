package io.basq4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.basq4j.testutil.Ref64;
import java.util.Random;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;

/**
 * Shared helpers for kernel tests: random inputs, Java arrays to and from JavaCPP pointers
 * (off-heap memory, as a caller embedding the kernels would use), and tolerance assertions
 * that name the worst element.
 *
 * <p>Pointers made here are freed by the garbage collector through JavaCPP's deallocator;
 * tests that allocate a lot may call {@code close()} (pointers are {@link AutoCloseable}).
 */
public final class KernelTestSupport {
    private KernelTestSupport() {
    }

    // ---------------------------------------------------------------- random inputs

    /** n standard-normal floats. */
    public static float[] randn(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    /** n standard-normal floats times scale plus shift. */
    public static float[] randn(Random rnd, int n, double scale, double shift) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * scale + shift);
        return a;
    }

    /** n floats uniform in [lo, hi). */
    public static float[] uniform(Random rnd, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        return a;
    }

    /** n longs uniform in [0, bound). */
    public static long[] randint(Random rnd, int n, int bound) {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) a[i] = rnd.nextInt(bound);
        return a;
    }

    /** Product of a shape's dimensions. */
    public static int numel(int... shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return Math.toIntExact(n);
    }

    // ---------------------------------------------------------------- pointers

    /** A new off-heap float buffer holding a copy of a. */
    public static FloatPointer ptr(float[] a) {
        FloatPointer p = new FloatPointer(Math.max(1, a.length));
        p.put(a, 0, a.length);
        return p;
    }

    /** A new off-heap float buffer of n elements, filled with NaN so that unwritten outputs show. */
    public static FloatPointer out(int n) {
        FloatPointer p = new FloatPointer(Math.max(1, n));
        for (int i = 0; i < n; i++) p.put(i, Float.NaN);
        return p;
    }

    /** A new off-heap float buffer of n zeros. */
    public static FloatPointer zeros(int n) {
        FloatPointer p = new FloatPointer(Math.max(1, n));
        for (int i = 0; i < n; i++) p.put(i, 0f);
        return p;
    }

    /** One float in an off-heap buffer (a scalar passed by pointer). */
    public static FloatPointer scalar(float v) {
        return ptr(new float[] {v});
    }

    public static LongPointer ptr(long[] a) {
        LongPointer p = new LongPointer(Math.max(1, a.length));
        p.put(a, 0, a.length);
        return p;
    }

    public static IntPointer ptr(int[] a) {
        IntPointer p = new IntPointer(Math.max(1, a.length));
        p.put(a, 0, a.length);
        return p;
    }

    public static BytePointer ptr(byte[] a) {
        BytePointer p = new BytePointer(Math.max(1, a.length));
        p.put(a, 0, a.length);
        return p;
    }

    /** The first n floats of p. */
    public static float[] get(FloatPointer p, int n) {
        float[] a = new float[n];
        p.get(a, 0, n);
        return a;
    }

    public static int[] get(IntPointer p, int n) {
        int[] a = new int[n];
        p.get(a, 0, n);
        return a;
    }

    public static long[] get(LongPointer p, int n) {
        long[] a = new long[n];
        p.get(a, 0, n);
        return a;
    }

    public static byte[] get(BytePointer p, int n) {
        byte[] a = new byte[n];
        p.get(a, 0, n);
        return a;
    }

    // ---------------------------------------------------------------- conversions

    public static double[] toDouble(float[] a) {
        return Ref64.toDouble(a);
    }

    public static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }

    public static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    public static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    // ---------------------------------------------------------------- assertions

    /** Asserts a kernel returned {@link CpuKernels#OK}. */
    public static void ok(int code, String what) {
        assertEquals(CpuKernels.OK, code, () -> what + " returned " + Kernels.describe(code));
    }

    /**
     * Asserts |expected[i] - actual[i]| <= rtol * max(1, max|expected|) for every i, and
     * that no element of actual is NaN. The scale is the whole tensor's, so values near zero
     * in a large tensor are not judged by their own size.
     */
    public static void assertClose(String what, double[] expected, float[] actual, double rtol) {
        assertClose(what, expected, actual, rtol, 0.0);
    }

    public static void assertClose(String what, float[] expected, float[] actual, double rtol) {
        assertClose(what, toDouble(expected), actual, rtol, 0.0);
    }

    /** As {@link #assertClose(String, double[], float[], double)} with an extra absolute tolerance. */
    public static void assertClose(String what, double[] expected, float[] actual, double rtol, double atol) {
        if (expected.length != actual.length) {
            fail(what + ": length " + actual.length + ", expected " + expected.length);
        }
        double scale = Math.max(1.0, maxAbs(expected));
        double tol = rtol * scale + atol;
        int worst = -1;
        double worstErr = -1;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(expected[i] - actual[i]);
            if (Double.isNaN(actual[i]) || Double.isNaN(expected[i])) err = Double.POSITIVE_INFINITY;
            if (err > worstErr) {
                worstErr = err;
                worst = i;
            }
        }
        if (worstErr > tol) {
            fail(String.format("%s: element %d is %s, expected %s (|diff| %.3g > tol %.3g; scale %.3g)", what, worst,
                    actual[worst], expected[worst], worstErr, tol, scale));
        }
    }

    /**
     * Asserts |expected[i] - actual[i]| <= rtol * max|expected|: relative to the tensor's own
     * scale even when it is far below 1 (small gradients). Fails if expected is all zero.
     */
    public static void assertCloseScaled(String what, double[] expected, float[] actual, double rtol) {
        double scale = maxAbs(expected);
        if (scale == 0.0) fail(what + ": expected is all zeros, use assertClose");
        double[] e = new double[expected.length];
        float[] a = new float[actual.length];
        for (int i = 0; i < e.length; i++) e[i] = expected[i] / scale;
        for (int i = 0; i < a.length; i++) a[i] = (float) (actual[i] / scale);
        assertClose(what + " (relative to max " + (float) scale + ")", e, a, rtol);
    }

    public static void assertCloseScaled(String what, float[] expected, float[] actual, double rtol) {
        assertCloseScaled(what, toDouble(expected), actual, rtol);
    }

    /** Asserts a scalar within rtol * max(1, |expected|). */
    public static void assertClose(String what, double expected, float actual, double rtol) {
        assertClose(what, new double[] {expected}, new float[] {actual}, rtol);
    }

    /** Asserts exact equality of every element (bitwise float equality, -0 == 0). */
    public static void assertExact(String what, float[] expected, float[] actual) {
        if (expected.length != actual.length) {
            fail(what + ": length " + actual.length + ", expected " + expected.length);
        }
        for (int i = 0; i < expected.length; i++) {
            if (!(expected[i] == actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]);
            }
        }
    }

    /** Asserts that a tensor is not trivially all zero (a test that could not fail otherwise). */
    public static void assertNonTrivial(String what, float[] a) {
        if (maxAbs(a) == 0.0) fail(what + ": all zeros, the test would not discriminate");
    }

    public static void assertNonTrivial(String what, double[] a) {
        if (maxAbs(a) == 0.0) fail(what + ": all zeros, the test would not discriminate");
    }
}
