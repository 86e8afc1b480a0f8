package io.basq4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import io.basq4j.io.JsonFiles;
import io.basq4j.io.SafeTensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a run directory holds, and whether supernet training may start or continue there:
 * a fresh start refuses a directory that holds a run unless forced, and a resume refuses a
 * checkpoint written with other settings. The settings are compared by name as
 * {@code config.json} spells them, so a setting added to {@link RunConfig} later is compared
 * too unless it is listed in {@link #NOT_IN_CHECKPOINT}.
 */
public final class RunState {
    private RunState() {
    }

    /**
     * Settings that do not change what a supernet checkpoint means (later steps, logistics);
     * every other {@link RunConfig} field must be equal to resume.
     */
    public static final Set<String> NOT_IN_CHECKPOINT = Set.of("preset", "valLimit", "evalBatch", "workers",
            "checkpointEvery", "folds", "population", "parents", "mutations", "crossovers", "mutationProb",
            "generations", "finetuneEpochs", "finetuneBatches", "finetuneLr", "finetuneMomentum", "finetuneLoss", "device",
            "threads", "tf32");

    /** Settings that fix the supernet's tensors: a trained supernet is read back only with equal ones. */
    public static final Set<String> MODEL_SHAPE = new LinkedHashSet<>(List.of("arch", "width", "divisor",
            "resolution", "inChannels", "classes", "bits", "branches"));

    /** Step outputs that belong to one supernet: a forced fresh start removes them. */
    public static final List<String> RUN_OUTPUTS = List.of(SupernetTraining.FINAL, SupernetTraining.LAST,
            "train-curve.tsv", "search.json", "results.json", "results.png", "random.json");

    /**
     * Checks, before anything is written, that supernet training may start in {@code dir}:
     * without {@code resume} the directory must not hold a run unless {@code force}; with it,
     * the checkpoint (if any) must have been written with the same settings.
     *
     * @throws IllegalArgumentException with one line saying what is there and what to do
     */
    public static void checkStart(RunConfig c, Path dir, boolean resume, boolean force) {
        Path last = dir.resolve(SupernetTraining.LAST);
        Path fin = dir.resolve(SupernetTraining.FINAL);
        if (resume && force) {
            throw new IllegalArgumentException("--resume continues a run and --force starts it over: give one of them");
        }
        if (!resume) {
            if (!force && (Files.exists(last) || Files.exists(fin))) {
                throw new IllegalArgumentException(dir + " already holds a supernet training run (" + describe(dir)
                        + "); continue it with --resume, or start over with --force (which deletes its supernet, "
                        + "checkpoint, curve and later results)");
            }
            return;
        }
        if (Files.exists(last)) {
            Map<String, String> meta;
            try {
                meta = SafeTensors.readMetadata(last);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read checkpoint " + last + ": " + e.getMessage());
            }
            if (!"supernet".equals(meta.get("kind"))) {
                throw new IllegalArgumentException(last + " is not a supernet training checkpoint");
            }
            checkResumeSettings(meta.get("config"), c, last);
        } else if (Files.exists(fin)) {
            throw new IllegalArgumentException(dir + " holds a trained supernet but no checkpoint to resume from ("
                    + last + " is missing); start over with --force");
        }
    }

    /** Refuses to resume from {@code checkpoint} when its saved settings differ from {@code now}. */
    static void checkResumeSettings(String savedJson, RunConfig now, Path checkpoint) {
        List<String> d = differences(savedJson, now, null, NOT_IN_CHECKPOINT);
        if (!d.isEmpty()) {
            throw new IllegalArgumentException("cannot resume from " + checkpoint + ": it was written with other "
                    + "settings: " + summary(d) + "; resume with the same settings, or start over with --force");
        }
    }

    /**
     * Refuses a trained supernet whose model settings differ from {@code now} (a search or a
     * finetuning with another --width would otherwise fail on every tensor).
     */
    public static void checkModelSettings(String savedJson, RunConfig now, Path supernet) {
        if (savedJson == null) {
            return; // a file from elsewhere: the state dict decides
        }
        List<String> d = differences(savedJson, now, MODEL_SHAPE, Set.of());
        if (!d.isEmpty()) {
            throw new IllegalArgumentException(supernet + " was trained with other model settings: " + summary(d)
                    + "; drop these flags, or train a supernet with them");
        }
    }

    /**
     * The settings that differ between {@code savedJson} (a RunConfig as JSON) and {@code now},
     * as "name saved (now value)": only those in {@code only} when not null, never those in
     * {@code skip}.
     */
    static List<String> differences(String savedJson, RunConfig now, Set<String> only, Set<String> skip) {
        List<String> out = new ArrayList<>();
        JsonNode saved;
        JsonNode cur;
        try {
            saved = savedJson == null ? null : JsonFiles.MAPPER.readTree(savedJson);
            cur = JsonFiles.MAPPER.readTree(JsonFiles.MAPPER.writeValueAsString(now));
        } catch (IOException e) {
            throw new IllegalArgumentException("the checkpoint's saved settings are unreadable: " + e.getMessage());
        }
        if (saved == null || !saved.isObject()) {
            out.add("(the checkpoint holds no settings)");
            return out;
        }
        Set<String> names = new LinkedHashSet<>();
        cur.fieldNames().forEachRemaining(names::add);
        for (Iterator<String> it = saved.fieldNames(); it.hasNext(); ) {
            names.add(it.next());
        }
        for (String n : names) {
            if ((only != null && !only.contains(n)) || skip.contains(n)) {
                continue;
            }
            JsonNode a = saved.get(n);
            JsonNode b = cur.get(n);
            if (a == null || b == null || !a.equals(b)) {
                out.add(n + " " + show(a) + " (now " + show(b) + ")");
            }
        }
        return out;
    }

    private static String show(JsonNode n) {
        if (n == null) {
            return "unset";
        }
        String s = n.isTextual() ? n.textValue() : n.toString();
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }

    /** At most four differences and a count of the rest: one line of a few hundred characters. */
    static String summary(List<String> d) {
        String s = String.join(", ", d.subList(0, Math.min(4, d.size())));
        return d.size() > 4 ? s + " and " + (d.size() - 4) + " more" : s;
    }

    /** A short description of the run in {@code dir} ("finished", "stopped at phase a iteration 40"). */
    static String describe(Path dir) {
        Path last = dir.resolve(SupernetTraining.LAST);
        try {
            if (Files.exists(last)) {
                Map<String, String> m = SafeTensors.readMetadata(last);
                String phase = m.getOrDefault("phase", "?");
                return "2".equals(phase) ? "finished" : "stopped at phase " + ("0".equals(phase) ? "a" : "b")
                        + " iteration " + m.getOrDefault("next_iteration", "?");
            }
        } catch (IOException | RuntimeException e) {
            return "its checkpoint is unreadable";
        }
        return "a trained supernet";
    }

    /** The folder of the saved networks of step 3 in a run directory. */
    public static final String MODELS_DIR = "models";

    /** The saved network step 3 chooses among the folds, in {@link #MODELS_DIR}. */
    public static final String MODEL_FILE = "model.safetensors";

    /** Whether {@code name}, in {@link #MODELS_DIR}, is a network step 3 saves (the chosen one or a fold's). */
    public static boolean isSavedNetwork(String name) {
        return name.equals(MODEL_FILE) || name.matches("fold-\\d+\\.safetensors");
    }

    /**
     * Whether {@code name}, in {@link #MODELS_DIR}, is a file that step 3 or {@code evaluate} writes
     * (the saved networks, the evaluation of one: {@code ModelEvaluation}'s JSON and chart files).
     */
    static boolean isModelOutput(String name) {
        return isSavedNetwork(name) || name.equals("evaluation.json") || name.equals("evaluation.png");
    }

    /**
     * Removes the outputs of the run in {@code dir} ({@link #RUN_OUTPUTS} and the saved networks
     * with their evaluation in {@link #MODELS_DIR}; other files there are kept), for a forced fresh start.
     */
    public static void clear(Path dir) {
        List<Path> doomed = new java.util.ArrayList<>();
        for (String f : RUN_OUTPUTS) {
            doomed.add(dir.resolve(f));
        }
        Path models = dir.resolve(MODELS_DIR);
        if (Files.isDirectory(models)) {
            try (java.util.stream.Stream<Path> s = Files.list(models)) {
                s.filter(p -> isModelOutput(p.getFileName().toString())).forEach(doomed::add);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list " + models + ": " + e.getMessage(), e);
            }
        }
        for (Path p : doomed) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + p + ": " + e.getMessage(), e);
            }
        }
    }
}
