package io.basq4j.tensor;

import java.util.Locale;

/** Where a tensor's memory lives. */
public enum Device {
    CPU, CUDA;

    /** Parses "cpu", "cuda" or "auto" (CUDA when a GPU is usable, else CPU). */
    public static Device parse(String s) {
        switch (s.toLowerCase(Locale.ROOT)) {
            case "cpu":
                return CPU;
            case "cuda":
                return CUDA;
            case "auto":
                return Backends.cudaAvailable() ? CUDA : CPU;
            default:
                throw new IllegalArgumentException("unknown device '" + s + "' (valid: cpu, cuda, auto)");
        }
    }

    public Backend backend() {
        return Backends.get(this);
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
