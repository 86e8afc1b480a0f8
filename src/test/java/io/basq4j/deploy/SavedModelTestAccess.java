package io.basq4j.deploy;

import io.basq4j.models.Supernet;

/** Test helpers of this package for tests elsewhere. */
public final class SavedModelTestAccess {
    private SavedModelTestAccess() {
    }

    /** Every BN, clip bound and quantizer step of {@code m} set to random values that differ per branch. */
    public static void randomize(Supernet m, long seed) {
        SavedModelTest.randomize(m, seed);
    }
}
