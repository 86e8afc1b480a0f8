package io.basq4j.cuda;

import static io.basq4j.tensor.CudnnCandidates.BWD_DATA;
import static io.basq4j.tensor.CudnnCandidates.BWD_FILTER;
import static io.basq4j.tensor.CudnnCandidates.FWD;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.CudnnCandidates;
import io.basq4j.tensor.CudnnCandidates.Candidate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The cuDNN algorithm choice without cuDNN (runs everywhere): which entries of a ranked list a
 * convolution may try, and the walk that falls back on NOT_SUPPORTED and missing workspaces but
 * stops, naming the algorithm, on any other failure. The lists are made up in cuDNN's format
 * (cudnnConvolution*AlgoPerf_t: algo, status, determinism, math type, memory).
 */
class CudnnCandidatesTest {
    static final int OK = 0, NOT_SUPPORTED = 3000, NOT_SUPPORTED_SHAPE = 3002, BAD_PARAM = 2000,
            EXECUTION_FAILED = 5000, ALLOC_FAILED = 4003;
    static final int DEFAULT = 0, TENSOR_OP = 1, FMA = 3;
    static final long MIB = 1 << 20;

    private static Candidate c(int algo, int status, boolean det, int math, long memory) {
        return new Candidate(algo, status, det, math, memory);
    }

    private static List<Integer> algos(List<Candidate> cs) {
        return cs.stream().map(Candidate::algo).toList();
    }

    // forward: 1 IMPLICIT_PRECOMP_GEMM, 0 IMPLICIT_GEMM, 6 WINOGRAD, 4 FFT, 2 GEMM
    private static final List<Candidate> FWD_RANKED = List.of(
            c(6, OK, true, TENSOR_OP, 4 * MIB), // WINOGRAD with tensor cores first
            c(1, OK, true, DEFAULT, 2 * MIB),
            c(4, OK, true, FMA, 3000 * MIB), // FFT: too much workspace
            c(0, OK, true, FMA, 0),
            c(7, NOT_SUPPORTED, true, FMA, 0),
            c(2, OK, true, FMA, 1 * MIB));

    @Test
    void rankedModeKeepsCudnnOrderAndDropsWhatCannotRun() {
        List<String> skipped = new ArrayList<>();
        List<Candidate> tf32 = CudnnCandidates.usable(FWD, FWD_RANKED, true, true, false, 1024 * MIB, skipped);
        assertEquals(List.of(6, 1, 0, 2), algos(tf32), "TF32 allowed: tensor-op math too");
        assertTrue(skipped.stream().anyMatch(s -> s.startsWith("FFT: needs 3000.0 MiB")), skipped.toString());
        assertTrue(skipped.stream().anyMatch(s -> s.startsWith("WINOGRAD_NONFUSED: not supported")),
                skipped.toString());
        List<Candidate> fp32 = CudnnCandidates.usable(FWD, FWD_RANKED, false, true, false, 1024 * MIB, null);
        assertEquals(List.of(1, 0, 2), algos(fp32), "without TF32: FMA or default math only (run as FMA)");
    }

    @Test
    void directSumModeTakesTheImplicitGemmFamilyOnly() {
        List<String> skipped = new ArrayList<>();
        List<Candidate> d = CudnnCandidates.usable(FWD, FWD_RANKED, false, true, true, 1024 * MIB, skipped);
        assertEquals(List.of(1, 0), algos(d));
        assertTrue(skipped.stream().anyMatch(s -> s.equals("GEMM: not a direct sum (direct-sum mode)")),
                skipped.toString());
        // the family's members that the ranking left out are tried last
        List<Candidate> onlyWinograd = List.of(c(6, OK, true, FMA, 0));
        assertEquals(List.of(0, 1), algos(CudnnCandidates.usable(FWD, onlyWinograd, false, true, true, MIB, null)));
        // backward data: ALGO_0 sums with atomics (non-deterministic), ALGO_1 does not
        List<Candidate> bd = List.of(c(4, OK, true, FMA, 0), c(0, OK, false, FMA, 0), c(1, OK, true, FMA, 0));
        assertEquals(List.of(1), algos(CudnnCandidates.usable(BWD_DATA, bd, false, true, true, MIB, null)));
        assertEquals(List.of(0, 1), algos(CudnnCandidates.usable(BWD_DATA, bd, false, false, true, MIB, null)));
        // backward filter: ALGO_0, ALGO_1, ALGO_3 are direct sums; FFT (2) and WINOGRAD_NONFUSED (5) are not
        for (int a = 0; a < 7; a++) {
            assertEquals(a == 0 || a == 1 || a == 3, CudnnCandidates.directSum(BWD_FILTER, a), "filter algo " + a);
        }
        assertFalse(CudnnCandidates.directSum(FWD, 2), "explicit GEMM is left out with the transforms");
    }

    @Test
    void aRepeatedEntryWithAnotherMathTypeCountsOnce() {
        List<Candidate> r = List.of(c(1, OK, true, TENSOR_OP, 0), c(1, OK, true, FMA, 0), c(1, OK, true, DEFAULT, 0));
        List<Candidate> u = CudnnCandidates.usable(FWD, r, false, true, false, MIB, null);
        assertEquals(1, u.size());
        assertEquals(FMA, u.get(0).math(), "the first usable entry of an algorithm");
    }

    @Test
    void nondeterministicEntriesAreLeftOutWhenDeterminismIsAsked() {
        List<Candidate> r = List.of(c(0, OK, false, FMA, 0), c(1, OK, true, FMA, 0));
        assertEquals(List.of(1), algos(CudnnCandidates.usable(BWD_FILTER, r, false, true, false, MIB, null)));
        assertEquals(List.of(0, 1), algos(CudnnCandidates.usable(BWD_FILTER, r, false, false, false, MIB, null)));
    }

    @Test
    void theWalkFallsBackOnNotSupportedAndMissingWorkspace() {
        List<Candidate> cands = List.of(c(6, OK, true, FMA, 0), c(4, OK, true, FMA, 0), c(1, OK, true, FMA, 0),
                c(0, OK, true, FMA, 0));
        Map<Integer, Integer> status = Map.of(6, NOT_SUPPORTED_SHAPE, 1, OK, 0, OK);
        List<Integer> tried = new ArrayList<>();
        CudnnCandidates.Choice ch = CudnnCandidates.walk(FWD, cands, cand -> {
            tried.add(cand.algo());
            if (cand.algo() == 4) {
                throw new OutOfMemoryError("native allocation of 1 GiB failed");
            }
            return status.get(cand.algo());
        }, "forward conv", s -> "status " + s, null);
        assertEquals(1, ch.candidate().algo(), "the first that runs");
        assertEquals(2, ch.index());
        assertEquals(List.of(6, 4, 1), tried, "stops at the first success");
        assertEquals(List.of("WINOGRAD: status 3002", "FFT: workspace: native allocation of 1 GiB failed"),
                ch.failed());
        assertTrue(CudnnCandidates.fallsBack(ALLOC_FAILED));
        assertTrue(CudnnCandidates.fallsBack(NOT_SUPPORTED));
        assertFalse(CudnnCandidates.fallsBack(BAD_PARAM));
    }

    @Test
    void anyOtherFailureStopsTheWalkAndNamesTheAlgorithm() {
        List<Candidate> cands = List.of(c(1, OK, true, FMA, 0), c(0, OK, true, FMA, 0));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudnnCandidates.walk(FWD, cands,
                cand -> EXECUTION_FAILED, "cudnnConvolutionForward for [geometry]", s -> "EXECUTION_FAILED", null));
        assertTrue(e.getMessage().contains("with algorithm IMPLICIT_PRECOMP_GEMM (FMA_MATH) failed: EXECUTION_FAILED"),
                e.getMessage());
        assertTrue(e.getMessage().contains("CUDA_LAUNCH_BLOCKING=1"), "an execution failure may be an earlier fault");
        IllegalStateException bad = assertThrows(IllegalStateException.class, () -> CudnnCandidates.walk(BWD_DATA,
                cands, cand -> BAD_PARAM, "backward data", s -> "BAD_PARAM", null));
        assertTrue(bad.getMessage().contains("ALGO_1") && !bad.getMessage().contains("LAUNCH_BLOCKING"),
                bad.getMessage());
    }

    @Test
    void whenNothingRunsTheErrorListsEveryAlgorithmAndWhy() {
        List<Candidate> cands = List.of(c(1, OK, true, FMA, 0), c(0, OK, true, FMA, 0));
        List<String> skipped = new ArrayList<>(List.of("FFT: needs 3000.0 MiB of workspace (limit 1024.0 MiB)"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudnnCandidates.walk(FWD, cands,
                cand -> {
                    throw new CudnnCandidates.WorkspaceUnavailable("needs 2.0 MiB (limit 1.0 MiB)");
                }, "conv", s -> "?", skipped));
        String m = e.getMessage();
        assertTrue(m.startsWith("conv: no cuDNN algorithm runs"), m);
        assertTrue(m.contains("IMPLICIT_PRECOMP_GEMM: workspace: needs 2.0 MiB") && m.contains("IMPLICIT_GEMM:")
                && m.contains("FFT: needs 3000.0 MiB"), m);
        IllegalStateException none = assertThrows(IllegalStateException.class,
                () -> CudnnCandidates.walk(FWD, List.of(), cand -> OK, "conv", s -> "?", null));
        assertTrue(none.getMessage().contains("cuDNN offered none"), none.getMessage());
    }

    @Test
    void namesFollowCudnnHeaders() {
        assertEquals("IMPLICIT_PRECOMP_GEMM", CudnnCandidates.name(FWD, 1));
        assertEquals("WINOGRAD_NONFUSED", CudnnCandidates.name(FWD, 7));
        assertEquals("FFT_TILING", CudnnCandidates.name(BWD_DATA, 3));
        assertEquals("ALGO_3", CudnnCandidates.name(BWD_FILTER, 3));
        assertEquals("FFT_TILING", CudnnCandidates.name(BWD_FILTER, 6));
        assertEquals("algorithm 9", CudnnCandidates.name(FWD, 9));
        assertEquals("FMA_MATH", CudnnCandidates.mathName(FMA));
    }
}
