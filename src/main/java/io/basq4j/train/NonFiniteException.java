package io.basq4j.train;

/**
 * A training step met a NaN or infinite loss or gradient: the run stops, since every later
 * step (and every accuracy) would be meaningless. The message is one line: which step, where,
 * what was non-finite, and the likely cause.
 *
 * <p>There is no option to skip such a batch and go on: a training-mode forward pass has
 * already folded that batch's statistics into the batch norms' running mean and variance, so
 * leaving out the optimizer step would not undo its damage.
 */
public final class NonFiniteException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * @param step the training step, e.g. "supernet training"
     * @param what what became non-finite, e.g. "the loss"
     * @param value its value
     * @param where e.g. "phase a iteration 12"
     * @param cause the likely cause and what to do, e.g. "the learning rate --lr 0.5 is likely too large"
     */
    public NonFiniteException(String step, String what, double value, String where, String cause) {
        super(step + " stopped: " + what + " became " + value + " at " + where + "; " + cause);
    }

    /** A message already in the one-line form above. */
    public NonFiniteException(String message) {
        super(message);
    }

    /**
     * The check of a training step that keeps its losses on the device ({@link LossMeter}): the
     * gradient norm is on the host every step (clipping needs it), and a non-finite loss makes
     * the gradients non-finite too, so only then is the step's loss read back, to say which of
     * the two it was. Throws unless {@code gradNorm} is finite.
     */
    static void check(String step, LossMeter losses, double gradNorm, String where, String cause) {
        if (!Double.isFinite(gradNorm)) {
            check(step, losses.latest(), gradNorm, where, cause);
        }
    }

    /** Throws unless {@code loss} and {@code gradNorm} are finite. */
    static void check(String step, double loss, double gradNorm, String where, String cause) {
        if (!Double.isFinite(loss)) {
            throw new NonFiniteException(step, "the loss", loss, where, cause);
        }
        if (!Double.isFinite(gradNorm)) {
            throw new NonFiniteException(step, "the gradient norm", gradNorm, where, cause);
        }
    }
}
