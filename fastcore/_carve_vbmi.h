/* The uint8 carve's windowed AVX-512 path, for bricks every view sees well inside its image.
 *
 * Included by _carve_simd.h (after cd_u8_job and cd_put_row).  x86-64 with GCC or clang only; the functions carry their own
 * target attribute and run only where the CPU reports AVX-512 F/BW/VBMI (cd_vbmi_usable), so
 * the binary stays portable.  Elsewhere cd_vbmi_usable() is 0 and nothing here is compiled.
 *
 * Why: the scalar path pays about two loads and a branch per voxel and view to read pixels,
 * and gathers are no faster on the CPUs measured (issue 16).  When the grid's i axis runs
 * along image rows (a rig whose x axis is the baseline), 16 voxels i0..i0+15 of one (j, k)
 * land within a few dozen bytes of one or two image rows.  Then two 64-byte loads and one
 * byte permute (vpermi2b) read all 16 pixels.  So a tile of 16 (i) x 16 (k) voxels at one j is
 * computed as 16 vectors along i, transposed in registers and stored as 16 row pieces of 16
 * floats along k (streaming stores when the grid is 64-byte aligned and too big to cache).
 * A vector whose pixels do not fit such a window reads them with scalar loads.
 *
 * Arithmetic: per k, (x + z/2, y + z/2, z) of voxel (i0, j, k) in double, rounded to float32
 * (as cd_segment_params), plus lane * its float32 step along i; 1/z is vrcp14ps with one
 * Newton step, and p / 255 is fma(p, c_hi, p * c_lo), equal to float32(p) / 255 for every p
 * (the path runs only when the lut is that: cd_lut_is_255).  A voxel may therefore pick a
 * different pixel than the scalar path only within a few 1e-4 px of a pixel boundary, as
 * between any two backends (9e-5 of the dense bench scene's voxels at 256^3).
 * Callers only pass state-1 bricks (in front of every view, at least a pixel inside every
 * image): no clamps are needed.
 */
#ifndef CAMDECK_CARVE_VBMI_H
#define CAMDECK_CARVE_VBMI_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(CAMDECK_NO_VBMI)
#define CD_VBMI 1
#include <immintrin.h>
#define CD_VBMI_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi")))

/* 1 when this CPU runs the windowed path (asked once per process). */
static int cd_vbmi_usable(void)
{
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
                && __builtin_cpu_supports("avx512vbmi");
    }
    return known;
}

/* Scalar loads of the pixels at (row, col), for vectors no window fits. */
static inline CD_VBMI_TARGET __m512i cd_vbmi_scalar(const uint8_t *im, int W, __m512i row, __m512i col)
{
    int32_t idx[16];
    uint8_t px[16];
    _mm512_storeu_si512((void *)idx, _mm512_add_epi32(_mm512_mullo_epi32(row, _mm512_set1_epi32(W)), col));
    for (int m = 0; m < 16; ++m) px[m] = im[idx[m]];
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)px));
}

/* The 16 pixels of one vector of voxels in one view, as 32-bit lanes.  The voxels are 16
 * consecutive ones along i; when their pixels lie within 64 bytes on each of two consecutive
 * image rows (counted from the lowest row and column, which are the first or the last voxel's:
 * a projected line is monotone), two loads and one byte permute read them all. */
static CD_ALWAYS_INLINE CD_VBMI_TARGET __m512i cd_vbmi_pixels(const uint8_t *im, int W, int H,
                                                              __m512 x, __m512 y, __m512 z)
{
    const __m512 r0 = _mm512_rcp14_ps(z);
    const __m512 r = _mm512_mul_ps(r0, _mm512_fnmadd_ps(z, r0, _mm512_set1_ps(2.0f)));
    const __m512i col = _mm512_cvttps_epi32(_mm512_mul_ps(x, r));
    const __m512i row = _mm512_cvttps_epi32(_mm512_mul_ps(y, r));
    const int c0 = _mm_cvtsi128_si32(_mm512_castsi512_si128(col));
    const int r0i = _mm_cvtsi128_si32(_mm512_castsi512_si128(row));
    const int c15 = _mm_extract_epi32(_mm512_extracti32x4_epi32(col, 3), 3);
    const int r15 = _mm_extract_epi32(_mm512_extracti32x4_epi32(row, 3), 3);
    const int cmin = c0 < c15 ? c0 : c15, rmin = r0i < r15 ? r0i : r15;
    /* both 64-byte loads must stay inside the image */
    if (rmin >= 0 && cmin >= 0 && (size_t)(rmin + 1) * W + cmin + 64 <= (size_t)W * H) {
        const __m512i dc = _mm512_sub_epi32(col, _mm512_set1_epi32(cmin));
        const __m512i dr = _mm512_sub_epi32(row, _mm512_set1_epi32(rmin));
        const __mmask16 ok = _mm512_cmplt_epu32_mask(dc, _mm512_set1_epi32(64))
                           & _mm512_cmplt_epu32_mask(dr, _mm512_set1_epi32(2));
        if (ok == 0xFFFF) {
            const uint8_t *p = im + (size_t)rmin * W + cmin;
            /* Byte 0 of each 32-bit lane holds its offset in the two rows (bit 6: the second
             * row); the permute fills all four bytes of the lane, the mask keeps byte 0. */
            const __m512i sel = _mm512_permutex2var_epi8(
                _mm512_loadu_si512((const void *)p), _mm512_add_epi32(dc, _mm512_slli_epi32(dr, 6)),
                _mm512_loadu_si512((const void *)(p + W)));
            return _mm512_and_si512(sel, _mm512_set1_epi32(255));
        }
    }
    return cd_vbmi_scalar(im, W, row, col);
}

/* In-register transpose of a 16 x 16 float tile (r[a] lane b -> r[b] lane a). */
static inline CD_VBMI_TARGET void cd_vbmi_transpose(__m512 *r)
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 16; i += 8)
        for (int a = 0; a < 4; ++a) {
            t[i + a] = _mm512_shuffle_f32x4(r[i + a], r[i + 4 + a], 0x88);
            t[i + 4 + a] = _mm512_shuffle_f32x4(r[i + a], r[i + 4 + a], 0xDD);
        }
    for (int a = 0; a < 8; ++a) {
        r[a] = _mm512_shuffle_f32x4(t[a], t[8 + a], 0x88);
        r[8 + a] = _mm512_shuffle_f32x4(t[a], t[8 + a], 0xDD);
    }
}

/* Voxels i0..i0+15 x j0..j1-1 x k0..k1-1 ((k1 - k0) a multiple of 16), every one in front of
 * every view and at least a pixel inside its image.  Voxel (i0 + a, j, k0 + m) goes to
 * dst[a * si + (j - j0) * sj + m]; nt: streaming stores (every 16-float piece must start a
 * cache line).  The k tiles are the outer loop and j the inner, so the image rows one k tile
 * reads stay in L1 across the j's (at 256^3 that took the dense bench scene from 9.5 to 7.9 ms). */
static CD_VBMI_TARGET void cd_vbmi_tiles(const double *coef, const uint8_t *const *ims, int V,
                                         int W, int H, int i0, int j0, int j1, int k0, int k1,
                                         float *dst, size_t si, size_t sj, int nt)
{
    const __m512 lane = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512d lo8 = _mm512_setr_pd(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512 c_hi = _mm512_set1_ps(1.0f / 255.0f);
    const __m512 c_lo = _mm512_set1_ps((float)(1.0 / 255.0 - (double)(1.0f / 255.0f)));
    __m512 step[8][3];          /* lane offsets along i, per view (V <= 8 on this path) */
    double sk[8][3];            /* steps along k of (x + z/2, y + z/2, z), per view */
    for (int v = 0; v < V; ++v) {
        const double *c = coef + 12 * v;
        const double st[3] = {c[3] + 0.5 * c[5], c[4] + 0.5 * c[5], c[5]};
        sk[v][0] = c[9] + 0.5 * c[11]; sk[v][1] = c[10] + 0.5 * c[11]; sk[v][2] = c[11];
        for (int a = 0; a < 3; ++a) step[v][a] = _mm512_mul_ps(lane, _mm512_set1_ps((float)st[a]));
    }
    for (int kt = 0; kt < k1 - k0; kt += 16) {
        for (int j = j0; j < j1; ++j) {
            /* f[v][a][kk]: float32 (x + z/2, y + z/2, z) of voxel (i0, j, k0 + kt + kk), from
             * the double value at k0 plus (kt + kk) steps. */
            float f[8][3][16];
            for (int v = 0; v < V; ++v) {
                const double *c = coef + 12 * v;
                double b[3];
                for (int a = 0; a < 3; ++a) b[a] = c[a] + i0 * c[3 + a] + j * c[6 + a] + k0 * c[9 + a];
                const double bb[3] = {b[0] + 0.5 * b[2], b[1] + 0.5 * b[2], b[2]};
                const __m512d m0 = _mm512_add_pd(lo8, _mm512_set1_pd((double)kt));
                const __m512d m1 = _mm512_add_pd(m0, _mm512_set1_pd(8.0));
                for (int a = 0; a < 3; ++a) {
                    const __m512d base = _mm512_set1_pd(bb[a]), s = _mm512_set1_pd(sk[v][a]);
                    _mm256_storeu_ps(f[v][a], _mm512_cvtpd_ps(_mm512_add_pd(base, _mm512_mul_pd(m0, s))));
                    _mm256_storeu_ps(f[v][a] + 8, _mm512_cvtpd_ps(_mm512_add_pd(base, _mm512_mul_pd(m1, s))));
                }
            }
            __m512 tile[16];
            for (int kk = 0; kk < 16; ++kk) {
                __m512i p = _mm512_setzero_si512();
                for (int v = 0; v < V; ++v) {
                    const __m512i q = cd_vbmi_pixels(
                        ims[v], W, H, _mm512_add_ps(_mm512_set1_ps(f[v][0][kk]), step[v][0]),
                        _mm512_add_ps(_mm512_set1_ps(f[v][1][kk]), step[v][1]),
                        _mm512_add_ps(_mm512_set1_ps(f[v][2][kk]), step[v][2]));
                    p = v ? _mm512_min_epu32(p, q) : q;
                    if (!_mm512_test_epi32_mask(p, p)) break;     /* every voxel already 0 */
                }
                const __m512 pf = _mm512_cvtepi32_ps(p);
                tile[kk] = _mm512_fmadd_ps(pf, c_hi, _mm512_mul_ps(pf, c_lo));
            }
            cd_vbmi_transpose(tile);
            float *d = dst + (size_t)(j - j0) * sj + kt;
            for (int a = 0; a < 16; ++a) {
                if (nt)
                    _mm512_stream_ps(d + a * si, tile[a]);
                else
                    _mm512_storeu_ps(d + a * si, tile[a]);
            }
        }
    }
}

#else
static int cd_vbmi_usable(void) { return 0; }
#endif

/* 1 when this build carries the windowed path (x86-64, GCC or clang, no CAMDECK_NO_VBMI). */
static int cd_vbmi_built(void)
{
#ifdef CD_VBMI
    return 1;
#else
    return 0;
#endif
}

/* 16 x 16 tiles the windowed path has carved in this process (for the tests). */
static long cd_fast_tiles = 0;

/* The whole-tile part of each live, unclipped run: handed to cd_vbmi_tiles when the job has
 * the windowed path and the column is 16 voxels deep in i.  Big grids (job->nt) are streamed:
 * straight from the tiles when every 16-float piece starts a cache line (job->fast_nt), else
 * through a 16-row stage (16 N floats) and cd_put_row.  Such a run becomes kind 3 (done)
 * and its tail of fewer than 16 voxels, if any, a new kind-1 run.  Returns the new run count;
 * *done is set when some run was done whole-tile. */
static int cd_fast_runs(const cd_u8_job *job, int i0, int i1, int j0, int j1, int nruns, int *runs,
                        float *out, float *stage, int *done)
{
    *done = 0;
#ifdef CD_VBMI
    if (!job->fast || i1 - i0 != 16) return nruns;
    const int n = nruns;
    for (int r = 0; r < n; ++r) {
        const int k0 = runs[3 * r], k1 = runs[3 * r + 1];
        const int kf = k0 + (k1 - k0) / 16 * 16;
        if (runs[3 * r + 2] != 1 || kf == k0) continue;
        const int N = job->N;
        const size_t si = (size_t)N * N;
        if (job->nt && !job->fast_nt) {
            /* a grid off the cache-line grid: each j through the stage, rows streamed out */
            for (int j = j0; j < j1; ++j) {
                float *dst = out + ((size_t)i0 * N + j) * N + k0;
                cd_vbmi_tiles(job->coef, job->ims, job->V, job->W, job->H, i0, j, j + 1, k0, kf,
                              stage, (size_t)(kf - k0), 0, 0);
                for (int a = 0; a < 16; ++a)
                    cd_put_row(dst + a * si, stage + (size_t)a * (kf - k0), kf - k0, 1);
            }
        } else {
            cd_vbmi_tiles(job->coef, job->ims, job->V, job->W, job->H, i0, j0, j1, k0, kf,
                          out + ((size_t)i0 * N + j0) * N + k0, si, (size_t)N, job->fast_nt);
        }
        __atomic_fetch_add(&cd_fast_tiles, (long)(j1 - j0) * ((kf - k0) / 16), __ATOMIC_RELAXED);
        runs[3 * r + 1] = kf;
        runs[3 * r + 2] = 3;
        *done = 1;
        if (kf < k1) {
            runs[3 * nruns] = kf;
            runs[3 * nruns + 1] = k1;
            runs[3 * nruns + 2] = 1;
            ++nruns;
        }
    }
#else
    (void)job; (void)i0; (void)i1; (void)j0; (void)j1; (void)runs; (void)out; (void)stage;
#endif
    return nruns;
}

/* 1 when lut[p] == float32(p) / 255 for every p (the windowed path computes it that way). */
static int cd_lut_is_255(const float *lut)
{
    for (int p = 0; p < 256; ++p)
        if (lut[p] != (float)p / 255.0f) return 0;
    return 1;
}

#endif /* CAMDECK_CARVE_VBMI_H */
