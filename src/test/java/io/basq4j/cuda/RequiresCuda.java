package io.basq4j.cuda;

import io.basq4j.tensor.Backends;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Skips each test of a class (reported one by one, with the one-line reason) where the CUDA
 * backend is not usable: no GPU, no driver, or a build without the CUDA kernels.
 */
final class RequiresCuda implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (context.getTestMethod().isEmpty()) {
            return ConditionEvaluationResult.enabled("decided per test");
        }
        return Backends.cudaAvailable() ? ConditionEvaluationResult.enabled("CUDA is usable")
                : ConditionEvaluationResult.disabled("CUDA not usable here: " + Backends.cudaProblem());
    }
}
