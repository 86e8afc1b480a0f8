package io.basq4j.deploy;

import io.basq4j.models.Supernet;

/** Saved-model fixtures for tests in other packages. */
public final class TestModels {
    private TestModels() {
    }

    /** Every BN, clip bound and quantizer step set to random values that differ per branch (see {@link SavedModelTest}). */
    public static void randomize(Supernet m, long seed) {
        SavedModelTest.randomize(m, seed);
    }
}
