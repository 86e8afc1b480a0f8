package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.data.FashionMnist;
import io.basq4j.deploy.SavedModel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The engine against the evaluation path on the whole Fashion-MNIST test set, for a saved model
 * given on the command line (a measurement, not part of the suite):
 *
 * <pre>
 * mvn -B -ntp -q test -Dtest=FashionAgreementTest -Dbasq4j.infer.model=runs/fashion/models/model.safetensors
 * </pre>
 *
 * Prints the disagreements, the worst logit difference and both accuracies, for the model's
 * network (float32 parameters: what {@code evaluate}, {@code predict} and
 * {@code export --format basq-packed} use) and, for information, for its compact form (16-bit
 * parameters, {@code export --int16-params}); holds the first to the acceptance bounds: top-1
 * agreement of at least 99.9% and accuracies within 0.05 points. {@code -Dbasq4j.infer.data=DIR}
 * names another IDX directory.
 */
@EnabledIfSystemProperty(named = "basq4j.infer.model", matches = ".+")
class FashionAgreementTest {
    @Test
    void engineAgreesWithTheEvaluationPathOnTheTestSet() {
        Path file = Path.of(System.getProperty("basq4j.infer.model"));
        String data = System.getProperty("basq4j.infer.data");
        FashionMnist test = FashionMnist.test(data == null ? FashionMnist.DEFAULT_DIR : Path.of(data));
        try (SavedModel m = SavedModel.load(file)) {
            PackedNetwork exact = PackedNetwork.of(m);
            EngineAgreement.Report r = EngineAgreement.measure(m, exact, test, 500);
            System.out.println("engine (float32 parameters) vs evaluation path, " + file + ": " + r);
            System.out.println("engine (int16 parameters) vs evaluation path, " + file + ": "
                    + EngineAgreement.measure(m, exact.compact(), test, 500));
            assertTrue(r.agreement() >= 99.9, r.toString());
            assertTrue(Math.abs(r.engineAccuracy() - r.evalAccuracy()) <= 0.05, r.toString());
        }
    }
}
