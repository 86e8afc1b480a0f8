package io.basq4j.deploy.infer;

import io.basq4j.deploy.NetworkExecutor;
import io.basq4j.deploy.SavedModel;

/**
 * A {@link NetworkExecutor} on the {@link InferenceEngine}: the saved network compiled to packed
 * integer weight codes and fused native unit kernels (CPU). Batches larger than the engine's
 * largest batch are run in pieces.
 */
public final class EngineExecutor implements NetworkExecutor {
    /** The largest batch the engine's buffers hold; larger calls are split. */
    public static final int MAX_BATCH = 64;

    private final InferenceEngine engine;

    public EngineExecutor(SavedModel model) {
        this.engine = InferenceEngine.compile(model, MAX_BATCH);
    }

    /** Whether the engine runs {@code model}: a CPU model whose weights are quantized (every finetuned network). */
    public static boolean supports(SavedModel model) {
        return model.config().device() == io.basq4j.tensor.Device.CPU && model.network().weightQuantization();
    }

    public InferenceEngine engine() {
        return engine;
    }

    @Override
    public float[] logits(float[] x, int n) {
        NetworkExecutor.checkInput(x, n, engine.inChannels(), engine.resolution());
        float[] out = new float[n * engine.classes()];
        engine.logits(x, n, out);
        return out;
    }

    @Override
    public String description() {
        return "the packed inference engine";
    }

    @Override
    public void close() {
        engine.close();
    }
}
