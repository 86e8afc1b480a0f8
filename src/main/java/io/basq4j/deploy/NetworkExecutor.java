package io.basq4j.deploy;

/**
 * Runs a saved network on a batch of preprocessed inputs and returns its logits: the one thing a
 * {@link Classifier} needs from an execution engine. {@link SupernetExecutor} runs the network
 * as it was trained (fake-quantized float kernels); another engine (packed low-bit kernels, a
 * GPU) implements this interface and is chosen in {@link Classifier#executorFor(SavedModel)}.
 */
public interface NetworkExecutor extends AutoCloseable {
    /**
     * Logits of {@code n} inputs: {@code x} holds {@code n * C * H * W} floats (NCHW, the model's
     * input channels and resolution), the result {@code n * classes} floats, row-major.
     */
    float[] logits(float[] x, int n);

    /** What runs the network, for people ("the packed inference engine"). */
    String description();

    /**
     * Checks that {@code x} holds {@code n} inputs of {@code channels x size x size} floats.
     *
     * @throws IllegalArgumentException naming both counts
     */
    static void checkInput(float[] x, int n, int channels, int size) {
        long per = (long) channels * size * size;
        if (n < 1 || x.length != n * per) {
            throw new IllegalArgumentException("expected " + n + " x " + channels + "x" + size + "x" + size + " = "
                    + n * per + " floats, got " + x.length);
        }
    }

    /** Frees what the executor holds (not the model it was made from). */
    @Override
    void close();
}
