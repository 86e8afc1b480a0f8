package io.basq4j.parity;

/**
 * One compared tensor.
 *
 * @param group          what kind of tensor it is (logits_eval, logits_train, loss, grad, state_after, act, or
 *                       {@link Parity#TIE_GROUP} under the float32 rule)
 * @param name           its name in the golden file
 * @param error          basq4j's error: err(basq4j) against the float64 twin under the float64 rule, the relative
 *                       error against the float32 reference under the float32 rule (infinite when not comparable)
 * @param referenceError the float32 reference's own error against the float64 twin (NaN under the float32 rule)
 * @param limit          the largest error accepted
 * @param held           whether the tensor is held to the limit (only tie-affected gradients under the float32 rule
 *                       are not)
 * @param problem        a structural problem (missing, wrong shape, ...), or null
 * @param tieAffected    a gradient upstream of float-noise ReLU ties (see {@link Parity})
 */
public record Check(String group, String name, double error, double referenceError, double limit, boolean held,
        String problem, boolean tieAffected) {

    /**
     * The resolution of an error against a float64 value stored as float32 (2^-24, half a float
     * ulp relative): errors below it cannot be told apart, so ratios divide by at least this.
     */
    public static final double RESOLUTION = 0x1p-24;

    static Check problem(String group, String name, String problem) {
        return new Check(group, name, Double.POSITIVE_INFINITY, Double.NaN, 0, true, problem, false);
    }

    /** Whether it passes on its own: no structural problem and, when held, within the limit. */
    public boolean ok() {
        return problem == null && (!held || error <= limit);
    }

    /**
     * err(basq4j) / err(reference), the reference's error taken as at least {@link #RESOLUTION};
     * NaN under the float32 rule.
     */
    public double ratio() {
        return Double.isNaN(referenceError) ? Double.NaN : error / Math.max(referenceError, RESOLUTION);
    }

    /** error / limit: at most 1 for a tensor that passes. */
    public double usage() {
        return limit > 0 ? error / limit : (error == 0 ? 0 : Double.POSITIVE_INFINITY);
    }
}
