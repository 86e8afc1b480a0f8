package io.basq4j.tensor;

import java.util.Arrays;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * A dense, contiguous tensor in native memory (host or device), float32 or int64.
 *
 * <p>Memory is released deterministically: by {@link #close()}, or by the {@link Scope} that
 * owns the tensor. A tensor created while a scope is open belongs to it; one created with no
 * scope open (parameters, optimizer state) belongs to the caller. Views made by
 * {@link #view(int...)} share the storage, which is freed when its last view closes.
 *
 * <p>The autograd fields ({@link #requiresGrad()}, {@link #grad()}, {@link #gradFn()}) are
 * carried here and driven by {@code io.basq4j.autograd}.
 */
public final class Tensor implements AutoCloseable {
    private final Shape shape;
    private final DType dtype;
    private final Storage storage;
    private final long offsetBytes;
    Scope owner;
    private boolean closed;
    private Pointer pointer;

    private boolean requiresGrad;
    private Tensor grad;
    private GradFn gradFn;
    private String name;

    private Tensor(Shape shape, DType dtype, Storage storage, long offsetBytes) {
        this.shape = shape;
        this.dtype = dtype;
        this.storage = storage;
        this.offsetBytes = offsetBytes;
        Scope s = Scope.current();
        if (s != null) {
            s.add(this);
            owner = s;
        }
    }

    // ------------------------------------------------------------------ creation

    /** Uninitialized tensor on {@code device}. */
    public static Tensor empty(Shape shape, DType dtype, Device device) {
        Backend b = device.backend();
        long bytes = Math.max(1, shape.numel()) * dtype.bytes();
        long addr = b.allocate(bytes);
        return new Tensor(shape, dtype, new Storage(b, addr, bytes), 0);
    }

    public static Tensor empty(Device device, int... dims) {
        return empty(Shape.of(dims), DType.F32, device);
    }

    public static Tensor zeros(Device device, int... dims) {
        Tensor t = empty(device, dims);
        t.fill(0f);
        return t;
    }

    public static Tensor full(Device device, float value, int... dims) {
        Tensor t = empty(device, dims);
        t.fill(value);
        return t;
    }

    /** A float32 tensor holding a copy of {@code data}. */
    public static Tensor of(Device device, float[] data, int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != data.length) {
            throw new IllegalArgumentException("shape " + s + " needs " + s.numel() + " values, got " + data.length);
        }
        Tensor t = empty(s, DType.F32, device);
        t.copyFrom(data);
        return t;
    }

    /** An int64 tensor holding a copy of {@code data}. */
    public static Tensor ofLongs(Device device, long[] data, int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != data.length) {
            throw new IllegalArgumentException("shape " + s + " needs " + s.numel() + " values, got " + data.length);
        }
        Tensor t = empty(s, DType.I64, device);
        try (LongPointer p = new LongPointer(data)) {
            t.backend().fromHost(p, t, (long) data.length * 8);
        }
        return t;
    }

    public static Tensor scalar(Device device, float v) {
        return of(device, new float[] {v}, 1);
    }

    // ------------------------------------------------------------------ facts

    public Shape shape() {
        return shape;
    }

    public int dim(int i) {
        return shape.dim(i);
    }

    public int rank() {
        return shape.rank();
    }

    public long numel() {
        return shape.numel();
    }

    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return storage.backend().device();
    }

    public Backend backend() {
        return storage.backend();
    }

    /** Native address of the first element. */
    public long address() {
        checkOpen();
        return storage.address() + offsetBytes;
    }

    public long bytes() {
        return numel() * dtype.bytes();
    }

    public boolean isClosed() {
        return closed;
    }

    public String name() {
        return name;
    }

    public Tensor setName(String name) {
        this.name = name;
        return this;
    }

    // ------------------------------------------------------------------ pointers for kernels

    /** A float pointer at the first element (cached; valid while the tensor is open). */
    public FloatPointer ptr() {
        if (dtype != DType.F32) {
            throw new IllegalStateException("tensor is " + dtype + ", not F32");
        }
        if (pointer == null) {
            pointer = new RawFloat(address(), numel());
        }
        return (FloatPointer) pointer;
    }

    public LongPointer longPtr() {
        if (dtype != DType.I64) {
            throw new IllegalStateException("tensor is " + dtype + ", not I64");
        }
        if (pointer == null) {
            pointer = new RawLong(address(), numel());
        }
        return (LongPointer) pointer;
    }

    public IntPointer intPtr() {
        if (dtype != DType.I32) {
            throw new IllegalStateException("tensor is " + dtype + ", not I32");
        }
        if (pointer == null) {
            pointer = new RawInt(address(), numel());
        }
        return (IntPointer) pointer;
    }

    public BytePointer bytePtr() {
        if (dtype != DType.U8) {
            throw new IllegalStateException("tensor is " + dtype + ", not U8");
        }
        if (pointer == null) {
            pointer = new RawByte(address(), numel());
        }
        return (BytePointer) pointer;
    }

    // Pointers over memory this class owns: JavaCPP never frees them.
    private static final class RawFloat extends FloatPointer {
        RawFloat(long address, long n) {
            this.address = address;
            this.limit = n;
            this.capacity = n;
        }
    }

    private static final class RawLong extends LongPointer {
        RawLong(long address, long n) {
            this.address = address;
            this.limit = n;
            this.capacity = n;
        }
    }

    private static final class RawInt extends IntPointer {
        RawInt(long address, long n) {
            this.address = address;
            this.limit = n;
            this.capacity = n;
        }
    }

    private static final class RawByte extends BytePointer {
        RawByte(long address, long n) {
            this.address = address;
            this.limit = n;
            this.capacity = n;
        }
    }

    // ------------------------------------------------------------------ data movement

    public Tensor fill(float v) {
        backend().fill(this, v);
        return this;
    }

    /** Copies {@code data} (host) into this float32 tensor. */
    public Tensor copyFrom(float[] data) {
        if (data.length != numel()) {
            throw new IllegalArgumentException("copy of " + data.length + " values into a tensor of " + numel());
        }
        try (FloatPointer p = new FloatPointer(data)) {
            backend().fromHost(p, this, bytes());
        }
        return this;
    }

    /** Copies another tensor of the same element count and type into this one (any devices). */
    public Tensor copyFrom(Tensor src) {
        if (src.numel() != numel() || src.dtype != dtype) {
            throw new IllegalArgumentException("copy of " + src.dtype + src.shape + " into " + dtype + shape);
        }
        if (src.device() == device()) {
            backend().copy(src, this);
        } else if (src.device() == Device.CPU) {
            backend().fromHost(src.ptrAny(), this, bytes());
        } else {
            src.backend().toHost(src, this.ptrAny(), bytes());
        }
        return this;
    }

    private Pointer ptrAny() {
        return switch (dtype) {
            case F32 -> ptr();
            case I64 -> longPtr();
            case I32 -> intPtr();
            case U8 -> bytePtr();
        };
    }

    public float[] toFloatArray() {
        if (dtype != DType.F32) {
            throw new IllegalStateException("tensor is " + dtype + ", not F32");
        }
        float[] out = new float[Math.toIntExact(numel())];
        try (FloatPointer p = new FloatPointer(out.length)) {
            backend().toHost(this, p, bytes());
            p.get(out);
        }
        return out;
    }

    public long[] toLongArray() {
        if (dtype != DType.I64) {
            throw new IllegalStateException("tensor is " + dtype + ", not I64");
        }
        long[] out = new long[Math.toIntExact(numel())];
        try (LongPointer p = new LongPointer(out.length)) {
            backend().toHost(this, p, bytes());
            p.get(out);
        }
        return out;
    }

    /** The single value of a one-element float tensor. */
    public float item() {
        if (numel() != 1) {
            throw new IllegalStateException("item() of a tensor with " + numel() + " elements");
        }
        return toFloatArray()[0];
    }

    /** Same storage, new shape of equal element count (no copy, no autograd). */
    public Tensor view(int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != numel()) {
            throw new IllegalArgumentException("cannot view " + shape + " as " + s);
        }
        storage.retain();
        return new Tensor(s, dtype, storage, offsetBytes);
    }

    /** A new tensor with a copy of the data (no autograd). */
    public Tensor duplicate() {
        Tensor t = empty(shape, dtype, device());
        t.copyFrom(this);
        return t;
    }

    /** A copy on {@code device} (this tensor when already there is NOT returned: always a copy). */
    public Tensor to(Device device) {
        Tensor t = empty(shape, dtype, device);
        t.copyFrom(this);
        return t;
    }

    // ------------------------------------------------------------------ autograd fields

    public boolean requiresGrad() {
        return requiresGrad;
    }

    public Tensor setRequiresGrad(boolean r) {
        this.requiresGrad = r;
        return this;
    }

    /** Accumulated gradient of a leaf (null until a backward reaches it). */
    public Tensor grad() {
        return grad;
    }

    public void setGrad(Tensor g) {
        this.grad = g;
    }

    public GradFn gradFn() {
        return gradFn;
    }

    public void setGradFn(GradFn fn) {
        this.gradFn = fn;
    }

    // ------------------------------------------------------------------ lifetime

    /**
     * Takes this tensor out of its scope: the caller now owns it and must close it. Returns this.
     */
    public Tensor detach() {
        if (owner != null) {
            owner.remove(this);
            owner = null;
        }
        return this;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("tensor " + (name == null ? "" : name + " ") + shape + " is closed");
        }
    }

    /** Releases the memory (idempotent). Closes the gradient as well. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        owner = null; // the scope skips closed tensors; no list surgery on the hot path
        pointer = null;
        gradFn = null;
        storage.release();
        if (grad != null) {
            grad.close();
            grad = null;
        }
    }

    @Override
    public String toString() {
        return "Tensor" + (name == null ? "" : "(" + name + ")") + dtype + shape + "@" + device()
                + (closed ? " closed" : "");
    }

    /** Short preview of a float tensor's first values, for messages. */
    public String preview(int n) {
        float[] a = toFloatArray();
        return Arrays.toString(Arrays.copyOf(a, Math.min(n, a.length)));
    }
}
