package io.basq4j.search;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * The evolution search of SPEC 6 for one fold: a population of P architectures, the top T as
 * parents, M mutants (each gene resampled with probability p) and X crossovers (each gene from
 * one of two random parents) per generation, filled up with random ones, for E generations.
 * Every candidate is new (never evaluated before in this search); breeding a kind gives up after
 * 10x its count in tries. Deterministic for a seed.
 */
public final class Evolution {
    /** Search settings (SPEC 6 defaults: 45, 10, 15, 15, 0.1, 20). */
    public record Settings(int population, int parents, int mutations, int crossovers, double mutationProb,
            int generations) {
        public static Settings paper() {
            return new Settings(45, 10, 15, 15, 0.1, 20);
        }

        public Settings {
            // (no "this" here: the record's fields are not assigned yet)
            String bad = population <= 0 ? "population " + population + " (must be at least 1)"
                    : parents <= 0 ? "parents " + parents + " (must be at least 1)"
                    : mutations < 0 ? "mutations " + mutations + " (must be at least 0)"
                    : crossovers < 0 ? "crossovers " + crossovers + " (must be at least 0)"
                    : generations < 0 ? "generations " + generations + " (must be at least 0)"
                    : !(mutationProb >= 0 && mutationProb <= 1) ? "mutation probability " + mutationProb
                            + " (must be in [0, 1])"
                    : null;
            if (bad != null) {
                throw new IllegalArgumentException("invalid evolution setting: " + bad);
            }
        }
    }

    /** The outcome: the best architecture, its fitness, and how many were evaluated. */
    public record Result(Architecture best, double fitness, int evaluated, List<Double> bestPerGeneration) {
    }

    /** Progress callback after each generation. */
    public interface Listener {
        void generation(int gen, int total, Architecture best, double fitness, int evaluated);
    }

    private final Settings s;
    private final int units;
    private final int choices;
    private final Random rnd;
    private final ToDoubleFunction<Architecture> fitness;
    private final Map<Architecture, Double> memo = new HashMap<>();

    public Evolution(Settings s, int units, int choices, long seed, ToDoubleFunction<Architecture> fitness) {
        this.s = s;
        this.units = units;
        this.choices = choices;
        this.rnd = new Random(seed);
        this.fitness = fitness;
    }

    private double eval(Architecture a) {
        return memo.computeIfAbsent(a, fitness::applyAsDouble);
    }

    private boolean fresh(Architecture a, Set<Architecture> batch) {
        return !memo.containsKey(a) && !batch.contains(a);
    }

    public Result run(Listener listener) {
        long space = 1;
        for (int i = 0; i < units && space < Long.MAX_VALUE / Math.max(1, choices); i++) {
            space *= choices;
        }
        List<Architecture> top = new ArrayList<>();
        List<Double> bestPerGen = new ArrayList<>();
        Comparator<Architecture> byFitness = Comparator.comparingDouble((Architecture a) -> -memo.get(a));
        Set<Architecture> candidates = new LinkedHashSet<>();
        fillRandom(candidates, space);
        evaluateAll(candidates);
        for (int gen = 0; gen < s.generations(); gen++) {
            top = mergeTop(top, candidates, byFitness);
            bestPerGen.add(memo.get(top.get(0)));
            if (listener != null) {
                listener.generation(gen + 1, s.generations(), top.get(0), memo.get(top.get(0)), memo.size());
            }
            Set<Architecture> next = new LinkedHashSet<>();
            breed(next, top, s.mutations(), true);
            breed(next, top, s.crossovers(), false);
            fillRandom(next, space);
            candidates = next;
            evaluateAll(candidates);
        }
        top = mergeTop(top, candidates, byFitness);
        Architecture best = top.get(0);
        return new Result(best, memo.get(best), memo.size(), bestPerGen);
    }

    private void evaluateAll(Set<Architecture> cands) {
        for (Architecture a : cands) {
            eval(a);
        }
    }

    private List<Architecture> mergeTop(List<Architecture> top, Set<Architecture> cands,
            Comparator<Architecture> byFitness) {
        Set<Architecture> all = new LinkedHashSet<>(top);
        all.addAll(cands);
        List<Architecture> sorted = new ArrayList<>(all);
        sorted.sort(byFitness); // stable: earlier entries win ties
        return new ArrayList<>(sorted.subList(0, Math.min(s.parents(), sorted.size())));
    }

    private void breed(Set<Architecture> out, List<Architecture> top, int count, boolean mutate) {
        int made = 0;
        for (int tries = 0; made < count && tries < 10 * count && !top.isEmpty(); tries++) {
            Architecture child;
            if (mutate) {
                int[] g = top.get(rnd.nextInt(top.size())).genes();
                for (int i = 0; i < units; i++) {
                    if (rnd.nextDouble() < s.mutationProb()) {
                        g[i] = rnd.nextInt(choices);
                    }
                }
                child = new Architecture(g);
            } else {
                int[] a = top.get(rnd.nextInt(top.size())).genes();
                int[] b = top.get(rnd.nextInt(top.size())).genes();
                int[] g = new int[units];
                for (int i = 0; i < units; i++) {
                    g[i] = rnd.nextBoolean() ? a[i] : b[i];
                }
                child = new Architecture(g);
            }
            if (fresh(child, out)) {
                out.add(child);
                made++;
            }
        }
    }

    private void fillRandom(Set<Architecture> out, long space) {
        // Never ask for more distinct architectures than the search space holds.
        long room = space - memo.size();
        int target = (int) Math.min(s.population(), out.size() + Math.max(0, room - out.size()));
        while (out.size() < target) {
            Architecture a = Architecture.random(rnd, units, choices);
            if (fresh(a, out)) {
                out.add(a);
            }
        }
    }
}
