package io.basq4j.data;

/** Seed derivation: SplitMix64 finalizers, so nearby inputs give unrelated seeds. */
final class Seeds {
    private Seeds() {}

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static long mix(long a, long b) {
        return mix(mix(a + 0x9E3779B97F4A7C15L) ^ (b * 0xC2B2AE3D27D4EB4FL + 0x165667B19E3779F9L));
    }

    static long mix(long a, long b, long c) {
        return mix(mix(a, b), c);
    }
}
