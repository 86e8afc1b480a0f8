package io.basq4j.nn;

import io.basq4j.autograd.F;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Shape;
import io.basq4j.tensor.Tensor;
import org.bytedeco.javacpp.LongPointer;

/**
 * Affine batch normalization over [N, C, H, W] (eps 1e-5, momentum 0.1): parameters
 * {@code weight} (ones) and {@code bias} (zeros); buffers {@code running_mean} (zeros),
 * {@code running_var} (ones, updated with the unbiased batch variance) and
 * {@code num_batches_tracked} (int64 [1], counted per training forward as PyTorch does; it does
 * not influence the fixed-momentum update).
 */
public final class BatchNorm2d extends Module implements Layer {
    public static final float EPS = 1e-5f;
    public static final float MOMENTUM = 0.1f;

    private final Parameter weight;
    private final Parameter bias;
    private final Tensor runningMean;
    private final Tensor runningVar;
    private final Tensor tracked;
    private final int channels;
    private long batches;
    private boolean dirty;
    private LongPointer host;

    public BatchNorm2d(Init init, int channels) {
        this.channels = channels;
        weight = parameter("weight", init.ones(channels));
        bias = parameter("bias", init.zeros(channels));
        runningMean = buffer("running_mean", init.zeros(channels));
        runningVar = buffer("running_var", init.ones(channels));
        Tensor t = Tensor.empty(Shape.of(1), DType.I64, init.device()).detach();
        tracked = buffer("num_batches_tracked", t);
        dirty = true;
        syncState();
    }

    public int channels() {
        return channels;
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    public Tensor runningMean() {
        return runningMean;
    }

    public Tensor runningVar() {
        return runningVar;
    }

    /** Training forwards counted so far ({@code num_batches_tracked}). */
    public long batchesTracked() {
        return batches;
    }

    /** {weight, bias, running_mean, running_var}: the tensors a fused operation takes for this layer. */
    public Tensor[] tensors() {
        return new Tensor[] {weight.tensor(), bias.tensor(), runningMean, runningVar};
    }

    /**
     * Counts a training forward done outside {@link #forward} (by a fused operation that ran this
     * layer); does nothing in evaluation mode.
     */
    public void countForward() {
        if (isTraining()) {
            batches++;
            dirty = true;
        }
    }

    @Override
    public Tensor forward(Tensor x) {
        boolean training = isTraining();
        Tensor y = F.batchNorm(x, weight.tensor(), bias.tensor(), runningMean, runningVar, training, MOMENTUM, EPS);
        if (training) {
            batches++; // written to the buffer when the state is read (no device copy per step)
            dirty = true;
        }
        return y;
    }

    @Override
    protected void syncState() {
        if (!dirty || tracked.isClosed()) {
            return;
        }
        if (host == null) {
            host = new LongPointer(1);
        }
        host.put(0, batches);
        tracked.backend().fromHost(host, tracked, 8);
        dirty = false;
    }

    @Override
    protected void stateLoaded() {
        batches = tracked.toLongArray()[0];
        dirty = false;
    }

    @Override
    public void close() {
        super.close();
        if (host != null) {
            host.close();
            host = null;
        }
    }
}
