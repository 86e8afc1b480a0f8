package io.basq4j.models;

import io.basq4j.io.TensorData;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * What a supernet state's shapes say about the configuration that built it: the width-scaled
 * channel counts (the stem and each stage), from which a width multiplier and divisor can be
 * recovered, since {@link ModelConfig#scaled} is all they influence.
 */
public final class SupernetShapes {
    private SupernetShapes() {
    }

    /**
     * One width-scaled channel count: the architecture's base count, the count in the state and
     * the tensor it was read from.
     */
    public record Scaled(int base, int actual, String tensor) {
    }

    /**
     * The stem's and each stage's channel counts of a state of {@code arch}.
     *
     * @throws IllegalArgumentException when a tensor they are read from is missing
     */
    public static List<Scaled> scaledChannels(String arch, Map<String, TensorData> state) {
        List<Scaled> out = new ArrayList<>();
        String a = Models.canonical(arch);
        if (a.equals("mobilenetv2")) {
            int[][] st = MobileNetV2Supernet.STAGES;
            out.add(read(state, st[0][1], "feature.0.conv1.weight"));
            int index = 1;
            for (int s = 1; s < st.length; s++) {
                out.add(read(state, st[s][1], "feature." + index + ".bn2_last.weight"));
                index += st[s][2];
            }
        } else {
            ResNetSupernet.Variant v = a.equals("resnet18") ? ResNetSupernet.Variant.RESNET18
                    : ResNetSupernet.Variant.RESNET20;
            out.add(read(state, v.stem, "feature.0.conv1.weight"));
            int index = 1;
            for (int s = 0; s < v.widths.length; s++) {
                out.add(read(state, v.widths[s], "feature." + index + ".bn2_last.0.weight"));
                index += v.depths[s];
            }
        }
        return out;
    }

    private static Scaled read(Map<String, TensorData> state, int base, String name) {
        TensorData t = state.get(name);
        if (t == null || t.rank() < 1) {
            throw new IllegalArgumentException("no tensor " + name + " to read a channel count from");
        }
        return new Scaled(base, t.dim(0), name);
    }

    /** Whether a width multiplier and divisor give exactly these counts. */
    public static boolean reproduces(List<Scaled> counts, double width, int divisor) {
        for (Scaled s : counts) {
            if (ModelConfig.makeDivisible(s.base() * width, divisor) != s.actual()) {
                return false;
            }
        }
        return true;
    }

    /**
     * The widths worth trying for these counts, in order: {@code preferred}, the exact ratio of each
     * count to its base, then the multiples of 0.01 up to 4.
     */
    public static List<Double> candidateWidths(List<Scaled> counts, double preferred) {
        List<Double> widths = new ArrayList<>();
        widths.add(preferred);
        for (Scaled s : counts) {
            widths.add((double) s.actual() / s.base());
        }
        for (int k = 1; k <= 400; k++) {
            widths.add(k / 100.0);
        }
        return widths;
    }

    /**
     * The first (width, divisor) that gives these counts, divisors in the outer loop; null when
     * none does. Any of them builds the same network (the counts are all the width decides).
     */
    public static double[] infer(List<Scaled> counts, List<Double> widths, List<Integer> divisors) {
        for (int d : divisors) {
            for (double w : widths) {
                if (w > 0 && d >= 1 && reproduces(counts, w, d)) {
                    return new double[] {w, d};
                }
            }
        }
        return null;
    }

    /** The counts as "32/16/24/..." for messages. */
    public static String describe(List<Scaled> counts) {
        return String.join("/", counts.stream().map(s -> Integer.toString(s.actual())).toList());
    }

    /** The counts a width multiplier and divisor give, as "32/16/24/...". */
    public static String describe(List<Scaled> counts, double width, int divisor) {
        int[] c = counts.stream().mapToInt(s -> ModelConfig.makeDivisible(s.base() * width, divisor)).toArray();
        return String.join("/", Arrays.stream(c).mapToObj(Integer::toString).toList());
    }
}
