package io.basq4j.tensor;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Time spent per backend operation: a {@link Backend} wrapper that counts calls and wall time
 * of each method (synchronizing the device after each call, so GPU times are real). For the
 * {@code bench --profile} report; it is not on any hot path unless asked for.
 */
public final class OpProfile implements InvocationHandler {
    private final Backend inner;
    private final Map<String, AtomicLong[]> stats = new ConcurrentHashMap<>();

    private OpProfile(Backend inner) {
        this.inner = inner;
    }

    /** A backend that behaves as {@code inner} and records into the returned profile. */
    public static OpProfile wrap(Backend inner) {
        return new OpProfile(inner);
    }

    public Backend backend() {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, this);
    }

    @Override
    public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
        long t0 = System.nanoTime();
        Object r;
        try {
            r = m.invoke(inner, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
        String name = m.getName();
        if (!name.equals("allocate") && !name.equals("free") && !name.equals("device") && !name.equals("allocator")
                && !name.equals("available") && !name.equals("fuses")) {
            inner.synchronize();
            AtomicLong[] s = stats.computeIfAbsent(name, k -> new AtomicLong[] {new AtomicLong(), new AtomicLong()});
            s[0].incrementAndGet();
            s[1].addAndGet(System.nanoTime() - t0);
        }
        return r;
    }

    public void reset() {
        stats.clear();
    }

    /** (operation, calls, seconds), most expensive first. */
    public List<Object[]> rows() {
        List<Object[]> out = new ArrayList<>();
        stats.forEach((k, v) -> out.add(new Object[] {k, v[0].get(), v[1].get() / 1e9}));
        out.sort((a, b) -> Double.compare((Double) b[2], (Double) a[2]));
        return out;
    }
}
