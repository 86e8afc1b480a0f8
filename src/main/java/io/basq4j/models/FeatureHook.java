package io.basq4j.models;

import io.basq4j.tensor.Tensor;

/**
 * Sees each feature's output during a forward (feature 0 is the stem; the reference's
 * {@code act.feature.i}). The tensor belongs to the forward's scope: copy what must outlive it.
 */
@FunctionalInterface
public interface FeatureHook {
    void accept(int feature, Tensor output);
}
