package io.basq4j.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A view of some examples of another data set, in the order of an index array; used for the fast
 * presets (the first K examples, or a deterministic class-stratified sample).
 */
public final class Subset implements Dataset {
    private final Dataset base;
    private final int[] indices;
    private final String description;

    /** A view of {@code base} at {@code indices} (copied; each in {@code [0, base.size())}). */
    public Subset(Dataset base, int[] indices) {
        this(base, indices, null);
    }

    /** As {@link #Subset(Dataset, int[])}, described in logs as {@code description} (null: the default). */
    public Subset(Dataset base, int[] indices, String description) {
        this.base = base;
        this.description = description;
        this.indices = indices.clone();
        for (int i : this.indices) {
            if (i < 0 || i >= base.size()) {
                throw new IllegalArgumentException("subset index " + i + " outside [0, " + base.size() + ")");
            }
        }
    }

    /** The first {@code k} examples of {@code base} (all of them when {@code k >= size}). */
    public static Subset first(Dataset base, int k) {
        return new Subset(base, firstIndices(base.size(), k));
    }

    /**
     * A deterministic class-stratified sample of {@code k} examples: each class gets a share
     * proportional to its frequency (largest remainders round), drawn from a shuffle seeded by
     * {@code seed}; the chosen indices keep the base order.
     */
    public static Subset stratified(Dataset base, int k, long seed) {
        long[] labels = new long[base.size()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = base.label(i);
        }
        return new Subset(base, stratifiedIndices(labels, base.classes(), k, seed));
    }

    /** {@code 0 .. min(k, n)-1}. */
    public static int[] firstIndices(int n, int k) {
        if (k < 0) {
            throw new IllegalArgumentException("subset size must be >= 0, got " + k);
        }
        int m = Math.min(k, n);
        int[] idx = new int[m];
        for (int i = 0; i < m; i++) {
            idx[i] = i;
        }
        return idx;
    }

    /** The indices of {@link #stratified}, from the labels alone (sorted ascending). */
    public static int[] stratifiedIndices(long[] labels, int classes, int k, long seed) {
        if (k < 0) {
            throw new IllegalArgumentException("subset size must be >= 0, got " + k);
        }
        int n = labels.length;
        if (k >= n) {
            return firstIndices(n, n);
        }
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            byClass.add(new ArrayList<>());
        }
        for (int i = 0; i < n; i++) {
            int c = (int) labels[i];
            if (c < 0 || c >= classes) {
                throw new IllegalArgumentException("label " + labels[i] + " of example " + i + " outside [0, " + classes + ")");
            }
            byClass.get(c).add(i);
        }
        // quotas: floor(k * count / n), then the largest remainders (ties: lower class first)
        int[] quota = new int[classes];
        long[] rem = new long[classes];
        int assigned = 0;
        for (int c = 0; c < classes; c++) {
            long num = (long) k * byClass.get(c).size();
            quota[c] = (int) (num / n);
            rem[c] = num % n;
            assigned += quota[c];
        }
        while (assigned < k) {
            int best = -1;
            for (int c = 0; c < classes; c++) {
                if (quota[c] < byClass.get(c).size() && (best < 0 || rem[c] > rem[best])) {
                    best = c;
                }
            }
            quota[best]++;
            rem[best] = -1;
            assigned++;
        }
        int[] out = new int[k];
        int pos = 0;
        for (int c = 0; c < classes; c++) {
            List<Integer> members = byClass.get(c);
            int[] arr = members.stream().mapToInt(Integer::intValue).toArray();
            Random rng = new Random(Seeds.mix(seed, c));
            for (int i = arr.length - 1; i > 0; i--) { // Fisher-Yates
                int j = rng.nextInt(i + 1);
                int t = arr[i];
                arr[i] = arr[j];
                arr[j] = t;
            }
            System.arraycopy(arr, 0, out, pos, quota[c]);
            pos += quota[c];
        }
        Arrays.sort(out);
        return out;
    }

    /** The base index of example {@code i} of this view. */
    public int baseIndex(int i) {
        return indices[i];
    }

    public Dataset base() {
        return base;
    }

    @Override
    public int size() {
        return indices.length;
    }

    @Override
    public int channels() {
        return base.channels();
    }

    @Override
    public int height() {
        return base.height();
    }

    @Override
    public int width() {
        return base.width();
    }

    @Override
    public int classes() {
        return base.classes();
    }

    @Override
    public long label(int i) {
        return base.label(indices[i]);
    }

    @Override
    public long load(int i, float[] dst, int offset, Random rng) {
        return base.load(indices[i], dst, offset, rng);
    }

    @Override
    public List<String> classNames() {
        return base.classNames();
    }

    @Override
    public Preprocessing preprocessing() {
        return base.preprocessing();
    }

    @Override
    public String describe() {
        return description != null ? description : "Subset[" + size() + " of " + base.describe() + "]";
    }
}
