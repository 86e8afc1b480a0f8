package io.basq4j.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.data.Dataset;
import io.basq4j.data.FashionMnist;
import io.basq4j.data.ImageFolder;
import io.basq4j.data.Preprocessing;
import io.basq4j.data.PreprocessedImages;
import io.basq4j.data.Subset;
import io.basq4j.data.SyntheticImages;
import io.basq4j.models.ModelConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The labelled data a saved model is evaluated on: by default the test set of the run that made
 * it (its {@link SavedModel#TEST_DATA} metadata), otherwise a named kind and directory.
 *
 * <ul>
 *   <li>fashion: the Fashion-MNIST test files ({@code t10k-*}) of the directory (default
 *       {@value FashionMnist#DEFAULT_DIR_NAME});
 *   <li>imagefolder: the images of {@code DIR/val/<class>/} (classes named as {@code DIR/train/}'s
 *       folders, as in training);
 *   <li>synthetic: the generated test set of the run (its seed and size from the metadata).
 * </ul>
 *
 * Images go through the model's own {@link Preprocessing} (what {@code predict} does), not the
 * data set's transform; for the data the model was trained on, the two are the same.
 */
public final class EvaluationData {
    public static final List<String> KINDS = List.of("fashion", "imagefolder", "synthetic");
    private static final ObjectMapper JSON = new ObjectMapper();

    private EvaluationData() {
    }

    /**
     * Opens the evaluation data. {@code kind}, {@code dir} and {@code limit} (the first N
     * examples, 0: all) may each be null: then the model's test data decides.
     */
    public static Dataset open(SavedModel m, String kind, Path dir, Integer limit) {
        JsonNode recorded = recorded(m);
        String recordedKind = recorded == null ? null : recorded.path("dataset").asText(null);
        if (kind == null) {
            kind = recordedKind;
            if (kind == null) {
                throw new IllegalArgumentException(m.path() + " records no test data: pass --dataset KIND (one of "
                        + String.join(", ", KINDS) + ") and --data DIR");
            }
        }
        if (!KINDS.contains(kind)) {
            throw new IllegalArgumentException("unknown dataset '" + kind + "' (valid: " + String.join(", ", KINDS)
                    + ")");
        }
        boolean sameKind = kind.equals(recordedKind);
        if (dir == null && sameKind && recorded.hasNonNull("dir")) {
            dir = Path.of(recorded.get("dir").asText());
        }
        if (limit == null) {
            limit = sameKind && (dir == null || !recorded.hasNonNull("dir")
                    || dir.toAbsolutePath().normalize().equals(Path.of(recorded.get("dir").asText())))
                    ? recorded.path("limit").asInt(0) : 0;
        }
        if (limit < 0) {
            throw new IllegalArgumentException("--limit " + limit + " is outside [0, 2147483647]");
        }
        ModelConfig c = m.config();
        Dataset d = switch (kind) {
            case "fashion" -> PreprocessedImages.of(FashionMnist.builder()
                    .dir(dir == null ? FashionMnist.DEFAULT_DIR : dir).split(FashionMnist.Split.TEST).build(),
                    rule(m));
            case "imagefolder" -> {
                if (dir == null) {
                    throw new IllegalArgumentException("--data DIR is required for the imagefolder dataset (a folder "
                            + "with val/, one sub-folder per class)");
                }
                yield PreprocessedImages.of(ImageFolder.builder(dir).split("val").training(false).build(), rule(m));
            }
            default -> {
                if (!sameKind) {
                    throw new IllegalArgumentException("synthetic data can only be the test set of the run that made "
                            + m.path() + " (it records no synthetic test data)");
                }
                long seed = recorded.path("seed").asLong(1);
                yield new SyntheticImages(Math.max(limit, 1), c.classes(), c.inChannels(), c.resolution(),
                        c.resolution(), seed + 7919);
            }
        };
        if (limit > 0 && limit < d.size()) {
            d = Subset.first(d, limit);
        }
        checkClasses(m, d);
        return d;
    }

    private static JsonNode recorded(SavedModel m) {
        String v = m.metadata(SavedModel.TEST_DATA);
        if (v == null) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(v);
            return n != null && n.isObject() ? n : null;
        } catch (IOException e) {
            throw new IllegalArgumentException(m.path() + ": metadata " + SavedModel.TEST_DATA + " is not a JSON "
                    + "object: " + v);
        }
    }

    private static Preprocessing rule(SavedModel m) {
        Preprocessing p = m.preprocessing();
        if (p == null) {
            throw new IllegalArgumentException(m.path() + " records no image preprocessing, so it cannot be "
                    + "evaluated on image files (a " + m.config().inChannels() + "-channel model)");
        }
        return p;
    }

    /** The data's labels must name the model's classes. */
    private static void checkClasses(SavedModel m, Dataset d) {
        List<String> model = m.classNames();
        List<String> data = d.classNames();
        if (data.size() > model.size()) {
            throw new IllegalArgumentException("the data has " + data.size() + " classes but " + m.path() + " "
                    + model.size());
        }
        for (int k = 0; k < data.size(); k++) {
            if (!data.get(k).equals(model.get(k))) {
                throw new IllegalArgumentException("class " + k + " of the data is '" + data.get(k) + "' but of "
                        + m.path() + " '" + model.get(k) + "': the data is not labelled as the model's training data");
            }
        }
    }
}
