package io.basq4j.search;

import java.util.Arrays;
import java.util.Random;

/** A selection: one branch index in [0, choices) per searched unit. Immutable, usable as a map key. */
public final class Architecture {
    private final int[] genes;

    public Architecture(int[] genes) {
        this.genes = genes.clone();
    }

    public static Architecture random(Random r, int units, int choices) {
        int[] g = new int[units];
        for (int i = 0; i < units; i++) {
            g[i] = r.nextInt(choices);
        }
        return new Architecture(g);
    }

    /** Parses "3 0 6 ..." or "[3, 0, 6, ...]" and checks length and range. */
    public static Architecture parse(String s, int units, int choices) {
        String[] parts = s.replaceAll("[\\[\\],]", " ").trim().split("\\s+");
        if (parts.length != units) {
            throw new IllegalArgumentException("architecture '" + s + "' has " + parts.length + " entries, expected "
                    + units);
        }
        int[] g = new int[units];
        for (int i = 0; i < units; i++) {
            try {
                g[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("architecture '" + s + "': '" + parts[i] + "' is not an integer");
            }
            if (g[i] < 0 || g[i] >= choices) {
                throw new IllegalArgumentException("architecture '" + s + "': entry " + g[i] + " outside [0, "
                        + choices + ")");
            }
        }
        return new Architecture(g);
    }

    public int[] genes() {
        return genes.clone();
    }

    public int size() {
        return genes.length;
    }

    public int gene(int i) {
        return genes[i];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Architecture a && Arrays.equals(genes, a.genes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(genes);
    }

    @Override
    public String toString() {
        return Arrays.toString(genes);
    }
}
