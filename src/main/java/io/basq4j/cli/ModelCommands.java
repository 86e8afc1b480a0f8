package io.basq4j.cli;

import io.basq4j.data.Dataset;
import io.basq4j.data.RgbImage;
import io.basq4j.deploy.Classifier;
import io.basq4j.deploy.EvaluationData;
import io.basq4j.deploy.ImageFiles;
import io.basq4j.deploy.ImagePredictor;
import io.basq4j.deploy.ModelEvaluation;
import io.basq4j.io.JsonFiles;
import io.basq4j.models.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Commands on a saved model (models/model.safetensors of a run): evaluate and predict. */
public final class ModelCommands {
    private ModelCommands() {
    }

    static void checkRange(String option, long value, long min, long max) {
        if (value < min || value > max) {
            throw new UserError(option + " " + value + " is outside [" + min + ", " + max + "]", 2);
        }
    }

    static String describe(Classifier c) {
        ModelConfig m = c.model().config();
        return c.model().arch() + " w" + m.widthMultiplier() + ", " + m.bits() + "-bit, " + m.inChannels() + "x"
                + m.resolution() + "x" + m.resolution() + " input, " + m.classes() + " classes; run by "
                + c.engineName();
    }

    /** How evaluate and predict run the network: --engine and --threads. */
    static final class EngineOptions {
        @Option(names = "--threads", paramLabel = "N",
                description = "kernel threads (0 or absent: all cores)")
        Integer threads;

        @Option(names = "--engine", paramLabel = "NAME", defaultValue = "auto",
                description = "auto: the packed low-bit inference engine (CPU, quantized weights), else the "
                        + "training layers; layers: always the training layers in evaluation mode (default: "
                        + "${DEFAULT-VALUE})")
        String engine;

        /** Sets the threads and loads {@code model} onto the CPU with the chosen engine. */
        Classifier load(Path model) {
            Classifier.Engine kind = switch (engine) {
                case "auto" -> Classifier.Engine.AUTO;
                case "layers" -> Classifier.Engine.LAYERS;
                default -> throw new UserError("unknown --engine '" + engine + "' (valid: auto, layers)", 2);
            };
            Threads.apply(threads, System.err);
            return Classifier.load(model, io.basq4j.tensor.Device.CPU, kind);
        }
    }

    @Command(name = "evaluate", mixinStandardHelpOptions = true,
            description = "Top-1 and top-5 accuracy, per-class accuracy and the confusion matrix of a saved model "
                    + "(by default on the test set of the run that made it), through the same classifier as "
                    + "'predict'. Writes evaluation.json and evaluation.png next to the model (or into --out).")
    public static final class Evaluate implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MODEL", description = "a saved model (.safetensors)")
        Path model;

        @Option(names = "--data", paramLabel = "DIR",
                description = "data directory (default: the model's test data; fashion: the IDX files, "
                        + "imagefolder: a folder with val/<class>/)")
        Path data;

        @Option(names = "--dataset", paramLabel = "KIND",
                description = "fashion, imagefolder or synthetic (default: the kind the model was trained on)")
        String dataset;

        @Option(names = "--limit", paramLabel = "N",
                description = "only the first N examples (0: all; default: as many as the run's test report used)")
        Integer limit;

        @Option(names = "--batch", paramLabel = "N", defaultValue = "500",
                description = "examples per forward pass (default 500)")
        int batch;

        @Option(names = "--out", paramLabel = "DIR", description = "where to write (default: the model's directory)")
        Path out;

        @Mixin
        EngineOptions run;

        @Override
        public Integer call() throws Exception {
            return PipelineCommands.guarded(() -> {
                if (dataset != null && !EvaluationData.KINDS.contains(dataset)) {
                    throw new UserError("unknown dataset '" + dataset + "' (valid: "
                            + String.join(", ", EvaluationData.KINDS) + ")", 2);
                }
                Path dir = out != null ? out : model.toAbsolutePath().getParent();
                if (Files.exists(dir) && !Files.isDirectory(dir)) {
                    throw new UserError("--out " + dir + " is a file, not a directory");
                }
                try (Classifier c = run.load(model)) {
                    Dataset d = EvaluationData.open(c.model(), dataset, data, limit);
                    System.out.println("model     " + model + " (" + describe(c) + ")");
                    System.out.println("data      " + d.describe());
                    ModelEvaluation.Report r = ModelEvaluation.run(c, d, batch, System.err::println);
                    ModelEvaluation.write(r, dir);
                    System.out.println("examples  " + r.examples());
                    System.out.println(String.format(Locale.ROOT, "top1      %.2f", r.top1()));
                    System.out.println(String.format(Locale.ROOT, "top%d      %.2f", r.topK(), r.top5()));
                    long[] n = r.perClassCount();
                    double[] a = r.perClassAccuracy();
                    for (int k = 0; k < n.length; k++) {
                        System.out.println(String.format(Locale.ROOT, "class %-3d %-16s %6.2f  (%d examples)", k,
                                r.classNames().get(k), a[k], n[k]));
                    }
                    System.out.println("written   " + dir.resolve(ModelEvaluation.JSON_FILE) + ", "
                            + dir.resolve(ModelEvaluation.CHART_FILE));
                    if (!r.unreadable().isEmpty()) {
                        throw new UserError(r.unreadable().size() + " image(s) could not be read and were left out "
                                + "(listed in " + dir.resolve(ModelEvaluation.JSON_FILE) + ")");
                    }
                }
                return 0;
            });
        }
    }

    @Command(name = "predict", mixinStandardHelpOptions = true,
            description = "Classifies PNG and JPEG files of any size, colour or grey, preprocessed as the model "
                    + "records (directories are walked: *.png, *.jpg, *.jpeg, sorted). Prints one line per image: "
                    + "path, then the top K labels with their probabilities. An unreadable image gets one error "
                    + "line; the others are still classified, and the exit status is 1.")
    public static final class Predict implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MODEL", description = "a saved model (.safetensors)")
        Path model;

        @Parameters(index = "1..*", arity = "1..*", paramLabel = "FILE|DIR", description = "images or directories")
        List<Path> inputs;

        @Option(names = "--top", paramLabel = "K", defaultValue = "1",
                description = "the K most probable classes (default 1)")
        int top;

        @Option(names = "--json", description = "print one JSON array instead of lines")
        boolean json;

        @Mixin
        EngineOptions run;

        private static final int BATCH = 32;

        @Override
        public Integer call() throws Exception {
            return PipelineCommands.guarded(() -> {
                try (Classifier c = run.load(model)) {
                    checkRange("--top", top, 1, c.classes());
                    if (c.preprocessing() == null) {
                        throw new UserError(model + " takes " + c.model().config().inChannels() + "-channel input "
                                + "and records no image preprocessing: images are converted to 1 (grey) or 3 (RGB) "
                                + "channels only");
                    }
                    List<ImageFiles.Entry> files = ImageFiles.collect(inputs);
                    List<Map<String, Object>> records = new ArrayList<>();
                    int failed = ImagePredictor.run(c, files, top, BATCH, o -> {
                        if (!o.ok()) {
                            System.err.println("error: " + o.error());
                            if (json) {
                                records.add(Map.of("path", o.path().toString(), "error", o.error()));
                            }
                        } else if (json) {
                            Map<String, Object> rec = new LinkedHashMap<>();
                            rec.put("path", o.path().toString());
                            rec.put("predictions", o.predictions());
                            records.add(rec);
                        } else {
                            StringBuilder sb = new StringBuilder(o.path().toString());
                            for (Classifier.Prediction q : o.predictions()) {
                                sb.append("  ").append(q.label()).append("  ")
                                        .append(String.format(Locale.ROOT, "%.4f", q.probability()));
                            }
                            System.out.println(sb);
                        }
                    });
                    if (json) {
                        System.out.println(JsonFiles.MAPPER.writeValueAsString(records));
                    }
                    if (failed > 0) {
                        System.err.println("error: " + failed + " of " + files.size() + " image(s) could not be "
                                + "classified");
                        return 1;
                    }
                }
                return 0;
            });
        }
    }
}
