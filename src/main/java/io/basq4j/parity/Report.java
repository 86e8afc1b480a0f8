package io.basq4j.parity;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The result of a parity run: every compared tensor, grouped, with notes and the verdict. */
public final class Report {
    /** One group's figures; the worst values are over the group's held tensors. */
    public record GroupSummary(String group, int tensors, int held, double worstError, double worstReferenceError,
            double worstRatio, double worstUsage) {
    }

    /**
     * How the float64 rule's verdict treats the gradients upstream of float-noise ReLU ties.
     *
     * @param misses          tensors that miss the per-tensor bound (structural problems included)
     * @param accepted        of those, the tie-affected gradients accepted as float-noise ties
     * @param referenceMisses tie-affected gradients where the reference, judged the other way round
     *                        (err(reference) against max(factor x err(basq4j), tolerance)), misses the bound
     * @param tieBound        the reference's own worst error over the tie-affected gradients
     */
    public record TieVerdict(List<Check> misses, List<Check> accepted, int referenceMisses, double tieBound) {
    }

    private final String header;
    private final Parity.Rule rule;
    private final String ruleLine;
    private final double factor;
    private final double tolerance;
    private final boolean perTensor;
    private final List<Check> checks = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    int tieFeature = -1;
    long tieCount;

    Report(String header, Parity.Rule rule, String ruleLine, double factor, double tolerance, boolean perTensor) {
        this.header = header;
        this.rule = rule;
        this.ruleLine = ruleLine;
        this.factor = factor;
        this.tolerance = tolerance;
        this.perTensor = perTensor;
    }

    void add(Check c) {
        checks.add(c);
    }

    void note(String n) {
        notes.add(n);
    }

    public String header() {
        return header;
    }

    /** The rule the tensors were judged by. */
    public Parity.Rule rule() {
        return rule;
    }

    public List<Check> checks() {
        return List.copyOf(checks);
    }

    public List<String> notes() {
        return List.copyOf(notes);
    }

    /** The deepest feature whose ReLU inputs had float-noise ties in the training forward (-1: none). */
    public int tieFeature() {
        return tieFeature;
    }

    /** How many ReLU inputs of {@link #tieFeature()} sit at float-noise level. */
    public long tieCount() {
        return tieCount;
    }

    /** Per group, in the order groups were first checked. */
    public Map<String, GroupSummary> groups() {
        Map<String, List<Check>> by = new LinkedHashMap<>();
        for (Check c : checks) {
            by.computeIfAbsent(c.group(), g -> new ArrayList<>()).add(c);
        }
        Map<String, GroupSummary> out = new LinkedHashMap<>();
        for (Map.Entry<String, List<Check>> e : by.entrySet()) {
            int held = 0;
            double err = 0;
            double refErr = 0;
            double ratio = 0;
            double usage = 0;
            for (Check c : e.getValue()) {
                err = Math.max(err, c.error());
                if (!c.held()) {
                    continue;
                }
                held++;
                usage = Math.max(usage, c.usage());
                if (c.problem() == null && !Double.isNaN(c.referenceError())) {
                    refErr = Math.max(refErr, c.referenceError());
                    ratio = Math.max(ratio, c.ratio());
                }
            }
            boolean f32 = rule == Parity.Rule.FLOAT32;
            out.put(e.getKey(), new GroupSummary(e.getKey(), e.getValue().size(), held, err,
                    f32 ? Double.NaN : refErr, f32 ? Double.NaN : ratio, usage));
        }
        return out;
    }

    /** The worst error of each group (basq4j's, over all its tensors). */
    public Map<String, Double> worstByGroup() {
        Map<String, Double> w = new LinkedHashMap<>();
        groups().forEach((g, s) -> w.put(g, s.worstError()));
        return w;
    }

    /** The worst error over the held tensors. */
    public double worst() {
        return maxOverHeld(Check::error);
    }

    /** The largest error / limit over the held tensors (at most 1 when all pass). */
    public double worstUsage() {
        return maxOverHeld(Check::usage);
    }

    /** The largest err(basq4j) / err(reference) over the held tensors (float64 rule; NaN otherwise). */
    public double worstRatio() {
        return rule == Parity.Rule.FLOAT32 ? Double.NaN
                : maxOverHeld(c -> c.problem() == null ? c.ratio() : 0);
    }

    private double maxOverHeld(java.util.function.ToDoubleFunction<Check> f) {
        double w = 0;
        for (Check c : checks) {
            if (c.held()) {
                w = Math.max(w, f.applyAsDouble(c));
            }
        }
        return w;
    }

    /**
     * The verdict on the tensors that miss their own bound. Under the float64 rule (unless
     * per-tensor), a tie-affected gradient that misses it is accepted when it is within the
     * reference's own worst error over the tie-affected gradients, as long as no more of them
     * are accepted than the reference misses when judged against basq4j's errors: whether an input at
     * float-noise level passes a ReLU is decided by rounding below float32 resolution, in the
     * reference as here, so which of those gradients lands near the float64 value is chance.
     */
    public TieVerdict tieVerdict() {
        List<Check> misses = new ArrayList<>();
        for (Check c : checks) {
            if (!c.ok()) {
                misses.add(c);
            }
        }
        if (rule == Parity.Rule.FLOAT32) {
            return new TieVerdict(misses, List.of(), 0, Double.NaN);
        }
        double bound = 0;
        int refMisses = 0;
        for (Check c : checks) {
            if (c.tieAffected() && c.problem() == null) {
                bound = Math.max(bound, c.referenceError());
                if (c.referenceError() > Math.max(factor * c.error(), tolerance)) {
                    refMisses++;
                }
            }
        }
        List<Check> candidates = new ArrayList<>();
        for (Check c : misses) {
            if (c.tieAffected() && c.problem() == null && c.error() <= bound) {
                candidates.add(c);
            }
        }
        boolean accept = !perTensor && candidates.size() <= refMisses;
        return new TieVerdict(misses, accept ? candidates : List.of(), refMisses, bound);
    }

    /** The tensors that fail the verdict. */
    public List<Check> failures() {
        TieVerdict v = tieVerdict();
        List<Check> f = new ArrayList<>(v.misses());
        f.removeAll(v.accepted());
        return f;
    }

    public boolean ok() {
        return failures().isEmpty();
    }

    /** The human-readable report (per-feature and closest-to-the-limit lines when verbose). */
    public String format(boolean verbose) {
        StringBuilder sb = new StringBuilder(header).append('\n');
        sb.append("rule: ").append(ruleLine).append('\n');
        boolean f64 = rule == Parity.Rule.FLOAT64;
        if (f64) {
            sb.append(String.format(Locale.ROOT, "  %-14s %7s  %12s  %12s  %11s  %10s%n", "group", "tensors",
                    "err(basq4j)", "err(ref)", "worst ratio", "err/limit"));
        } else {
            sb.append(String.format(Locale.ROOT, "  %-19s %7s  %14s%n", "group", "tensors", "worst error"));
        }
        for (GroupSummary g : groups().values()) {
            if (f64) {
                sb.append(String.format(Locale.ROOT, "  %-14s %7d  %12.3e  %12.3e  %11.2f  %10.3f%n", g.group(),
                        g.tensors(), g.worstError(), g.worstReferenceError(), g.worstRatio(), g.worstUsage()));
            } else {
                sb.append(String.format(Locale.ROOT, "  %-19s %7d  %14.3e%s%n", g.group(), g.tensors(),
                        g.worstError(), g.held() < g.tensors() ? "  (not held to the tolerance)" : ""));
            }
        }
        if (f64) {
            sb.append("  (worst over each group's tensors: err(basq4j) and err(ref) against f64.*, ratio = "
                    + "err(basq4j) / err(ref), err/limit <= 1 passes)\n");
        }
        for (String n : notes) {
            sb.append("  note: ").append(n).append('\n');
        }
        TieVerdict tv = tieVerdict();
        if (f64 && !tv.misses().isEmpty()) {
            sb.append(tieLine(tv)).append('\n');
        }
        if (verbose) {
            for (Check c : checks) {
                if (c.group().equals("act")) {
                    sb.append(line(c, f64));
                }
            }
            if (f64) {
                sb.append("  closest to their limit:\n");
                checks.stream().filter(Check::held).sorted(Comparator.comparingDouble(Check::usage).reversed())
                        .limit(10).forEach(c -> sb.append(line(c, true)));
            } else {
                for (Check c : checks) {
                    if (!c.held() && c.error() > c.limit()) {
                        sb.append(String.format(Locale.ROOT, "    %-14s %.3e (tie-affected, not held)%n", c.name(),
                                c.error()));
                    }
                }
            }
        }
        List<Check> fails = failures();
        int shown = 0;
        for (Check c : fails) {
            if (!verbose && shown == 20) {
                sb.append("  ... and ").append(fails.size() - 20)
                        .append(" more failing tensors (--verbose lists all)\n");
                break;
            }
            sb.append("  FAIL ").append(c.name()).append(": ");
            if (c.problem() != null) {
                sb.append(c.problem());
            } else if (f64) {
                sb.append(String.format(Locale.ROOT, "err %.3e > limit %.3e (reference's err %.3e)", c.error(),
                        c.limit(), c.referenceError()));
            } else {
                sb.append(String.format(Locale.ROOT, "relative error %.3e", c.error()));
            }
            sb.append('\n');
            shown++;
        }
        String verdict = ok() ? "OK" : "FAILED (" + fails.size() + " tensor" + (fails.size() == 1 ? "" : "s") + ")";
        long held = checks.stream().filter(Check::held).count();
        if (f64) {
            int accepted = tieVerdict().accepted().size();
            sb.append(String.format(Locale.ROOT,
                    "overall: %d tensors, %d held; worst err/limit %.3f%s, worst ratio to the reference %.2f: %s",
                    checks.size(), held, worstUsage(), accepted == 0 ? ""
                            : " (" + accepted + " accepted as float-noise ties)", worstRatio(), verdict));
        } else {
            double tol = checks.stream().filter(c -> c.problem() == null).mapToDouble(Check::limit).max().orElse(0);
            sb.append(String.format(Locale.ROOT,
                    "overall worst relative error %.3e (%d of %d tensors held), tolerance %.1e: %s", worst(), held,
                    checks.size(), tol, verdict));
        }
        return sb.toString();
    }

    private String tieLine(TieVerdict tv) {
        long tied = tv.misses().stream().filter(c -> c.tieAffected() && c.problem() == null).count();
        int n = tv.misses().size();
        String head = String.format(Locale.ROOT, "  per tensor: %d tensor%s miss%s %s x the reference's error", n,
                n == 1 ? "" : "s", n == 1 ? "es" : "", num(factor));
        if (tied == 0) {
            return head + ", none of them a gradient upstream of float-noise ReLU ties";
        }
        String what = String.format(Locale.ROOT,
                "%s, %d of them gradients upstream of the float-noise ReLU ties of feature %d (worst err %.3e; the "
                        + "reference's own worst error over those gradients %.3e); judged the other way round (the "
                        + "reference against basq4j's errors) %d of those gradients miss it",
                head, tied, tieFeature, tv.misses().stream().filter(Check::tieAffected).mapToDouble(Check::error)
                        .max().orElse(0), tv.tieBound(), tv.referenceMisses());
        if (!tv.accepted().isEmpty()) {
            return what + String.format(Locale.ROOT, ": %d of them, within the reference's worst error there, "
                    + "accepted as float-noise ties (--per-tensor accepts none)", tv.accepted().size());
        }
        if (perTensor) {
            return what + ": not accepted (--per-tensor)";
        }
        return what + ": not accepted (no more of them may miss than the reference's own misses)";
    }

    private static String num(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    private static String line(Check c, boolean f64) {
        if (f64) {
            return String.format(Locale.ROOT, "    %-52s err %.3e  ref %.3e  ratio %6.2f  err/limit %.3f%n", c.name(),
                    c.error(), c.referenceError(), c.ratio(), c.usage());
        }
        return String.format(Locale.ROOT, "    %-14s %.3e%n", c.name(), c.error());
    }
}
