package io.basq4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.basq4j.io.JsonFiles;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;

/**
 * Reads a run directory's {@code config.json} strictly: every setting of {@link RunConfig} must
 * be present, of its type (a whole number that fits for an integer setting, a number for a real
 * one, a string, a boolean, a list of numbers), not null unless the setting's default is null,
 * and inside its {@link SettingRanges range}; unknown names are refused. Each problem ends in one
 * line naming the file and the setting; nothing is coerced (a 2.7 is never read as 2).
 */
public final class RunConfigFile {
    private RunConfigFile() {
    }

    /**
     * The configuration in {@code file}.
     *
     * @throws IllegalArgumentException with one line naming the file and the problem
     */
    public static RunConfig read(Path file) {
        return read(file, true);
    }

    /**
     * As {@link #read(Path)}; without {@code checkRanges} only the kinds of the values are
     * checked, for a caller that overrides some settings first and then checks the ranges with
     * {@link SettingRanges#check(RunConfig, String)} naming the file.
     */
    public static RunConfig read(Path file, boolean checkRanges) {
        JsonNode root;
        try {
            root = JsonFiles.MAPPER.readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new IllegalArgumentException("no configuration at " + file);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + e.getOriginalMessage()
                    .replaceAll("\\s+", " "));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage());
        }
        return fromTree(root, file.toString(), checkRanges);
    }

    /** The configuration a JSON tree describes, checked as {@link #read} does; {@code source} names it in errors. */
    public static RunConfig fromTree(JsonNode root, String source, boolean checkRanges) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(source + " does not hold a JSON object of settings");
        }
        RunConfig defaults = new RunConfig();
        JsonNode template = JsonFiles.MAPPER.valueToTree(defaults);
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!template.has(name)) {
                throw new IllegalArgumentException(source + ": unknown setting '" + brief(name) + "'");
            }
        }
        for (Field f : RunConfig.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) || !template.has(f.getName())) {
                continue;
            }
            String name = f.getName();
            JsonNode v = root.get(name);
            if (v == null) {
                // A setting that an older basq4j did not write: say what to add.
                String add = name.equals("protocol") ? "\"protocol\": \"reference\" (how runs were made before the "
                        + "holdout protocol)" : "\"" + name + "\": " + brief(template.get(name).toString())
                        + " (the default)";
                throw new IllegalArgumentException(source + ": setting '" + name + "' is missing (a run directory of "
                        + "an older basq4j? add " + add + ", or start a new run)");
            }
            String expected = expectedKind(f, v, defaults);
            if (expected != null) {
                throw new IllegalArgumentException(source + ": setting '" + name + "' must be " + expected + ", got "
                        + brief(v.toString()));
            }
        }
        RunConfig c;
        try {
            c = JsonFiles.MAPPER.treeToValue(root, RunConfig.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": " + e.getOriginalMessage().replaceAll("\\s+", " "));
        }
        if (checkRanges) {
            SettingRanges.check(c, source);
        }
        return c;
    }

    /** What {@code v} should have been for field {@code f}, or null when it fits. */
    private static String expectedKind(Field f, JsonNode v, RunConfig defaults) {
        Class<?> t = f.getType();
        if (v.isNull()) {
            try {
                return f.get(defaults) == null ? null : "set (not null)";
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        if (t == int.class) {
            return v.isIntegralNumber() && v.canConvertToInt() ? null
                    : "a whole number from " + Integer.MIN_VALUE + " to " + Integer.MAX_VALUE;
        } else if (t == long.class) {
            return v.isIntegralNumber() && v.canConvertToLong() ? null : "a whole number that fits 64 bits";
        } else if (t == double.class || t == float.class) {
            return v.isNumber() ? null : "a number";
        } else if (t == boolean.class) {
            return v.isBoolean() ? null : "true or false";
        } else if (t == String.class) {
            return v.isTextual() ? null : "a string";
        } else if (t == double[].class) {
            if (!v.isArray()) {
                return "a list of numbers";
            }
            for (JsonNode e : v) {
                if (!e.isNumber()) {
                    return "a list of numbers";
                }
            }
            return null;
        }
        return null; // a kind added later: Jackson's own reading decides
    }

    private static String brief(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }
}
