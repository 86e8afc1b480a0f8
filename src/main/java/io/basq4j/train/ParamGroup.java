package io.basq4j.train;

import io.basq4j.tensor.Tensor;
import java.util.List;

/**
 * Parameters that share optimizer settings: an L2 weight decay (added to the gradient, as
 * torch.optim does) and a learning-rate factor applied to the schedule's rate.
 */
public record ParamGroup(String name, List<String> names, List<Tensor> params, double weightDecay,
        double lrFactor) {
    public ParamGroup {
        if (names.size() != params.size()) {
            throw new IllegalArgumentException("group " + name + ": " + names.size() + " names for "
                    + params.size() + " parameters");
        }
        names = List.copyOf(names);
        params = List.copyOf(params);
    }

    public ParamGroup(String name, List<String> names, List<Tensor> params, double weightDecay) {
        this(name, names, params, weightDecay, 1.0);
    }
}
