/*
 * vq_kernels.h: Ventriq's float32 compute kernels (plain C, `vq_` prefix, no stable ABI).
 *
 * Everything a ViT encoder forward needs: a packed-weight GEMM for Linear layers, two strided
 * GEMMs for attention (Q.K^T and P.V), LayerNorm, row softmax, exact-erf GELU, residual add
 * and token mean pooling; and the int8 family of docs/QUANTIZATION.md (packed int8 GEMM with
 * float or requantized int8 output, activation quantization, lookup table); and a thread pool with
 * parallel drivers of the heavy ops that give the single-threaded bits.
 *
 * Layout (as in ggml): a portable scalar reference for every kernel (`vq_ref_*`, kernels_ref.c,
 * kernels_qref.c, requantize.c), SIMD versions for x86-64 (AVX2+FMA and AVX-512F float kernels,
 * kernels_x86.c; AVX2, AVX-512 VNNI and AVX-VNNI int8 kernels, kernels_x86_q.c) and aarch64
 * (NEON float kernels, kernels_neon.c; NEON and dot product int8 kernels, kernels_neon_q.c),
 * each compiled only where its ISA exists (function target attributes: one binary carries every
 * x86 ISA, and the aarch64 build needs only armv8-a), gathered in one dispatch table per ISA
 * (`vq_kernel_table`). One table is chosen once at run time (`vq_kernels_select`, or
 * automatically on the first call of any public kernel) and the public entry points (`vq_*`
 * without `ref`) call through it; the engine binds a table at prepare (`vq_kernels_table`).
 * Every table fills every member (with the reference where its ISA has no SIMD version).
 *
 * Conventions for every function below:
 *  - Matrices are row-major (float32, or int8 where typed so). A leading dimension (lda, ldb,
 *    ldc, ldx, ldy, ld) is the distance in elements (not bytes) between the starts of
 *    consecutive rows; it is >= the number of columns used. Sub-matrices (a head's slice of a [T, 3D] qkv buffer) are passed
 *    as a pointer to their first element plus the parent's leading dimension.
 *  - Sizes are ints >= 0; a kernel with a zero size writes nothing (except where said).
 *  - No kernel allocates memory, takes locks or keeps state between calls (apart from the
 *    dispatch choice). All kernels are reentrant; calls on disjoint outputs may run in parallel.
 *    The thread pool (last section) is the one object with state: created and destroyed
 *    explicitly, it allocates only at creation; the parallel drivers run kernels on it.
 *  - Unless a function says otherwise, outputs must not overlap inputs.
 *  - Results of SIMD float versions differ from the reference by rounding only (other summation
 *    order, fused multiply-add, polynomial exp/erf); the bounds are stated per kernel and
 *    checked by Tests/VentriqKernelsTests and Tests/kernels-c. The int8 kernels (and vq_add,
 *    vq_mean_rows) give the reference's bits on every ISA.
 *  - Inputs are finite unless a function says otherwise.
 */
#ifndef VQ_KERNELS_H
#define VQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Instruction sets and dispatch                                                              */
/* ------------------------------------------------------------------------------------------ */

/* ISA identifiers for vq_kernels_select / vq_kernels_table. */
/*
 * The float kernels of a table depend only on its vector width (AVX2 and AVX-VNNI share the
 * AVX2+FMA float kernels, AVX-512 and AVX-512 VNNI the AVX-512F ones, NEON and NEON dot product
 * the NEON ones); the int8 kernels (vq_q*, vq_quantize_s8, vq_lut_s8) differ:
 *   reference     scalar C
 *   avx2          int8 -> int16 sign extension and vpmaddwd (exact int16 pairs -> int32)
 *   avx512        the avx2 int8 kernels (AVX-512F alone has no byte/word arithmetic)
 *   avx512_vnni   vpdpbusd on zmm (u8 x s8, activations + 128, column-sum correction)
 *   avx_vnni      vpdpbusd on ymm (VEX encoding, AVX-VNNI)
 *   neon          smull/smlal (int8 x int8 -> int16 pairs) and sadalp into int32
 *   neon_dotprod  sdot (int8 x int8, 4 products -> int32)
 * Every table gives the same bits for every int8 kernel (integer arithmetic, identical float
 * epilogues), so the choice is a matter of speed only.
 */
#define VQ_ISA_AUTO 0         /* best the CPU supports, in the order avx512_vnni, avx512, avx_vnni,
                                 avx2, neon_dotprod, neon, reference */
#define VQ_ISA_REFERENCE 1    /* portable scalar C, every platform */
#define VQ_ISA_AVX2 2         /* x86-64 with AVX2 and FMA */
#define VQ_ISA_AVX512 3       /* x86-64 with AVX-512F (and AVX2+FMA, which every AVX-512 CPU has) */
#define VQ_ISA_NEON 4         /* aarch64 (Advanced SIMD is baseline there) */
#define VQ_ISA_AVX512_VNNI 5  /* x86-64 with AVX-512F, BW, VL and VNNI (and AVX2+FMA) */
#define VQ_ISA_AVX_VNNI 6     /* x86-64 with AVX2, FMA and AVX-VNNI (VEX-encoded vpdpbusd) */
#define VQ_ISA_NEON_DOTPROD 7 /* aarch64 with the dot product extension (HWCAP_ASIMDDP, sdot) */
#define VQ_ISA_COUNT 8        /* one past the last identifier */

/* Weight panel width of the packed GEMM (output columns per panel), the same for every ISA. */
#define VQ_SGEMM_NR 16

/*
 * One ISA's set of kernels. Every member is non-NULL in every table, and has exactly the
 * contract of the public function of the same name (vq_<member>), documented below. Tests call
 * members of several tables directly to compare ISAs; the engine calls the public functions.
 */
typedef struct vq_kernel_table {
    int isa;          /* VQ_ISA_* of this table */
    const char *name; /* "reference", "avx2", "avx512", "neon", "avx512_vnni", "avx_vnni",
                         "neon_dotprod" */
    void (*sgemm_packed)(int M, int N, int K, const float *A, int lda, const float *packed,
                         const float *bias, float *C, int ldc);
    void (*sgemm_packed_accumulate)(int M, int N, int K, const float *A, int lda,
                                    const float *packed, const float *bias, float *C, int ldc);
    void (*sgemm_nt)(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float alpha, float *C, int ldc);
    void (*sgemm_nn)(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc);
    void (*layernorm)(int rows, int cols, const float *x, int ldx, const float *gamma,
                      const float *beta, float eps, float *y, int ldy);
    void (*softmax_rows)(int rows, int cols, float *x, int ld);
    void (*gelu_erf)(int n, float *x);
    void (*erf)(int n, float *x);
    void (*exp)(int n, float *x);
    void (*add)(int n, const float *a, const float *b, float *y);
    void (*mean_rows)(int rows, int cols, const float *x, int ldx, float *y);
    /* int8 kernels */
    void (*qgemm_packed_f32)(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                             const int32_t *bias, const float *out_scale, float *C, int ldc);
    void (*qgemm_packed_s8)(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *C, int ldc);
    void (*quantize_s8)(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y,
                        int ldy);
    void (*lut_s8)(int n, const int8_t *x, const int8_t *lut256, int8_t *y);
    /* int8 attention pieces (float vector kernels: shared by a table and its int8 variant) */
    void (*quantize_rows_s8)(int rows, int cols, const float *x, int ldx, int8_t *y, int ldy, float *scale);
    void (*softmax_split8)(int rows, int cols, const float *x, int ldx, const float *row_scale, int8_t *hi,
                           int8_t *lo, int ldy, float *row_sum);
} vq_kernel_table;

/*
 * Chooses the kernels used by the public entry points from now on.
 * isa_request: VQ_ISA_AUTO or a specific VQ_ISA_* identifier.
 * Returns the identifier now in use, or -1 when the request names an ISA that this build or this
 * CPU lacks (the choice in use is then unchanged). AUTO never fails.
 * Without any call, the first public kernel call selects AUTO. Thread-safe (an atomic pointer),
 * but switching while other threads run kernels makes those calls use either table.
 */
int vq_kernels_select(int isa_request);

/* The identifier / name (vq_kernel_table.name) of the ISA in use (selecting
 * AUTO first if nothing was selected yet). */
int vq_kernels_isa(void);
const char *vq_kernels_isa_name(void);

/* 1 when this build contains kernels for `isa` and this CPU can run them (REFERENCE: always;
 * AUTO: always), else 0. */
int vq_kernels_isa_supported(int isa);

/* The table of `isa` (VQ_ISA_AUTO: the one AUTO would choose), or NULL when unsupported.
 * Does not change the selection. */
const vq_kernel_table *vq_kernels_table(int isa);

/* The table the public entry points use now (selecting AUTO first if nothing was selected). */
const vq_kernel_table *vq_kernels_active(void);

/* ------------------------------------------------------------------------------------------ */
/* GEMM for Linear layers: weights packed once at load                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * Packed weight layout (ISA-independent: packed once, valid for every table, so switching ISA
 * needs no repacking). W is a PyTorch Linear weight [N, K] (out x in, row-major, K contiguous).
 * Output columns are cut into ceil(N / 16) panels of VQ_SGEMM_NR = 16; panel p holds columns
 * 16p .. 16p+15 as K rows of 16 floats:
 *     packed[(size_t)p * K * 16 + k * 16 + j] = W[(16p + j) * K + k]   when 16p + j < N
 *                                             = 0                      otherwise (padding)
 * so each panel is K * 16 contiguous floats, and K-slices of a panel are contiguous too.
 * The buffer needs no particular alignment (64-byte alignment is best).
 */

/* Number of floats of the packed form of an [N, K] weight: ceil(N / 16) * 16 * K. */
size_t vq_sgemm_packed_size(int N, int K);

/* Packs W [N, K] (row-major, leading dimension K) into `packed` (vq_sgemm_packed_size(N, K)
 * floats, padding included). `packed` must not overlap W. Not dispatched (one layout). */
void vq_sgemm_pack(const float *W, int N, int K, float *packed);

/*
 * C[M, N] = A[M, K] . W[N, K]^T + bias[N]   (a Linear layer: y = x W^T + b)
 *   A:      M x K, leading dimension lda >= K
 *   packed: W packed by vq_sgemm_pack(W, N, K, packed) (the same N and K)
 *   bias:   N floats, or NULL for none
 *   C:      M x N, leading dimension ldc >= N; overwritten; must not overlap A, packed or bias
 * K = 0 gives C = bias (or 0). Sums are float32 in an unspecified order (SIMD: FMA); each
 * element is within 1.01 (K + 4) 2^-24 (|bias_j| + sum_k |A_ik W_jk|) (+ (K + 4) 2^-149 for
 * subnormal partial sums) of the exact value: the GEMM bound of the tests.
 */
void vq_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed,
                     const float *bias, float *C, int ldc);

/*
 * C[M, N] += A[M, K] . W[N, K]^T + bias[N]: the same as vq_sgemm_packed, but adds to C (the
 * fused residual of an attention projection or MLP output: x += proj(h)). Same arguments and
 * aliasing rules; the bound gains |C_ij| inside the parentheses.
 */
void vq_sgemm_packed_accumulate(int M, int N, int K, const float *A, int lda, const float *packed,
                                const float *bias, float *C, int ldc);

/* ------------------------------------------------------------------------------------------ */
/* Strided GEMMs for attention (no packing, no allocation: a 16 KiB stack buffer at most)    */
/* ------------------------------------------------------------------------------------------ */

/*
 * C[M, N] = alpha * A[M, K] . B[N, K]^T     (scores = scale * Q . K^T)
 *   A: M x K, leading dimension lda >= K (Q: a head slice of qkv [T, 3D], lda = 3D)
 *   B: N x K, leading dimension ldb >= K (K: a head slice of qkv, ldb = 3D)
 *   C: M x N, leading dimension ldc >= N; overwritten; must not overlap A or B
 * K = 0 gives C = 0. Bound: 1.01 (K + 4) 2^-24 |alpha| sum_k |A_ik B_jk| (+ subnormal slack).
 */
void vq_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float alpha, float *C, int ldc);

/*
 * C[M, N] = A[M, K] . B[K, N]               (out_h = P . V_h)
 *   A: M x K, leading dimension lda >= K (P: the softmaxed scores)
 *   B: K x N, leading dimension ldb >= N (V: a head slice of qkv, ldb = 3D)
 *   C: M x N, leading dimension ldc >= N; overwritten (out: a head slice of [T, D], ldc = D);
 *      must not overlap A or B
 * K = 0 gives C = 0. Bound: 1.01 (K + 4) 2^-24 sum_k |A_ik B_kj| (+ subnormal slack).
 */
void vq_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float *C, int ldc);

/* ------------------------------------------------------------------------------------------ */
/* Row and element-wise kernels                                                               */
/* ------------------------------------------------------------------------------------------ */

/*
 * LayerNorm over each row of x [rows, cols] (torch.nn.LayerNorm(cols, eps)):
 *   mean = sum(x) / cols;  var = sum((x - mean)^2) / cols  (population variance, two passes);
 *   y = (x - mean) * (1 / sqrt(var + eps)) * gamma + beta
 *   gamma, beta: cols floats each (non-NULL); eps >= 0 (cols >= 1 rows must not be constant
 *   when eps = 0)
 *   y: rows x cols, leading dimension ldy; y == x with ldy == ldx (in place) is allowed, any
 *   other overlap is not.
 * Float32 sums (SIMD: other order, FMA). Bound vs exact: 2 (cols + 8) 2^-24 *
 * (|gamma| rstd (|x - mean| + mean|x|) + |beta|) + 2^-23 |y|.
 */
void vq_layernorm(int rows, int cols, const float *x, int ldx, const float *gamma,
                  const float *beta, float eps, float *y, int ldy);

/*
 * Softmax of each row of x [rows, cols] in place (torch.softmax(x, -1)):
 *   m = max(row);  e = exp(x - m);  x = e * (1 / sum(e))
 * Entries may be -inf (masked; they become 0) as long as each row has a finite entry; other
 * inputs must be finite. SIMD versions use a polynomial exp (<= 2 ulp); bound vs exact
 * (2 cols + 12 + |x - m|) 2^-24 relative per element.
 */
void vq_softmax_rows(int rows, int cols, float *x, int ld);

/*
 * Exact (erf) GELU in place, torch.nn.functional.gelu(x) with approximate='none':
 *   x = (0.5 * x) * (1 + erf(x * (1 / sqrt(2))))
 * The reference uses libm erff; SIMD versions a vectorized erf (see vq_erf). NaN propagates.
 */
void vq_gelu_erf(int n, float *x);

/*
 * erf in place. Reference: libm erff. SIMD: |x| < 0.875: x P(x^2); 0.875 <= |x| < 4:
 * 1 - exp(-x^2) R(x) (near-minimax polynomials); |x| >= 4: +-1; max abs error vs erff <= 2e-7,
 * erf(+-0) = +-0, NaN propagates. Exposed for tests and for models that need erf alone.
 */
void vq_erf(int n, float *x);

/*
 * exp in place. Reference: libm expf. SIMD: Cody-Waite reduction and a degree-7 polynomial,
 * <= 2 ulp for normal results, subnormal results included (x >= -104: exact scaling in two
 * steps), 0 below about -103.97, +inf above ln(FLT_MAX), NaN propagates.
 */
void vq_exp(int n, float *x);

/* y[i] = a[i] + b[i] for i < n (the residual). y may be a and/or b (in place); no partial
 * overlap. Exact: every ISA gives the same bits. */
void vq_add(int n, const float *a, const float *b, float *y);

/*
 * Mean over rows (token mean pooling): y[j] = (sum_{i<rows} x[i, j]) / rows for j < cols.
 * The sum is float32, accumulated in row order for every column (so SIMD versions give the
 * same bits as the reference), then divided by (float)rows. rows = 0 gives y = NaN (0/0) like
 * torch.mean of an empty dimension. y (cols floats) must not overlap x.
 */
void vq_mean_rows(int rows, int cols, const float *x, int ldx, float *y);

/* ------------------------------------------------------------------------------------------ */
/* int8 kernels (docs/QUANTIZATION.md): exact integer GEMM, requantization, quantization      */
/* ------------------------------------------------------------------------------------------ */

/*
 * Every int8 kernel gives the same bits on every ISA (the integer sums are exact and the float
 * operations are single IEEE float32 operations in a fixed order), so the tests compare each
 * table with the reference for bit equality.
 *
 * Packed int8 weight layout (ISA-independent; vq_qgemm_pack). W is [N, K] int8 row-major, entries
 * in [-127, 127] (the quantizer's range; -128 is not allowed in W, see vq_qgemm_packed_f32).
 * Kp = K rounded up to a multiple of 4. Output columns are cut into ceil(N / 16) panels of
 * VQ_QGEMM_NR = 16; every panel is VQ_QGEMM_PANEL_BYTES(K) = 16 * Kp + 64 bytes, panel p
 * starting at byte p * VQ_QGEMM_PANEL_BYTES(K):
 *   - Kp / 4 groups of 64 bytes, group g = 4 consecutive k of the 16 columns, column-major
 *     within the group (one int32 lane per column, as vpdpbusd and sdot consume it):
 *         panel[64 g + 4 j + t] = W[16p + j, 4g + t]   when 16p + j < N and 4g + t < K
 *                               = 0                    otherwise (padding)
 *   - then 16 int32 (native byte order): colsum[j] = sum_{k<K} W[16p + j, k] (0 for padding
 *     columns), the correction of the VNNI kernels, which add 128 to the activations to make
 *     them unsigned: sum_k (a_k + 128) w_k - 128 colsum = sum_k a_k w_k, exactly.
 * With a 64-byte aligned buffer every group and every panel is 64-byte aligned (best); any
 * alignment works.
 */
#define VQ_QGEMM_NR 16
#define VQ_QGEMM_PANEL_BYTES(K) ((size_t)16 * (((size_t)(K) + 3) & ~(size_t)3) + 64)

/* Bytes of the packed form of an [N, K] int8 weight: ceil(N / 16) * VQ_QGEMM_PANEL_BYTES(K);
 * 0 when N <= 0 or K <= 0. */
size_t vq_qgemm_packed_size(int N, int K);

/* Packs W [N, K] (row-major, leading dimension K, entries in [-127, 127]) into `packed`
 * (vq_qgemm_packed_size(N, K) bytes, padding and column sums included). `packed` must not
 * overlap W. Not dispatched (one layout). */
void vq_qgemm_pack(const int8_t *W, int N, int K, int8_t *packed);

/* The same packed form of W [N, K] given transposed: W[n, k] = Wt[k * ldwt + n] (Wt is [K, N]
 * row-major with leading dimension ldwt >= N; e.g. attention's V as the weight of P.V). Gives the
 * bytes vq_qgemm_pack gives on the untransposed W. */
void vq_qgemm_pack_transposed(const int8_t *Wt, int N, int K, int ldwt, int8_t *packed);

/*
 * int8 Linear with float output:
 *   acc[m, n] = bias[n] + sum_{k<K} A[m, k] * W[n, k]      int32 (exact; wraps modulo 2^32,
 *                                                          which no real model reaches: |sum| <=
 *                                                          K * 128 * 127)
 *   C[m, n]   = (float)acc[m, n] * out_scale[n]            int -> float rounds to nearest even,
 *                                                          then one float32 multiply (no FMA)
 *   A:         M x K int8, leading dimension lda >= K; any int8 (-128 included)
 *   packed:    W packed by vq_qgemm_pack(W, N, K, packed) (the same N and K); W in [-127, 127]
 *              (the plain NEON table sums two products in int16, which -128 * -128 * 2 would
 *              overflow; every other table is exact for W = -128 too)
 *   bias:      N int32, or NULL for none (0)
 *   out_scale: N floats (s_x * s_w[n])
 *   C:         M x N floats, leading dimension ldc >= N; overwritten; must not overlap the inputs
 * M, N, K >= 0 (K = 0: acc = bias). No allocation (stack <= 16 KiB).
 */
void vq_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                         const int32_t *bias, const float *out_scale, float *C, int ldc);

/*
 * int8 Linear with int8 output (fc1, feeding the GELU table): acc as in vq_qgemm_packed_f32, then
 *   C[m, n] = clamp(vq_requantize(acc[m, n], multiplier[n], shift[n]), -127, 127)
 *   multiplier, shift: N int32 each (vq_quantize_multiplier of s_x * s_w[n] / s_y)
 *   C: M x N int8, leading dimension ldc >= N; overwritten; must not overlap the inputs
 * Same arguments and rules as vq_qgemm_packed_f32 otherwise.
 */
void vq_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                        const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                        int8_t *C, int ldc);

/*
 * gemmlowp / TFLite fixed-point requantization (the one definition, requantize.c, shared by the
 * runtime and the quantizer): real value acc * multiplier * 2^(shift - 31), rounded.
 *   s = clamp(shift, -31, 31)  (vq_quantize_multiplier gives -31...30; wider values are clamped)
 *   left = s > 0 ? s : 0;  right = s > 0 ? 0 : -s
 *   x = acc * 2^left, saturated to [INT32_MIN, INT32_MAX]
 *   x = SaturatingRoundingDoublingHighMul(x, multiplier):
 *       INT32_MIN * INT32_MIN gives INT32_MAX; else ab = (int64)x * multiplier,
 *       nudge = ab >= 0 ? 2^30 : 1 - 2^30, x = (int32)((ab + nudge) / 2^31) (C division,
 *       truncating toward zero; the result is round-half-up of ab / 2^31)
 *   RoundingDivideByPOT(x, right): mask = 2^right - 1, remainder = x & mask,
 *       threshold = (mask >> 1) + (x < 0 ? 1 : 0), result = (x >> right) + (remainder > threshold)
 *       (arithmetic shift; rounds half away from zero)
 * Any multiplier is accepted (negative ones too: the formulas are defined for every int32).
 */
int32_t vq_requantize(int32_t acc, int32_t multiplier, int32_t shift);

/*
 * TFLite QuantizeMultiplier: real_multiplier = multiplier * 2^(shift - 31) with multiplier in
 * [2^30, 2^31) (or 0):
 *   0 -> (0, 0); else frexp(real) = f * 2^e with f in [0.5, 1), q = llround(f * 2^31);
 *   q == 2^31 (f rounded up) -> q = 2^30, e + 1; e < -31 -> (0, 0) (too small: rounds to 0);
 *   e > 30 -> (2^31 - 1, 30) (too large: saturated); else (q, e).
 * Negative, NaN and other invalid inputs give (0, 0); +inf gives (2^31 - 1, 30).
 */
void vq_quantize_multiplier(double real_multiplier, int32_t *multiplier, int32_t *shift);

/*
 * Activation quantization (symmetric, zero point 0):
 *   y[r, c] = clamp(rint(x[r, c] * inv_scale), -127, 127)
 * the product in float32, rint rounding half to even (the default rounding mode), NaN -> 0,
 * +-inf and huge values clamp to +-127; -128 is never produced. x: rows x cols floats,
 * leading dimension ldx; y: rows x cols int8, leading dimension ldy; no overlap.
 */
void vq_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y,
                    int ldy);

/*
 * Per-row dynamic quantization (attention's Q and K): for each row r of x [rows, cols]
 *   amax = max_c |x[r, c]| (NaN skipped); scale[r] = amax / 127 and inv = 127 / amax in float32
 *   (amax 0 or infinite: both 0);  y[r, c] = vq_quantize_s8's element of x[r, c] with inv.
 * Same bits on every ISA. y: rows x cols int8, leading dimension ldy; scale: rows floats.
 */
void vq_quantize_rows_s8(int rows, int cols, const float *x, int ldx, int8_t *y, int ldy, float *scale);

/*
 * Softmax numerators split into two int8 planes (attention's P before normalisation, about 16
 * bits: two int8 GEMMs instead of one 8-bit P, whose rounding was most of the int8 attention
 * error). Per row r of x [rows, cols] with m = max_c x[r, c]:
 *   p = min(exp(max((x[r, c] - m) * row_scale[r], -87)) * 255, 255)     (float32, in [0, 255])
 *   h = rint(p) in [0, 255];  l = rint((p - h) * 254) in [-127, 127]     (p - h is exact)
 *   hi[r, c] = h - 128 (the unsigned h shifted into the int8 GEMM's activation range; the GEMM
 *              adds 128 * sum_k W[n, k] back as a bias, exactly);  lo[r, c] = l
 *   row_sum[r] = (float)sum_c h + (float)sum_c l / 254     (so P = h + l / 254 sums to row_sum)
 * The reference computes (x - m) * row_scale in float32 and libm expf; the SIMD tables compute
 * 255 * 2^(x c - m c), c = row_scale log2(e), with a degree-4 polynomial (relative error
 * <= 2.7e-6; the same operations on every SIMD ISA, so those agree bit for bit): h + l / 254 agrees
 * with the reference within 1/254 plus that error. row_scale[r] >= 0 and finite; x finite.
 * hi, lo: leading dimension ldy.
 */
void vq_softmax_split8(int rows, int cols, const float *x, int ldx, const float *row_scale, int8_t *hi, int8_t *lo,
                       int ldy, float *row_sum);

/*
 * The int8 attention core of one layer (docs/QUANTIZATION.md, "Attention in int8"), for every
 * head h of a [T, 3D] qkv buffer (Q, K, V = column slices h*hd .., D + h*hd .., 2D + h*hd ..,
 * hd = D / heads, timm's order) writes out[:, h*hd .. h*hd + hd):
 *   Q and K rows quantized per token, V per head (dynamic symmetric scales amax / 127, values in
 *   [-127, 127] by vq_quantize_s8's rounding; an all-zero row or head gets scale 0);
 *   s[i, j] = (sum_c Qq[i, c] Kq[j, c]) * sk[j]       (int8 GEMM, exact integer sum)
 *   h, l, n_i = vq_softmax_split8 of s[i, :] with row_scale sq[i] * (1 / sqrt(hd)) (float32)
 *   out[i, c] = ((float)(sum_j h[i, j] Vq[j, c]) * sv + (float)(sum_j l[i, j] Vq[j, c]) * (sv / 254))
 *               * (1 / n_i)                         (exact integer sums; sv / 254 in float32)
 * Query rows go through in blocks, so no [T, T] buffer exists. Differences between tables
 * come only from vq_softmax_split8's exp (SIMD polynomial vs libm).
 *   kt: the kernel table to run with (vq_kernels_table / vq_kernels_active)
 *   qkv: T x 3D floats, leading dimension ldqkv >= 3D; out: T x D floats, leading dimension
 *   ldo >= D, must not overlap qkv; workspace: vq_attention_s8_workspace_size(T, D / heads)
 *   bytes, 64-byte aligned, overwritten. T, D, heads >= 1, heads divides D (else nothing is
 *   written). Inputs finite. No allocation.
 */
size_t vq_attention_s8_workspace_size(int T, int head_dim);
void vq_attention_s8(const vq_kernel_table *kt, int T, int D, int heads, const float *qkv, int ldqkv,
                     float *out, int ldo, void *workspace);

/* Table lookup (the GELU table): y[i] = lut256[x[i] + 128] for i < n. y may be x (in place); no
 * partial overlap. */
void vq_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y);

/* ------------------------------------------------------------------------------------------ */
/* Thread pool and parallel drivers (threadpool.c, parallel.c)                                 */
/* ------------------------------------------------------------------------------------------ */

/*
 * A fixed pool for one caller: `threads - 1` persistent worker threads plus the thread that calls
 * vq_pool_run, which works too. Everything is allocated by vq_pool_create (the pool, the worker
 * threads and their stacks); vq_pool_run allocates nothing, creates no thread and takes no lock
 * on its fast path, so an engine can run it per op and per window.
 *
 * vq_pool_run(pool, tasks, fn, ctx) calls fn(ctx, task, thread) once for every task in
 * [0, tasks) and returns when all have returned (a barrier). `thread` is the index, in
 * [0, threads), of the thread running the call (0: the caller): a task may use per-thread
 * scratch indexed by it, since one thread runs one task at a time. Which thread runs which task
 * is decided at run time (threads claim the next task from a shared counter, so a worker that is
 * asleep or descheduled never holds the caller up) and is not reproducible; results are when
 * every task writes its own outputs and depends only on its inputs, as in every driver below.
 *
 * Waiting: an idle worker spins for about VQ_POOL_SPIN_US microseconds (the gap between the ops
 * of one window), then sleeps in the kernel (futex on Linux, a condition variable elsewhere), so
 * idle workers do not burn a core between windows; vq_pool_run wakes sleepers only when there
 * are some. The caller waits for the tasks that workers claimed by spinning (then yielding).
 *
 * Not reentrant: one vq_pool_run at a time per pool, from one thread at a time (tasks must not
 * call vq_pool_run on their own pool). Worker threads run with every signal blocked.
 */
typedef struct vq_pool vq_pool;
typedef void (*vq_pool_task)(void *ctx, int task, int thread);

#define VQ_POOL_MAX_THREADS 64
#define VQ_POOL_SPIN_US 200

/* A pool of `threads` (1...VQ_POOL_MAX_THREADS) threads in all: starts threads - 1 workers
 * (none for 1). Returns NULL, with errno set, when `threads` is out of range (EINVAL), or memory
 * or a thread cannot be had (the workers already started are then stopped and joined). */
vq_pool *vq_pool_create(int threads);

/* Stops and joins the workers and frees the pool. NULL is a no-op. Not while a run is active. */
void vq_pool_destroy(vq_pool *pool);

/* The thread count given at creation (1 for NULL). */
int vq_pool_threads(const vq_pool *pool);

/* Runs fn(ctx, task, thread) for each task in [0, tasks) and returns when all are done (tasks
 * <= 0: nothing). pool NULL, one thread or one task: runs them in order on the caller, thread 0,
 * waking nobody. */
void vq_pool_run(vq_pool *pool, int tasks, vq_pool_task fn, void *ctx);

/* Runs fn(ctx, thread, thread) exactly once on each thread of the pool (the caller as thread 0)
 * and returns when all are done; waits for sleeping workers to wake. For per-thread setup and
 * for tests (e.g. starting an allocation counter on every worker), not for per-window work. */
void vq_pool_broadcast(vq_pool *pool, vq_pool_task fn, void *ctx);

/* Worker threads of every pool in this process that are running now (started and not yet
 * joined): a leak check for tests. */
int vq_pool_live_workers(void);

/*
 * Parallel versions of the engine's ops. Each one runs on `pool` (NULL: on the caller alone) with
 * the kernels of table `kt`, splitting the work only along outputs (rows of C, query rows of a
 * head, rows, elements), never along a reduction, and runs on the caller alone when the op is
 * too small to gain: every output element is computed by the same kernel
 * with the same operations in the same order as one call over the whole op, so the results are
 * bit-identical to the single-threaded call for any thread count (tests check it for every
 * table). Same arguments and rules as the table member (vq_<name>) otherwise. No allocation.
 */
void vq_parallel_sgemm_packed(vq_pool *pool, const vq_kernel_table *kt, int M, int N, int K, const float *A,
                              int lda, const float *packed, const float *bias, float *C, int ldc);
void vq_parallel_qgemm_packed_f32(vq_pool *pool, const vq_kernel_table *kt, int M, int N, int K, const int8_t *A,
                                  int lda, const int8_t *packed, const int32_t *bias, const float *out_scale,
                                  float *C, int ldc);
void vq_parallel_qgemm_packed_s8(vq_pool *pool, const vq_kernel_table *kt, int M, int N, int K, const int8_t *A,
                                 int lda, const int8_t *packed, const int32_t *bias, const int32_t *multiplier,
                                 const int32_t *shift, int8_t *C, int ldc);
void vq_parallel_gelu_erf(vq_pool *pool, const vq_kernel_table *kt, int n, float *x);
/* The light ops too: they are a few microseconds each, but after a parallel GEMM half of their
 * input sits in another core's cache, so one thread alone runs them slower than before. */
void vq_parallel_add(vq_pool *pool, const vq_kernel_table *kt, int n, const float *a, const float *b, float *y);
void vq_parallel_layernorm(vq_pool *pool, const vq_kernel_table *kt, int rows, int cols, const float *x, int ldx,
                           const float *gamma, const float *beta, float eps, float *y, int ldy);
void vq_parallel_quantize_s8(vq_pool *pool, const vq_kernel_table *kt, int rows, int cols, const float *x, int ldx,
                             float inv_scale, int8_t *y, int ldy);
void vq_parallel_lut_s8(vq_pool *pool, const vq_kernel_table *kt, int n, const int8_t *x, const int8_t *lut256,
                        int8_t *y);

/*
 * Float multi-head attention on a [T, 3D] qkv buffer (the engine's float attention op): for
 * each head h, S = (Q_h K_h^T) * (float)(1 / sqrt(hd)) by kt->sgemm_nt, kt->softmax_rows over
 * each row of S, out_h = S V_h by kt->sgemm_nn, hd = D / heads; the single-threaded engine makes
 * the same three calls on the whole [T, T] S. Here the tasks are (head, block of query rows):
 * as many blocks per head as make heads x blocks a multiple of the thread count (an even share
 * each), more while a block's scores would exceed VQ_PARALLEL_ATTN_BLOCK_FLOATS. Each thread
 * has its own [rows, T] block of `scratch`: vq_parallel_attention_f32_scratch(T, heads,
 * threads) floats (threads = vq_pool_threads(pool)). T, D, heads >= 1, heads divides D (else
 * nothing is written); out must not overlap qkv.
 */
#define VQ_PARALLEL_ATTN_BLOCK_FLOATS 65536 /* 256 KiB of scores per thread: within L2 */
size_t vq_parallel_attention_f32_scratch(int T, int heads, int threads);
void vq_parallel_attention_f32(vq_pool *pool, const vq_kernel_table *kt, int T, int D, int heads, const float *qkv,
                               int ldqkv, float *out, int ldo, float *scratch);

/*
 * vq_attention_s8 on a pool, with the same bits: first one task per head (quantize Q, K and V,
 * pack K and V: per-head parts of the workspace), then one task per (head, block of query rows)
 * (scores, split softmax, the two P.V GEMMs: per-thread parts). workspace:
 * vq_parallel_attention_s8_workspace_size(T, D / heads, heads, threads) bytes, 64-byte aligned
 * (threads = vq_pool_threads(pool)). Same arguments and rules as vq_attention_s8 otherwise.
 */
size_t vq_parallel_attention_s8_workspace_size(int T, int head_dim, int heads, int threads);
void vq_parallel_attention_s8(vq_pool *pool, const vq_kernel_table *kt, int T, int D, int heads, const float *qkv,
                              int ldqkv, float *out, int ldo, void *workspace);

/* ------------------------------------------------------------------------------------------ */
/* Scalar references (always compiled; same contracts as the public functions above)         */
/* ------------------------------------------------------------------------------------------ */

/*
 * The ground-truth Linear: C = A . W^T + bias on the unpacked weight W [N, K] (leading
 * dimension ldw >= K), sum over k in order in float32 (no FMA: the target builds with
 * -ffp-contract=off), then + bias. accumulate != 0 adds the result to C instead
 * (C = C + (sum + bias)). Gives the same bits as vq_ref_sgemm_packed on the packed weight.
 */
void vq_ref_sgemm(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                  const float *bias, int accumulate, float *C, int ldc);

void vq_ref_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed,
                         const float *bias, float *C, int ldc);
void vq_ref_sgemm_packed_accumulate(int M, int N, int K, const float *A, int lda,
                                    const float *packed, const float *bias, float *C, int ldc);
/* alpha * (sum over k in order). */
void vq_ref_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float alpha, float *C, int ldc);
void vq_ref_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc);
void vq_ref_layernorm(int rows, int cols, const float *x, int ldx, const float *gamma,
                      const float *beta, float eps, float *y, int ldy);
void vq_ref_softmax_rows(int rows, int cols, float *x, int ld);
void vq_ref_gelu_erf(int n, float *x);
void vq_ref_erf(int n, float *x);
void vq_ref_exp(int n, float *x);
void vq_ref_add(int n, const float *a, const float *b, float *y);
void vq_ref_mean_rows(int rows, int cols, const float *x, int ldx, float *y);
/* int8: acc summed over k in order in wrapping int32 arithmetic (the same value as any order). */
void vq_ref_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                             const int32_t *bias, const float *out_scale, float *C, int ldc);
void vq_ref_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *C, int ldc);
void vq_ref_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y,
                        int ldy);
void vq_ref_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y);
void vq_ref_quantize_rows_s8(int rows, int cols, const float *x, int ldx, int8_t *y, int ldy, float *scale);
void vq_ref_softmax_split8(int rows, int cols, const float *x, int ldx, const float *row_scale, int8_t *hi,
                           int8_t *lo, int ldy, float *row_sum);

#ifdef __cplusplus
}
#endif

#endif /* VQ_KERNELS_H */
