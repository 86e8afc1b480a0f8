package io.basq4j.tensor;

/**
 * The autograd record that produced a tensor (implemented by {@code io.basq4j.autograd.Node});
 * the tensor layer only carries it.
 */
public interface GradFn {
}
