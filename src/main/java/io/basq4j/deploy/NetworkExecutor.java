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

    /** Frees what the executor holds (not the model it was made from). */
    @Override
    void close();
}
