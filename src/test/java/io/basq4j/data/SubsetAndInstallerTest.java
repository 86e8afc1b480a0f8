package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SubsetAndInstallerTest {
    @Test
    void subsetViews() {
        SyntheticImages base = new SyntheticImages(40, 4, 1, 8, 8, 5);
        Subset first = Subset.first(base, 6);
        assertEquals(6, first.size());
        assertEquals(base.label(5), first.label(5));
        Subset strat = Subset.stratified(base, 8, 1);
        assertEquals(8, strat.size());
        int[] count = new int[4];
        float[] a = new float[base.exampleSize()];
        float[] b = new float[base.exampleSize()];
        for (int i = 0; i < strat.size(); i++) {
            count[(int) strat.label(i)]++;
            strat.load(i, a, 0, null);
            base.load(strat.baseIndex(i), b, 0, null);
            assertArrayEquals(b, a);
        }
        assertArrayEquals(new int[] {2, 2, 2, 2}, count);
        assertEquals(40, Subset.first(base, 100).size());
        assertThrows(IllegalArgumentException.class, () -> new Subset(base, new int[] {40}));
        assertThrows(IllegalArgumentException.class, () -> Subset.first(base, -1));
    }

    @Test
    void rootDetectionAgreesWithId() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("id", "-u").start();
        String uid = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        p.waitFor();
        assertEquals(uid.equals("0"), DatasetInstaller.isRoot());
    }

    @Test
    void autoInstallCanBeTurnedOff() {
        String old = System.getProperty(DatasetInstaller.AUTO_INSTALL_PROPERTY);
        try {
            System.setProperty(DatasetInstaller.AUTO_INSTALL_PROPERTY, "false");
            assertEquals(false, DatasetInstaller.autoInstallEnabled());
            assertEquals(false, DatasetInstaller.canInstall());
        } finally {
            if (old == null) {
                System.clearProperty(DatasetInstaller.AUTO_INSTALL_PROPERTY);
            } else {
                System.setProperty(DatasetInstaller.AUTO_INSTALL_PROPERTY, old);
            }
        }
        if (old == null) {
            assertEquals(true, DatasetInstaller.autoInstallEnabled());
        }
    }
}
