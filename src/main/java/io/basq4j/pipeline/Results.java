package io.basq4j.pipeline;

import io.basq4j.chart.Charts;
import io.basq4j.io.JsonFiles;
import io.basq4j.search.KFoldSearch;
import io.basq4j.train.Finetuning;
import io.basq4j.train.RunConfig;
import java.awt.BasicStroke;
import java.awt.Color;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The run's machine-readable results ({@code results.json}) and its chart ({@code results.png}).
 *
 * <p>Every accuracy in results.json is named after the data it was measured on: {@code val_*} on
 * the validation split (holdout protocol), {@code test_*} on the test set. Under the reference
 * protocol the search and finetuning numbers are {@code test_*} too, as their validation data is
 * the test set.
 */
public final class Results {
    public static final String JSON_FILE = "results.json";
    public static final String CHART_FILE = "results.png";

    private Results() {
    }

    /** Writes results.json; any part may be null when its step did not run in this process. */
    public static Map<String, Object> write(Path runDir, RunConfig c, List<double[]> curve,
            KFoldSearch.Result search, FinetuneStep.Result finetune, Map<String, Double> timings) {
        String p = FinetuneStep.prefix(c.protocol);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("configuration", c);
        m.put("protocol", c.protocol);
        m.put("protocol_note", c.holdout()
                ? "val_* on the validation split held out of the training data (search folds, epoch and model "
                        + "choice); test_* on the test set, read once for the final report"
                : "the reference protocol: search and finetuning choices on the test set, so every number is test_*; "
                        + "test_acc is each saved network on the whole test set");
        if (finetune != null) {
            m.put("data", finetune.data());
        }
        List<Map<String, Object>> folds = new ArrayList<>();
        if (search != null) {
            for (int f = 0; f < search.archs().size(); f++) {
                Map<String, Object> fm = new LinkedHashMap<>();
                fm.put("fold", f);
                fm.put("architecture", search.archs().get(f));
                fm.put(p + "fold_acc", search.foldAccs().get(f));
                fm.put(p + "full_acc", search.fullAccs().get(f));
                if (finetune != null && f < finetune.folds().size()) {
                    Finetuning.FoldResult r = finetune.folds().get(f);
                    fm.put(p + "full_acc_before_finetune", r.before());
                    fm.put(p + "full_acc_per_epoch", r.perEpoch());
                    fm.put(p + "finetuned_acc", r.best());
                    fm.put("chosen_epoch", r.chosenEpoch());
                    fm.put("test_acc", finetune.testAccs().get(f));
                    fm.put("model_file", runDir.relativize(FinetuneStep.foldFile(runDir, f)).toString());
                }
                folds.add(fm);
            }
        }
        m.put("folds", folds);
        if (search != null) {
            m.put("mean_" + p + "full_acc",
                    search.fullAccs().stream().mapToDouble(Double::doubleValue).average().orElse(0));
        }
        if (finetune != null) {
            m.put("mean_" + p + "finetuned_acc", finetune.mean());
            m.put("mean_test_acc", finetune.meanTest());
            Map<String, Object> model = new LinkedHashMap<>();
            model.put("file", runDir.relativize(finetune.modelFile()).toString());
            model.put("fold", finetune.chosenFold());
            model.put("chosen_by", finetune.criterion());
            model.put("test_acc", finetune.testAccs().get(finetune.chosenFold()));
            model.put("bytes", finetune.modelBytes());
            m.put("model", model);
        }
        m.put("timings_seconds", timings);
        if (curve != null) {
            List<Map<String, Double>> pts = new ArrayList<>();
            for (double[] pt : curve) {
                pts.add(Map.of("step", pt[0], "loss", pt[1], "lr", pt[2]));
            }
            m.put("training_curve", pts);
        }
        JsonFiles.writeAtomically(runDir.resolve(JSON_FILE), m);
        return m;
    }

    /** Draws the training curve and the per-fold accuracies into results.png. */
    public static void chart(Path runDir, List<double[]> curve, KFoldSearch.Result search,
            FinetuneStep.Result finetune) {
        Charts.writePng(runDir.resolve(CHART_FILE), 700, 480, curveChart(curve), foldChart(search, finetune));
    }

    static JFreeChart curveChart(List<double[]> curve) {
        XYSeries loss = new XYSeries("training loss (mean of each logged window)");
        if (curve != null) {
            for (double[] pt : curve) {
                loss.add(pt[0], pt[1]);
            }
        }
        JFreeChart chart = ChartFactory.createXYLineChart(
                curve == null || curve.isEmpty() ? "Supernet training (no curve in this run)"
                        : "Supernet training: phase a, then phase b",
                "iteration", "loss", new XYSeriesCollection(loss), PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getRenderer().setSeriesPaint(0, new Color(30, 90, 200));
        plot.getRenderer().setSeriesStroke(0, new BasicStroke(2f));
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        return chart;
    }

    static JFreeChart foldChart(KFoldSearch.Result s, FinetuneStep.Result ft) {
        String p = ft == null ? "" : ft.valPrefix();
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        double lo = 100;
        double hi = 0;
        if (s != null) {
            for (int f = 0; f < s.archs().size(); f++) {
                String fold = "fold " + f;
                List<Map.Entry<String, Double>> bars = new ArrayList<>();
                bars.add(Map.entry(p + "fold_acc (search fitness)", s.foldAccs().get(f)));
                bars.add(Map.entry(p + "full_acc (before finetuning)", s.fullAccs().get(f)));
                if (ft != null && f < ft.folds().size()) {
                    bars.add(Map.entry(p + "finetuned_acc", ft.folds().get(f).best()));
                    bars.add(Map.entry("test_acc (whole test set)", ft.testAccs().get(f)));
                }
                for (Map.Entry<String, Double> b : bars) {
                    d.addValue(b.getValue(), b.getKey(), fold);
                    lo = Math.min(lo, b.getValue());
                    hi = Math.max(hi, b.getValue());
                }
            }
        }
        JFreeChart chart = ChartFactory.createBarChart(
                s == null ? "Per fold (no search result in this run)" : "Per fold: search, finetuning, test",
                "fold", "top-1 accuracy (%)", d, PlotOrientation.VERTICAL, true, false, false);
        CategoryPlot plot = chart.getCategoryPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        BarRenderer r = (BarRenderer) plot.getRenderer();
        r.setBarPainter(new StandardBarPainter());
        r.setShadowVisible(false);
        Color[] cols = {Color.GRAY, new Color(30, 90, 200), new Color(40, 160, 60), new Color(200, 90, 30)};
        for (int i = 0; i < cols.length; i++) {
            r.setSeriesPaint(i, cols[i]);
        }
        if (hi >= lo) {
            NumberAxis y = (NumberAxis) plot.getRangeAxis();
            y.setRange(Math.max(0, Math.floor(lo - 2)), Math.min(100, Math.ceil(hi + 1)));
        }
        return chart;
    }
}
