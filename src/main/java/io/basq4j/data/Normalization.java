package io.basq4j.data;

import java.util.Arrays;
import java.util.Locale;

/**
 * The per-channel input normalization {@code (x - mean[c]) / std[c]} of pixel values in [0, 1],
 * as torchvision's {@code Normalize} applies it.
 */
public record Normalization(float[] mean, float[] std) {
    /** ImageNet's statistics, which torchvision's pretrained weights expect. */
    public static final Normalization IMAGENET = new Normalization(ImageFolder.IMAGENET_MEAN,
            ImageFolder.IMAGENET_STD);

    public Normalization {
        if (mean.length == 0 || mean.length != std.length) {
            throw new IllegalArgumentException("normalization needs one mean and one std per channel, got "
                    + mean.length + " and " + std.length);
        }
        for (float s : std) {
            if (!(s > 0)) {
                throw new IllegalArgumentException("normalization std must be positive, got " + Arrays.toString(std));
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    /** The same mean and std for each of {@code channels} channels. */
    public static Normalization uniform(int channels, float mean, float std) {
        float[] m = new float[channels];
        float[] s = new float[channels];
        Arrays.fill(m, mean);
        Arrays.fill(s, std);
        return new Normalization(m, s);
    }

    public int channels() {
        return mean.length;
    }

    @Override
    public float[] mean() {
        return mean.clone();
    }

    @Override
    public float[] std() {
        return std.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalization n && Arrays.equals(n.mean, mean) && Arrays.equals(n.std, std);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("mean ");
        for (int c = 0; c < mean.length; c++) {
            sb.append(c == 0 ? "" : "/").append(String.format(Locale.ROOT, "%.4g", mean[c]));
        }
        sb.append(", std ");
        for (int c = 0; c < std.length; c++) {
            sb.append(c == 0 ? "" : "/").append(String.format(Locale.ROOT, "%.4g", std[c]));
        }
        return sb.toString();
    }
}
