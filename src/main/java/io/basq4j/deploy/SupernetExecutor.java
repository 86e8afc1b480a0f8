package io.basq4j.deploy;

import io.basq4j.autograd.GradMode;
import io.basq4j.models.ModelConfig;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;

/**
 * The network of a {@link SavedModel} run by basq4j's own layers, as in training and in the
 * search (evaluation mode: running BN statistics, no dropout, fake-quantized weights and
 * activations), on the device the model was loaded to. It computes bitwise what the supernet
 * computes with the saved selection.
 */
public final class SupernetExecutor implements NetworkExecutor {
    private final SavedModel model;

    public SupernetExecutor(SavedModel model) {
        this.model = model;
    }

    @Override
    public synchronized float[] logits(float[] x, int n) {
        ModelConfig c = model.config();
        int r = c.resolution();
        NetworkExecutor.checkInput(x, n, c.inChannels(), r);
        Device dev = c.device();
        try (Scope s = Scope.open(); GradMode off = GradMode.off()) {
            Tensor in = Tensor.of(dev, x, n, c.inChannels(), r, r);
            return model.logits(in).toFloatArray();
        }
    }

    @Override
    public String description() {
        return "the training layers (evaluation mode)";
    }

    @Override
    public void close() {
        // the network belongs to the SavedModel
    }
}
