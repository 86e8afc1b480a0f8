package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rule a saved model records against the data sets' own evaluation transforms (the inputs
 * the network was trained and measured on) and against values computed here.
 */
class PreprocessingTest {
    @TempDir
    Path dir;

    @Test
    void fashionRuleOnItsImagesGivesExactlyTheDataLoadersInput() {
        SyntheticFiles.writeFashionMnist(dir, 30, 20, 3, false);
        FashionMnist test = FashionMnist.test(dir);
        Preprocessing rule = test.preprocessing();
        assertEquals(new Preprocessing(1, 28, 28, 2, new float[] {FashionMnist.DEFAULT_MEAN},
                new float[] {FashionMnist.DEFAULT_STD}), rule);
        float[] want = new float[test.exampleSize()];
        for (int i = 0; i < test.size(); i++) {
            test.load(i, want, 0, null);
            assertArrayEquals(want, rule.apply(test.image(i)), "example " + i);
        }
    }

    @Test
    void imageFolderRuleOnItsFilesGivesExactlyItsEvaluationTransform() throws Exception {
        SyntheticFiles.ImageFolderFiles f = SyntheticFiles.writeImageFolder(dir.resolve("f"), 3, 6, 2, 5, false);
        ImageFolder val = ImageFolder.builder(f.root()).split("train").training(false).crop(24).resize(27)
                .log(new PrintStream(new ByteArrayOutputStream())).build();
        Preprocessing rule = val.preprocessing();
        assertEquals(3, rule.channels());
        assertEquals(24, rule.size());
        float[] want = new float[val.exampleSize()];
        for (int i = 0; i < val.size(); i++) { // RGB, grey, palette and RGBA files of odd sizes
            val.load(i, want, 0, null);
            assertArrayEquals(want, rule.apply(RgbImage.read(val.path(i))), val.path(i).toString());
        }
    }

    /** Pillow's convert("L") and the normalization, computed here in integers and doubles. */
    @Test
    void colourBecomesGreyByTheLumaFormulaThenIsPaddedAndNormalized() {
        Random r = new Random(8);
        int w = 28;
        int h = 28;
        byte[] rgb = new byte[w * h * 3];
        r.nextBytes(rgb);
        float mean = 0.3f;
        float std = 0.4f;
        Preprocessing rule = new Preprocessing(1, 28, 28, 3, new float[] {mean}, new float[] {std});
        float[] out = rule.apply(new RgbImage(w, h, rgb));
        assertEquals(34 * 34, out.length);
        for (int y = 0; y < 34; y++) {
            for (int x = 0; x < 34; x++) {
                int v = 0;
                if (y >= 3 && y < 31 && x >= 3 && x < 31) {
                    int p = ((y - 3) * w + (x - 3)) * 3;
                    double l = 0.299 * (rgb[p] & 0xFF) + 0.587 * (rgb[p + 1] & 0xFF) + 0.114 * (rgb[p + 2] & 0xFF);
                    int fixed = ((rgb[p] & 0xFF) * 19595 + (rgb[p + 1] & 0xFF) * 38470 + (rgb[p + 2] & 0xFF) * 7471
                            + 0x8000) >> 16;
                    assertTrue(Math.abs(fixed - l) <= 0.51, "luma " + fixed + " vs " + l);
                    v = fixed;
                }
                assertEquals((v / 255f - mean) / std, out[y * 34 + x], 0f, "(" + x + "," + y + ")");
            }
        }
    }

    @Test
    void anImageOfAnySizeBecomesTheModelsInput() {
        // a constant image stays constant whatever the resize; the crop window and the padding are where they belong
        for (int[] size : new int[][] {{45, 31}, {17, 90}, {300, 200}, {5, 7}}) {
            byte[] rgb = new byte[size[0] * size[1] * 3];
            java.util.Arrays.fill(rgb, (byte) 200);
            Preprocessing rule = new Preprocessing(1, 28, 28, 2, new float[] {0.5f}, new float[] {0.25f});
            float[] out = rule.apply(new RgbImage(size[0], size[1], rgb));
            float in = (200 / 255f - 0.5f) / 0.25f;
            float pad = (0 - 0.5f) / 0.25f;
            for (int y = 0; y < 32; y++) {
                for (int x = 0; x < 32; x++) {
                    boolean inside = y >= 2 && y < 30 && x >= 2 && x < 30;
                    assertEquals(inside ? in : pad, out[y * 32 + x], 0f, size[0] + "x" + size[1] + " (" + x + "," + y
                            + ")");
                }
            }
        }
        // a wide image: the shorter side already fits, so the centre crop takes columns 14..41 unchanged
        int w = 56;
        int h = 28;
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < 3; c++) {
                    rgb[(y * w + x) * 3 + c] = (byte) (x * 4 + c * 10 + y);
                }
            }
        }
        Preprocessing rgbRule = new Preprocessing(3, 28, 28, 0, new float[] {0, 0, 0}, new float[] {1, 1, 1});
        float[] out = rgbRule.apply(new RgbImage(w, h, rgb));
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < 28; y++) {
                for (int x = 0; x < 28; x++) {
                    assertEquals(((x + 14) * 4 + c * 10 + y & 0xFF) / 255f, out[c * 784 + y * 28 + x], 0f);
                }
            }
        }
    }

    /**
     * Random images of several sizes through one rule after another, each rule reused for a batch
     * written at offsets into one buffer, against the rule computed here in doubles: the shorter
     * side already at {@code resize} (or no resize), so the resampling is the identity and every
     * value is one source pixel (its Pillow luma for a grey rule), the centre crop placed as
     * torchvision does (round half to even, zero where the image is smaller), then {@code pad}
     * zeros, then {@code (v / 255 - mean[c]) / std[c]} with each channel's own mean and std.
     */
    @Test
    void randomImagesThroughReusedRulesMatchTheRuleComputedInDoubles() {
        Random r = new Random(20);
        float[] mean = {0.485f, 0.456f, 0.406f};
        float[] std = {0.229f, 0.224f, 0.225f};
        int[][] sizes = {{31, 26}, {26, 40}, {19, 33}, {44, 21}, {26, 26}, {13, 9}};
        for (int channels : new int[] {1, 3}) {
            for (int[] rule3 : new int[][] {{0, 20, 0}, {0, 24, 3}, {26, 21, 2}, {0, 7, 1}}) {
                int resize = rule3[0];
                int crop = rule3[1];
                int pad = rule3[2];
                Preprocessing rule = new Preprocessing(channels, resize, crop, pad, Arrays.copyOf(mean, channels),
                        Arrays.copyOf(std, channels));
                int side = crop + 2 * pad;
                int per = channels * side * side;
                float[] batch = new float[sizes.length * per + 5];
                double[][] want = new double[sizes.length][];
                for (int n = 0; n < sizes.length; n++) {
                    int w = sizes[n][0];
                    int h = sizes[n][1];
                    if (resize > 0 && Math.min(w, h) != resize) {
                        want[n] = null; // only images the resize leaves as they are
                        continue;
                    }
                    byte[] rgb = new byte[w * h * 3];
                    r.nextBytes(rgb);
                    rule.apply(new RgbImage(w, h, rgb), batch, 5 + n * per);
                    want[n] = reference(rgb, w, h, channels, crop, pad, mean, std);
                }
                int checked = 0;
                for (int n = 0; n < sizes.length; n++) {
                    if (want[n] == null) {
                        continue;
                    }
                    for (int i = 0; i < per; i++) {
                        float got = batch[5 + n * per + i];
                        double tol = 1e-6 * Math.max(1, Math.abs(want[n][i]));
                        if (!(Math.abs(got - want[n][i]) <= tol)) {
                            throw new AssertionError(channels + "-channel rule resize " + resize + " crop " + crop
                                    + " pad " + pad + ", image " + sizes[n][0] + "x" + sizes[n][1] + ", value " + i
                                    + ": " + got + " vs " + want[n][i]);
                        }
                    }
                    checked++;
                }
                assertTrue(checked >= 1, "no image checked for resize " + resize);
            }
        }
    }

    /** The rule on an image it does not resize, in doubles (see above). */
    private static double[] reference(byte[] rgb, int w, int h, int channels, int crop, int pad, float[] mean,
            float[] std) {
        int side = crop + 2 * pad;
        int left = w >= crop ? (int) Math.rint((w - crop) / 2.0) : -((crop - w) / 2);
        int top = h >= crop ? (int) Math.rint((h - crop) / 2.0) : -((crop - h) / 2);
        double[] out = new double[channels * side * side];
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < side; y++) {
                for (int x = 0; x < side; x++) {
                    int sx = x - pad + left;
                    int sy = y - pad + top;
                    boolean inCrop = x >= pad && x < pad + crop && y >= pad && y < pad + crop;
                    int v = 0;
                    if (inCrop && sx >= 0 && sx < w && sy >= 0 && sy < h) {
                        int p = (sy * w + sx) * 3;
                        int red = rgb[p] & 0xFF;
                        int green = rgb[p + 1] & 0xFF;
                        int blue = rgb[p + 2] & 0xFF;
                        v = channels == 3 ? rgb[p + c] & 0xFF
                                : (red * 19595 + green * 38470 + blue * 7471 + 0x8000) >> 16;
                    }
                    out[(c * side + y) * side + x] = (v / 255.0 - mean[c]) / std[c];
                }
            }
        }
        return out;
    }

    @Test
    void jsonRoundTripAndClearErrors() {
        Preprocessing p = new Preprocessing(3, 37, 32, 1, new float[] {0.485f, 0.456f, 0.406f},
                new float[] {0.229f, 0.224f, 0.225f});
        assertEquals(p, Preprocessing.fromJson(p.toJson()));
        Preprocessing g = new Preprocessing(1, 28, 28, 2, new float[] {0.2860f}, new float[] {0.3530f});
        assertEquals(g, Preprocessing.fromJson(g.toJson()));
        assertEquals(34, p.size());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Preprocessing.fromJson("{\"color\":\"cmyk\",\"resize\":1,\"crop\":1,\"pad\":0}"));
        assertTrue(e.getMessage().contains("valid: grey, rgb"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Preprocessing.fromJson("[1, 2]"));
        assertThrows(IllegalArgumentException.class, () -> Preprocessing.fromJson("not json"));
        assertThrows(IllegalArgumentException.class,
                () -> new Preprocessing(2, 28, 28, 0, new float[] {0, 0}, new float[] {1, 1}));
        assertThrows(IllegalArgumentException.class,
                () -> new Preprocessing(1, 28, 28, 0, new float[] {0}, new float[] {0}));
    }
}
