package io.basq4j.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** search.json is read strictly: each malformed entry ends in one line naming it, nothing is coerced. */
class SearchResultReadTest {
    @TempDir
    Path tmp;

    private Path file(String json) throws Exception {
        Path f = tmp.resolve("search.json");
        Files.writeString(f, json);
        return f;
    }

    @Test
    void readsWhatSearchWrites() {
        Path f = tmp.resolve("search.json");
        KFoldSearch.write(f, new KFoldSearch.Result(List.of(90.5, 91.0), List.of(89.0, 88.25),
                List.of(new int[] {0, 1, 2}, new int[] {2, 2, 0}), List.of(10, 12), 1.5));
        KFoldSearch.Result r = KFoldSearch.read(f, 3, 3);
        assertEquals(List.of(90.5, 91.0), r.foldAccs());
        assertEquals(List.of(89.0, 88.25), r.fullAccs());
        assertArrayEquals(new int[] {2, 2, 0}, r.archs().get(1));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"fold_accs\": [1], \"full_accs\": [1]}|'archs' is missing",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": null}|'archs' must be a list, got null",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": \"[0, 1, 2]\"}|'archs' must be a list, got \"[0, 1, 2]\"",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": [null]}|archs[0] must be a list of 3 branch indices, got null",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": [\"0 1 2\"]}|archs[0] must be a list of 3 branch indices, got \"0 1 2\"",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": [[0, 1]]}|archs[0] must be a list of 3 branch indices, got [0,1]",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": [[0, 1, 99999999999]]}|archs[0][2] must be a whole number from 0 to 2, got 99999999999",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": [[0, 2.7, 1]]}|archs[0][1] must be a whole number from 0 to 2, got 2.7",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": [[0, \"1\", 1]]}|archs[0][1] must be a whole number from 0 to 2, got \"1\"",
        "{\"fold_accs\": [1], \"full_accs\": [1], \"archs\": [[0, 3, 1]]}|archs[0][1] must be a whole number from 0 to 2, got 3",
        "{\"fold_accs\": [\"x\"], \"full_accs\": [1], \"archs\": [[0, 1, 1]]}|fold_accs[0] must be an accuracy from 0 to 100, got \"x\"",
        "{\"fold_accs\": [1, 2], \"full_accs\": [1], \"archs\": [[0, 1, 1]]}|fold_accs, full_accs and archs differ in length (2, 1, 1)",
        "{\"fold_accs\": [], \"full_accs\": [], \"archs\": []}|it holds no architecture",
        "[1, 2]|it is not a JSON object",
    })
    void eachMalformedEntryIsNamed(String json, String expected) throws Exception {
        Path f = file(json);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KFoldSearch.read(f, 3, 3));
        assertEquals("search result " + f + " is malformed: " + expected, e.getMessage());
    }
}
