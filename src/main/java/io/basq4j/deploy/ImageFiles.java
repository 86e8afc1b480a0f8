package io.basq4j.deploy;

import io.basq4j.data.ImageFolder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The image files named on a command line: a file is taken as given (its decoder decides whether
 * it is an image); a directory is walked, sub-directories included, for files named
 * {@code *.png}, {@code *.jpg} or {@code *.jpeg} (any case), sorted by path; a path that does not
 * exist, or a directory without such files, is an entry with an error.
 */
public final class ImageFiles {
    /** One file to classify, or a path that could not be used ({@code error} non-null). */
    public record Entry(Path path, String error) {
    }

    private ImageFiles() {
    }

    /** The files of {@code args}, in the order given, each directory's images sorted. */
    public static List<Entry> collect(List<Path> args) {
        List<Entry> out = new ArrayList<>();
        for (Path a : args) {
            if (Files.isDirectory(a)) {
                try (Stream<Path> s = Files.walk(a)) {
                    List<Path> found = s.filter(p -> Files.isRegularFile(p)
                            && ImageFolder.isImageName(p.getFileName().toString()))
                            .sorted(Comparator.comparing(Path::toString)).toList();
                    if (found.isEmpty()) {
                        out.add(new Entry(a, "no image files (*.png, *.jpg, *.jpeg) under " + a));
                    }
                    found.forEach(p -> out.add(new Entry(p, null)));
                } catch (IOException | UncheckedIOException e) {
                    out.add(new Entry(a, "cannot list directory " + a + ": " + e.getMessage()));
                }
            } else if (Files.isRegularFile(a)) {
                out.add(new Entry(a, null));
            } else {
                out.add(new Entry(a, "no such file or directory: " + a));
            }
        }
        return out;
    }
}
