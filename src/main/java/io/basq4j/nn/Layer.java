package io.basq4j.nn;

import io.basq4j.tensor.Tensor;

/** A module with one input and one output. Results belong to the caller's current scope. */
public interface Layer {
    Tensor forward(Tensor x);
}
