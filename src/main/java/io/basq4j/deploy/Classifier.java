package io.basq4j.deploy;

import io.basq4j.data.Preprocessing;
import io.basq4j.data.RgbImage;
import io.basq4j.models.ModelConfig;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A saved model ({@link SavedModel}) that classifies: preprocessed tensors in, logits out; images
 * (files, {@link BufferedImage}s, {@link RgbImage}s) in, the top-k classes with their softmax
 * probabilities out. Images are preprocessed by the rule the model file records
 * ({@link Preprocessing}); models of other than 1 or 3 input channels take tensors only.
 *
 * <pre>{@code
 * try (Classifier c = Classifier.load(Path.of("runs/fashion/models/model.safetensors"))) {
 *     for (Classifier.Prediction p : c.classify(Path.of("shoe.png"), 3)) {
 *         System.out.println(p.label() + " " + p.probability());
 *     }
 * }
 * }</pre>
 *
 * The network runs through a {@link NetworkExecutor}; {@link #executorFor(SavedModel)} is the one
 * place that chooses it. Calls are serialized (one classification at a time per instance).
 */
public final class Classifier implements AutoCloseable {
    /** One class of a prediction: its index, its name and its softmax probability. */
    public record Prediction(int index, String label, double probability) {
    }

    private final SavedModel model;
    private final NetworkExecutor executor;

    /** A classifier over {@code model} run by {@code executor}; closing it closes both. */
    public Classifier(SavedModel model, NetworkExecutor executor) {
        this.model = model;
        this.executor = executor;
    }

    /** Loads a saved model onto the CPU (see {@link SavedModel#load} for the errors). */
    public static Classifier load(Path file) {
        return load(file, Device.CPU);
    }

    /** Loads a saved model onto {@code device}, run by the engine {@link #executorFor(SavedModel)} picks. */
    public static Classifier load(Path file, Device device) {
        return load(file, device, Engine.AUTO);
    }

    /** Which engine runs the network. */
    public enum Engine {
        /** The packed low-bit inference engine where it runs the model (CPU, quantized weights), else LAYERS. */
        AUTO,
        /** basq4j's training layers in evaluation mode ({@link SupernetExecutor}), bit for bit the search's numbers. */
        LAYERS
    }

    /**
     * The engine that runs a loaded model's network: the one place where another executor is plugged
     * in. A CPU model with quantized weights (every finetuned network) runs on the packed
     * {@link io.basq4j.deploy.infer.InferenceEngine}; anything else on the training layers.
     */
    public static NetworkExecutor executorFor(SavedModel model) {
        return executorFor(model, Engine.AUTO);
    }

    /** As {@link #executorFor(SavedModel)}, with the engine chosen. */
    public static NetworkExecutor executorFor(SavedModel model, Engine engine) {
        if (engine == Engine.AUTO && io.basq4j.deploy.infer.EngineExecutor.supports(model)) {
            return new io.basq4j.deploy.infer.EngineExecutor(model);
        }
        return new SupernetExecutor(model);
    }

    /** Loads a saved model onto {@code device}, run by {@code engine}. */
    public static Classifier load(Path file, Device device, Engine engine) {
        SavedModel m = SavedModel.load(file, device);
        try {
            return new Classifier(m, executorFor(m, engine));
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** What runs the network ({@link NetworkExecutor#description()}). */
    public String engineName() {
        return executor.description();
    }

    public SavedModel model() {
        return model;
    }

    /** Class names in label order. */
    public List<String> classNames() {
        return model.classNames();
    }

    public int classes() {
        return model.config().classes();
    }

    /** The input of one example: {channels, height, width}. */
    public int[] inputShape() {
        ModelConfig c = model.config();
        return new int[] {c.inChannels(), c.resolution(), c.resolution()};
    }

    /** The rule that turns an image into the input, or null (the model takes tensors only). */
    public Preprocessing preprocessing() {
        return model.preprocessing();
    }

    // ------------------------------------------------------------------ tensors in, logits out

    /**
     * Logits of {@code n} preprocessed inputs ({@code n * C * H * W} floats, NCHW), as
     * {@code n * classes} floats.
     */
    public synchronized float[] logits(float[] x, int n) {
        return executor.logits(x, n);
    }

    /** Logits [N, classes] of {@code x} [N, C, H, W] (a new tensor on x's device, in the caller's scope). */
    public Tensor logits(Tensor x) {
        int[] s = inputShape();
        if (x.rank() != 4 || x.dim(1) != s[0] || x.dim(2) != s[1] || x.dim(3) != s[2]) {
            throw new IllegalArgumentException("input " + x.shape() + " must be [N, " + s[0] + ", " + s[1] + ", "
                    + s[2] + "]");
        }
        int n = x.dim(0);
        return Tensor.of(x.device(), logits(x.toFloatArray(), n), n, classes());
    }

    // ------------------------------------------------------------------ images in, top-k out

    /** The {@code k} most probable classes of {@code img}, most probable first. */
    public List<Prediction> classify(RgbImage img, int k) {
        return classify(List.of(img), k).get(0);
    }

    public List<Prediction> classify(BufferedImage img, int k) {
        return classify(RgbImage.of(img), k);
    }

    /**
     * Reads and classifies an image file (PNG, JPEG, anything javax.imageio decodes).
     *
     * @throws IOException naming the file when it cannot be read or decoded
     */
    public List<Prediction> classify(Path file, int k) throws IOException {
        return classify(RgbImage.read(file), k);
    }

    /** The top-{@code k} of each image, computed as one batch. */
    public List<List<Prediction>> classify(List<RgbImage> images, int k) {
        checkK(k);
        Preprocessing p = requirePreprocessing();
        int per = p.inputSize();
        float[] x = new float[images.size() * per];
        for (int i = 0; i < images.size(); i++) {
            p.apply(images.get(i), x, i * per);
        }
        List<List<Prediction>> out = new ArrayList<>();
        if (images.isEmpty()) {
            return out;
        }
        float[] logits = logits(x, images.size());
        for (int i = 0; i < images.size(); i++) {
            out.add(topK(logits, i * classes(), k));
        }
        return out;
    }

    /** The {@code k} largest softmax probabilities of the logits row at {@code offset} (ties: lower index first). */
    public List<Prediction> topK(float[] logits, int offset, int k) {
        checkK(k);
        int n = classes();
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < n; c++) {
            max = Math.max(max, logits[offset + c]);
        }
        double[] p = new double[n];
        double sum = 0;
        for (int c = 0; c < n; c++) {
            p[c] = Math.exp(logits[offset + c] - max);
            sum += p[c];
        }
        if (!Double.isFinite(sum) || !Double.isFinite(max)) {
            throw new IllegalStateException("the network gave non-finite logits");
        }
        List<Prediction> all = new ArrayList<>(n);
        for (int c = 0; c < n; c++) {
            all.add(new Prediction(c, classNames().get(c), p[c] / sum));
        }
        all.sort(Comparator.comparingDouble((Prediction q) -> -q.probability()).thenComparingInt(Prediction::index));
        return List.copyOf(all.subList(0, k));
    }

    private void checkK(int k) {
        if (k < 1 || k > classes()) {
            throw new IllegalArgumentException("top-k " + k + " is outside [1, " + classes() + "]");
        }
    }

    /** The model's image preprocessing; an IllegalArgumentException when it records none. */
    public Preprocessing requirePreprocessing() {
        Preprocessing p = model.preprocessing();
        if (p == null) {
            throw new IllegalArgumentException(model.path() + " records no image preprocessing (a model of "
                    + model.config().inChannels() + "-channel input takes tensors only; images are converted to "
                    + "1 (grey) or 3 (RGB) channels)");
        }
        return p;
    }

    @Override
    public void close() {
        try {
            executor.close();
        } finally {
            model.close();
        }
    }

    @Override
    public String toString() {
        return "Classifier[" + model + "]";
    }
}
