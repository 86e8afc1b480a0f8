package io.basq4j.tensor;

import static org.bytedeco.cuda.global.cublas.CUBLAS_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.CUBLAS_TF32_TENSOR_OP_MATH;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasGetStatusString;
import static org.bytedeco.cuda.global.cublas.cublasSetMathMode;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cublas.cublasSgemm_v2;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;

/** cuBLAS SGEMM on the backend's stream, with row-major arguments as basq_sgemm's. */
final class CudaBlas {
    private final cublasContext handle = new cublasContext();
    private final FloatPointer alpha = new FloatPointer(1);
    private final FloatPointer beta = new FloatPointer(1);
    private boolean tf32;

    CudaBlas(CUstream_st stream, boolean tf32) {
        check(cublasCreate_v2(handle), "cublasCreate");
        check(cublasSetStream_v2(handle, stream), "cublasSetStream");
        this.tf32 = !tf32;
        setTf32(tf32);
    }

    /** Whether SGEMM may use TF32 tensor cores (a cuBLAS call only when the setting changes). */

    void setTf32(boolean on) {
        if (on != tf32) {
            check(cublasSetMathMode(handle, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            tf32 = on;
        }
    }

    /**
     * C[M,N] = a * op(A) op(B) + b * C, all row-major (as basq_sgemm). cuBLAS is column-major,
     * where a row-major matrix is its transpose: so it computes C^T = op(B)^T op(A)^T.
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float a, FloatPointer A, int lda, FloatPointer B,
            int ldb, float b, FloatPointer C, int ldc) {
        alpha.put(0, a);
        beta.put(0, b);
        check(cublasSgemm_v2(handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                alpha, B, ldb, A, lda, beta, C, ldc), "cublasSgemm");
    }

    private static void check(int status, String call) {
        if (status != 0) {
            String s;
            try {
                s = cublasGetStatusString(status).getString();
            } catch (RuntimeException e) {
                s = "status " + status;
            }
            throw new IllegalStateException(call + " failed: " + s);
        }
    }
}
