package io.basq4j.train;

/**
 * Cosine annealing from {@code base} to {@code min} over {@code total} steps
 * (torch's CosineAnnealingLR closed form): lr(t) = min + (base - min) (1 + cos(pi t / total)) / 2.
 * The caller decides what a step is (an iteration or an epoch).
 */
public record CosineSchedule(double base, double min, long total) {
    public CosineSchedule {
        if (total <= 0) {
            throw new IllegalArgumentException("cosine schedule over " + total + " steps");
        }
    }

    public CosineSchedule(double base, long total) {
        this(base, 0.0, total);
    }

    public double at(long t) {
        long c = Math.min(Math.max(t, 0), total);
        return min + (base - min) * (1 + Math.cos(Math.PI * c / total)) / 2;
    }
}
