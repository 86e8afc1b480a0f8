package io.basq4j.io;

import java.util.Arrays;

/**
 * A plain host-side tensor as stored in a checkpoint: a dtype, a shape and a dense row-major
 * (C-order) array of elements. A 0-d tensor has shape {@code []} and one element.
 *
 * <p>Instances are immutable in their dtype and shape. The data array is not copied by the
 * factories nor by {@link #f32()}/{@link #i64()}: the caller hands over and receives the backing
 * array and must not modify it while the tensor is shared.
 */
public final class TensorData {

    /** Element types supported by the checkpoint formats. */
    public enum DType {
        /** 32-bit IEEE float. */
        F32(4),
        /** 64-bit signed integer. */
        I64(8),
        /** 8-bit unsigned integer (raw bytes, e.g. bit-packed codes). */
        U8(1),
        /** 16-bit signed integer. */
        I16(2);

        private final int byteSize;

        DType(int byteSize) {
            this.byteSize = byteSize;
        }

        /** Bytes per element. */
        public int byteSize() {
            return byteSize;
        }
    }

    private final DType dtype;
    private final int[] shape;
    private final float[] f32;
    private final long[] i64;
    private final byte[] u8;
    private final short[] i16;

    private TensorData(DType dtype, int[] shape, float[] f32, long[] i64) {
        this(dtype, shape, f32, i64, null, null);
    }

    private TensorData(DType dtype, int[] shape, float[] f32, long[] i64, byte[] u8, short[] i16) {
        this.dtype = dtype;
        this.shape = shape;
        this.f32 = f32;
        this.i64 = i64;
        this.u8 = u8;
        this.i16 = i16;
    }

    /** A float32 tensor; {@code data.length} must equal the product of {@code shape}. */
    public static TensorData ofFloat(int[] shape, float[] data) {
        if (data == null) {
            throw new IllegalArgumentException("data is null");
        }
        int[] s = checkedShape(shape, data.length);
        return new TensorData(DType.F32, s, data, null);
    }

    /** An int64 tensor; {@code data.length} must equal the product of {@code shape}. */
    public static TensorData ofLong(int[] shape, long[] data) {
        if (data == null) {
            throw new IllegalArgumentException("data is null");
        }
        int[] s = checkedShape(shape, data.length);
        return new TensorData(DType.I64, s, null, data);
    }

    /** A uint8 tensor (bytes as stored; Java's signed bytes hold them unchanged). */
    public static TensorData ofBytes(int[] shape, byte[] data) {
        if (data == null) {
            throw new IllegalArgumentException("data is null");
        }
        int[] s = checkedShape(shape, data.length);
        return new TensorData(DType.U8, s, null, null, data, null);
    }

    /** An int16 tensor. */
    public static TensorData ofShorts(int[] shape, short[] data) {
        if (data == null) {
            throw new IllegalArgumentException("data is null");
        }
        int[] s = checkedShape(shape, data.length);
        return new TensorData(DType.I16, s, null, null, null, data);
    }

    /** Number of elements implied by {@code shape} (1 for {@code []}); throws if a dim is negative. */
    public static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
            if (n > Integer.MAX_VALUE) {
                // keep counting would overflow; any larger value is equally invalid for a Java array
                n = (long) Integer.MAX_VALUE + 1;
            }
        }
        return n;
    }

    private static int[] checkedShape(int[] shape, int length) {
        if (shape == null) {
            throw new IllegalArgumentException("shape is null");
        }
        long n = numel(shape);
        if (n != length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n
                    + " elements but data has " + length);
        }
        return shape.clone();
    }

    /** The element type. */
    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape ({@code []} for a 0-d tensor). */
    public int[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code i}. */
    public int dim(int i) {
        return shape[i];
    }

    /** Number of elements. */
    public int numel() {
        return switch (dtype) {
            case F32 -> f32.length;
            case I64 -> i64.length;
            case U8 -> u8.length;
            case I16 -> i16.length;
        };
    }

    /** The backing float array (not a copy); throws if the dtype is not F32. */
    public float[] f32() {
        if (dtype != DType.F32) {
            throw new IllegalStateException("tensor is " + dtype + " " + shapeString() + ", not F32");
        }
        return f32;
    }

    /** The backing long array (not a copy); throws if the dtype is not I64. */
    public long[] i64() {
        if (dtype != DType.I64) {
            throw new IllegalStateException("tensor is " + dtype + " " + shapeString() + ", not I64");
        }
        return i64;
    }

    /** The backing byte array (not a copy); throws if the dtype is not U8. */
    public byte[] u8() {
        if (dtype != DType.U8) {
            throw new IllegalStateException("tensor is " + dtype + " " + shapeString() + ", not U8");
        }
        return u8;
    }

    /** The backing short array (not a copy); throws if the dtype is not I16. */
    public short[] i16() {
        if (dtype != DType.I16) {
            throw new IllegalStateException("tensor is " + dtype + " " + shapeString() + ", not I16");
        }
        return i16;
    }

    /** The same data viewed with another shape of equal element count (e.g. {@code []} to {@code [1]}). */
    public TensorData withShape(int[] newShape) {
        return switch (dtype) {
            case F32 -> ofFloat(newShape, f32);
            case I64 -> ofLong(newShape, i64);
            case U8 -> ofBytes(newShape, u8);
            case I16 -> ofShorts(newShape, i16);
        };
    }

    /** The shape as text, e.g. {@code [2, 3, 5, 5]} or {@code []}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }

    /** Same dtype, shape and elements (floats compared by bit pattern, as {@link Arrays#equals}). */
    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof TensorData)) {
            return false;
        }
        TensorData t = (TensorData) o;
        return dtype == t.dtype && Arrays.equals(shape, t.shape)
                && Arrays.equals(f32, t.f32) && Arrays.equals(i64, t.i64) && Arrays.equals(u8, t.u8)
                && Arrays.equals(i16, t.i16);
    }

    @Override
    public int hashCode() {
        int h = dtype.hashCode() * 31 + Arrays.hashCode(shape);
        return h * 31 + Arrays.hashCode(f32) + Arrays.hashCode(i64) + Arrays.hashCode(u8) + Arrays.hashCode(i16);
    }

    @Override
    public String toString() {
        return "TensorData(" + dtype + " " + shapeString() + ")";
    }
}
