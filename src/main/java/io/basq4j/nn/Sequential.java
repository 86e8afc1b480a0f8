package io.basq4j.nn;

import io.basq4j.tensor.Tensor;

/** Children named "0", "1", ... run one after the other (each must be a {@link Layer}). */
public final class Sequential extends Module implements Layer {
    private final Layer[] layers;

    public Sequential(Module... modules) {
        layers = new Layer[modules.length];
        for (int i = 0; i < modules.length; i++) {
            if (!(modules[i] instanceof Layer l)) {
                throw new IllegalArgumentException(modules[i] + " is not a single-input layer");
            }
            layers[i] = l;
            register(Integer.toString(i), modules[i]);
        }
    }

    public int size() {
        return layers.length;
    }

    /** The i-th child. */
    @SuppressWarnings("unchecked")
    public <M extends Module> M get(int i) {
        return (M) layers[i];
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor y = x;
        for (Layer l : layers) {
            y = l.forward(y);
        }
        return y;
    }
}
