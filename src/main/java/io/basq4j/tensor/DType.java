package io.basq4j.tensor;

/** Element types: float32 for data, int64 for labels, int32 and uint8 for kernel-side indices and masks. */
public enum DType {
    F32(4), I64(8), I32(4), U8(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }
}
