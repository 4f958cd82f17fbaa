/* The uint8 carve's windowed AVX-512 path, for bricks every view sees well inside its image.
 *
 * Included by _carve_simd.h (after cd_u8_job and cd_put_row).  x86-64 with GCC or clang only;
 * the functions carry their own target attribute and run only where the CPU reports AVX-512
 * F/BW/DQ/VL/VBMI (cd_vbmi_usable), so the binary stays portable.  Elsewhere cd_vbmi_usable()
 * is 0 and nothing here is compiled.
 *
 * Why: the scalar path pays about two loads and a branch per voxel and view to read pixels,
 * and gathers along k were no faster on the AMD Zen 4 measured (issue 16; Intel CPUs gather
 * the tiles' vectors along i instead, see _carve_gather.h).  When the grid's i axis runs
 * along image rows (a rig whose x axis is the baseline), 16 voxels i0..i0+15 of one (j, k)
 * land within a few dozen bytes of one or two image rows.  Then two 64-byte loads and one
 * byte permute (vpermi2b) read all 16 pixels.  So a tile of 16 (i) x 16 (k) voxels at one j is
 * computed as 16 vectors along i, transposed in registers and stored as 16 row pieces of 16
 * floats along k (streaming stores when the grid is 64-byte aligned).  Coarser grids, whose 16
 * voxels along i span more than 64 px, take vectors of 8 (or 4) voxels along i at 2 (or 4)
 * consecutive j's: in such a rig j runs in depth and moves the pixel a fraction of a row, so
 * the vector still fits 64 bytes of two rows, or of three where it crosses a row boundary
 * and a half (a third load and a one-table permute).  windows_fit (_carve.pyx) picks the
 * shape.  A vector whose pixels fit no window reads them with scalar loads.
 *
 * Arithmetic: per k, (x + z/2, y + z/2, z) of voxel (i0, j, k) in double, rounded to float32
 * (as cd_segment_params), plus each lane's offset (its steps along i and j, in double, rounded
 * to float32); 1/z is vrcp14ps with one Newton step, and p / 255 is fma(p, c_hi, p * c_lo),
 * equal to float32(p) / 255 for every p (the path runs only when the lut is that:
 * cd_lut_is_255).  A voxel may therefore pick a
 * different pixel than the scalar path only within a few 1e-4 px of a pixel boundary, as
 * between any two backends (9e-5 of the dense bench scene's voxels at 256^3).
 * Callers only pass state-1 bricks (in front of every view, at least a pixel inside every
 * image, and when gathering above its last two rows): no clamps are needed.
 */
#ifndef CAMDECK_CARVE_VBMI_H
#define CAMDECK_CARVE_VBMI_H

/* For the tests: tiles of 256 voxels the windowed path has carved in this process, and the
 * reads of its vectors narrower than 16 voxels by kind: from two rows, from three, by scalar
 * loads (counting in the 16-lane path cost it 3-8 % at 256^3, even counting only the rare
 * kinds). */
static long cd_fast_tiles = 0;
static long cd_fast_reads[3] = {0, 0, 0};
static long cd_gather_tiles = 0;    /* ... of them read by gathers */

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

/* 1 / z as the path computes it: vrcp14ps and one Newton step. */
static inline CD_VBMI_TARGET __m512 cd_recip(__m512 z)
{
    const __m512 r0 = _mm512_rcp14_ps(z);
    return _mm512_mul_ps(r0, _mm512_fnmadd_ps(z, r0, _mm512_set1_ps(2.0f)));
}

/* float32(p) / 255 for every p in 0..255, as fma(p, c_hi, p * c_lo) (no divide). */
static inline CD_VBMI_TARGET __m512 cd_over_255(__m512i p)
{
    const __m512 pf = _mm512_cvtepi32_ps(p);
    return _mm512_fmadd_ps(pf, _mm512_set1_ps(1.0f / 255.0f),
                           _mm512_mul_ps(pf, _mm512_set1_ps((float)(1.0 / 255.0 - (double)(1.0f / 255.0f)))));
}

/* The pixels at idx in the lanes of `lanes` (others 0) by one AVX-512 gather: each lane's
 * pixel is the low byte of a 32-bit load at its index.  edge: a lane may be within 3 bytes of
 * the image's end (its last pixels); such a lane is left out of the gather and read alone.
 * Without edge the caller guarantees every index is at most W * H - 4 (tiles read by gathers
 * take bricks above the image's last two rows: cd_brick_states' spare row); the indices are
 * clamped there all the same, so that no mistake in that reasoning can read past the image. */
static CD_ALWAYS_INLINE CD_VBMI_TARGET __m512i cd_gather_px(const uint8_t *im, int W, int H, __m512i idx,
                                                            __mmask16 lanes, const int edge)
{
    if (!edge) {
        idx = _mm512_min_epu32(idx, _mm512_set1_epi32(W * H - 4));
        const __m512i q = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes, idx, im, 1);
        return _mm512_and_si512(q, _mm512_set1_epi32(255));
    }
    const __mmask16 tail = _mm512_mask_cmpgt_epi32_mask(lanes, idx, _mm512_set1_epi32(W * H - 4));
    __m512i q = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes & ~tail, idx, im, 1);
    q = _mm512_and_si512(q, _mm512_set1_epi32(255));
    if (tail) {
        int32_t at[16];
        _mm512_storeu_si512((void *)at, idx);
        for (int l = 0; l < 16; ++l)
            if (tail >> l & 1) q = _mm512_mask_set1_epi32(q, (__mmask16)(1u << l), im[at[l]]);
    }
    return q;
}

/* The 16 pixels of one vector of voxels in one view, as 32-bit lanes.  The voxels are li
 * consecutive ones along i at each of 16 / li consecutive j's (lane a: i + a % li, j + a / li).
 * When their pixels lie within 64 bytes on each of two consecutive image rows, counted from
 * the lowest row and column, two loads and one byte permute read them all; on three rows,
 * three loads and two permutes.  The lowest row and column are taken from the corner lanes (a
 * projected parallelogram's extremes lie at its corners); a lane that rounding puts below
 * them fails the window check like one outside, and the vector takes scalar loads. */
static CD_ALWAYS_INLINE CD_VBMI_TARGET __m512i cd_vbmi_pixels(const uint8_t *im, int W, int H,
                                                              __m512 x, __m512 y, __m512 z,
                                                              const int li, const int gather,
                                                              __mmask16 need, long *reads)
{
    const __m512 r = cd_recip(z);
    const __m512i col = _mm512_cvttps_epi32(_mm512_mul_ps(x, r));
    const __m512i row = _mm512_cvttps_epi32(_mm512_mul_ps(y, r));
    if (gather)
        return cd_gather_px(im, W, H, _mm512_add_epi32(_mm512_mullo_epi32(row, _mm512_set1_epi32(W)), col),
                            need, 0);   /* at most W * H - W - 1 (the spare row), even rounded */
    int cmin, rmin;
    if (li == 16) {         /* one line of voxels: its ends (lanes 0 and 15) */
        const int c0 = _mm_cvtsi128_si32(_mm512_castsi512_si128(col));
        const int r0i = _mm_cvtsi128_si32(_mm512_castsi512_si128(row));
        const int c15 = _mm_extract_epi32(_mm512_extracti32x4_epi32(col, 3), 3);
        const int r15 = _mm_extract_epi32(_mm512_extracti32x4_epi32(row, 3), 3);
        cmin = c0 < c15 ? c0 : c15;
        rmin = r0i < r15 ? r0i : r15;
    } else {                /* the four corners' columns to lanes 0-3, rows to 4-7, then min */
        const int a = li - 1, b = 16 - li;
        const __m512i corners = _mm512_setr_epi32(0, a, b, 15, 16, 16 + a, 16 + b, 31, 0, 0, 0, 0, 0, 0, 0, 0);
        __m256i m = _mm512_castsi512_si256(_mm512_permutex2var_epi32(col, corners, row));
        m = _mm256_min_epi32(m, _mm256_shuffle_epi32(m, 0xB1));
        m = _mm256_min_epi32(m, _mm256_shuffle_epi32(m, 0x4E));
        cmin = _mm_cvtsi128_si32(_mm256_castsi256_si128(m));
        rmin = _mm_cvtsi128_si32(_mm256_extracti128_si256(m, 1));
    }
    /* both 64-byte loads must stay inside the image */
    if (rmin >= 0 && cmin >= 0 && (size_t)(rmin + 1) * W + cmin + 64 <= (size_t)W * H) {
        const __m512i dc = _mm512_sub_epi32(col, _mm512_set1_epi32(cmin));
        const __m512i dr = _mm512_sub_epi32(row, _mm512_set1_epi32(rmin));
        const uint8_t *p = im + (size_t)rmin * W + cmin;
        /* Byte 0 of each 32-bit lane holds its offset in the rows (bits 6-7: which row); the
         * permutes fill all four bytes of the lane, the mask keeps byte 0. */
        if (li < 16) {
            /* Vectors across j often cross a row boundary: three rows whenever they fit (no
             * branch on two or three); lanes on the third read it with a one-table permute
             * (the low 6 bits of their index are the column offset). */
            const __mmask16 in = _mm512_cmplt_epu32_mask(dc, _mm512_set1_epi32(64))
                               & _mm512_cmplt_epu32_mask(dr, _mm512_set1_epi32(3));
            if (in == 0xFFFF && (size_t)(rmin + 2) * W + cmin + 64 <= (size_t)W * H) {
                const __m512i at = _mm512_add_epi32(dc, _mm512_slli_epi32(dr, 6));
                const __mmask16 third = _mm512_cmpeq_epi32_mask(dr, _mm512_set1_epi32(2));
                const __m512i sel = _mm512_permutex2var_epi8(_mm512_loadu_si512((const void *)p), at,
                                                             _mm512_loadu_si512((const void *)(p + W)));
                const __m512i sel3 = _mm512_permutexvar_epi8(at, _mm512_loadu_si512((const void *)(p + 2 * (size_t)W)));
                if (li < 16) ++reads[1];
                return _mm512_and_si512(_mm512_mask_blend_epi32(third, sel, sel3), _mm512_set1_epi32(255));
            }
        }
        const __mmask16 ok = _mm512_cmplt_epu32_mask(dc, _mm512_set1_epi32(64))
                           & _mm512_cmplt_epu32_mask(dr, _mm512_set1_epi32(2));
        if (ok == 0xFFFF) {
            const __m512i sel = _mm512_permutex2var_epi8(
                _mm512_loadu_si512((const void *)p), _mm512_add_epi32(dc, _mm512_slli_epi32(dr, 6)),
                _mm512_loadu_si512((const void *)(p + W)));
            if (li < 16) ++reads[0];
            return _mm512_and_si512(sel, _mm512_set1_epi32(255));
        }
    }
    if (li < 16) ++reads[2];
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

/* Voxels i0..i0+15 x j0..j1-1 x k0..k1-1 ((k1 - k0) a multiple of 16, (j1 - j0) of 16 / li),
 * every one in front of every view and at least a pixel inside its image.  A vector is li
 * voxels along i (16, 8 or 4) at each of 16 / li j's: at 256^3 on the bench 16 voxels along i
 * span 39 px of one or two rows, at 128^3 they span 77 px, but 8 along i at two j's (the j axis
 * runs in depth, 0.6 rows a step) fit 64 bytes of two rows.  A tile is 16 vectors (one per k)
 * transposed into 16 pieces of 16 floats along k.  Voxel (i0 + a, j, k0 + m) goes to
 * dst[a * si + (j - j0) * sj + m]; nt: streaming stores (every piece must start a cache line).
 * The k tiles are the outer loop and j the inner, so the image rows one k tile reads stay in
 * L1 across the j's (at 256^3 that took the dense bench scene from 9.5 to 7.9 ms). */
static CD_ALWAYS_INLINE CD_VBMI_TARGET void cd_vbmi_tiles_li(
    const double *coef, const uint8_t *const *ims, int V, int W, int H, const int li,
    const int gather, int i0,
    int j0, int j1, int k0, int k1, float *dst, size_t si, size_t sj, int nt)
{
    const int lj = 16 / li, nb = 16 / li;       /* j's per vector; vectors per 16 i's */
    const __m512d lo8 = _mm512_setr_pd(0, 1, 2, 3, 4, 5, 6, 7);
    __m512 off[8][4][3];        /* per view and i block: each lane's offset from voxel (i0, j) */
    long reads[3] = {0, 0, 0};  /* vector reads by kind (cd_fast_reads) */
    double sk[8][3];            /* steps along k of (x + z/2, y + z/2, z), per view */
    for (int v = 0; v < V; ++v) {
        const double *c = coef + 12 * v;
        const double st[3] = {c[3] + 0.5 * c[5], c[4] + 0.5 * c[5], c[5]};
        const double sj2[3] = {c[6] + 0.5 * c[8], c[7] + 0.5 * c[8], c[8]};
        sk[v][0] = c[9] + 0.5 * c[11]; sk[v][1] = c[10] + 0.5 * c[11]; sk[v][2] = c[11];
        for (int ib = 0; ib < nb; ++ib)
            for (int a = 0; a < 3; ++a) {
                float o[16];
                for (int l = 0; l < 16; ++l)
                    o[l] = (float)((ib * li + l % li) * st[a] + (l / li) * sj2[a]);
                off[v][ib][a] = _mm512_loadu_ps(o);
            }
    }
    for (int kt = 0; kt < k1 - k0; kt += 16) {
        for (int j = j0; j < j1; j += lj) {
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
            for (int ib = 0; ib < nb; ++ib) {
                __m512 tile[16];
                for (int kk = 0; kk < 16; ++kk) {
                    __m512i p = _mm512_setzero_si512();
                    __mmask16 need = 0xFFFF;    /* lanes still non-zero (gathers skip the rest) */
                    for (int v = 0; v < V; ++v) {
                        const __m512i q = cd_vbmi_pixels(
                            ims[v], W, H, _mm512_add_ps(_mm512_set1_ps(f[v][0][kk]), off[v][ib][0]),
                            _mm512_add_ps(_mm512_set1_ps(f[v][1][kk]), off[v][ib][1]),
                            _mm512_add_ps(_mm512_set1_ps(f[v][2][kk]), off[v][ib][2]), li, gather, need, reads);
                        p = v ? _mm512_min_epu32(p, q) : q;
                        need = _mm512_test_epi32_mask(p, p);
                        if (!need) break;                              /* every voxel already 0 */
                    }
                    tile[kk] = cd_over_255(p);
                }
                cd_vbmi_transpose(tile);
                float *d = dst + (size_t)(ib * li) * si + (size_t)(j - j0) * sj + kt;
                for (int a = 0; a < 16; ++a) {
                    float *piece = d + (size_t)(a % li) * si + (size_t)(a / li) * sj;
                    if (nt)
                        _mm512_stream_ps(piece, tile[a]);
                    else
                        _mm512_storeu_ps(piece, tile[a]);
                }
            }
        }
    }
    if (li < 16)
        for (int a = 0; a < 3; ++a) __atomic_fetch_add(&cd_fast_reads[a], reads[a], __ATOMIC_RELAXED);
}

/* cd_vbmi_tiles_li compiled for each vector shape, over any j range: the j's left over from
 * whole groups of 16 / li go with 16 lanes along i (their windows may not fit: then scalar
 * loads). */
static CD_VBMI_TARGET void cd_vbmi_tiles(const double *coef, const uint8_t *const *ims, int V,
                                         int W, int H, int li, int gather, int i0, int j0, int j1,
                                         int k0, int k1, float *dst, size_t si, size_t sj, int nt)
{
    if (gather) {
        cd_vbmi_tiles_li(coef, ims, V, W, H, 16, 1, i0, j0, j1, k0, k1, dst, si, sj, nt);
        return;
    }
    int jg = j0 + (j1 - j0) / (16 / li) * (16 / li);       /* j0..jg-1 in whole groups */
    if (li == 8)
        cd_vbmi_tiles_li(coef, ims, V, W, H, 8, 0, i0, j0, jg, k0, k1, dst, si, sj, nt);
    else if (li == 4)
        cd_vbmi_tiles_li(coef, ims, V, W, H, 4, 0, i0, j0, jg, k0, k1, dst, si, sj, nt);
    else
        jg = j0;                                            /* 16 lanes: all of them below */
    if (jg < j1)
        cd_vbmi_tiles_li(coef, ims, V, W, H, 16, 0, i0, jg, j1, k0, k1, dst + (size_t)(jg - j0) * sj,
                         si, sj, nt);
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

/* The whole-tile part of each live, unclipped run: handed to cd_vbmi_tiles when the job has
 * the windowed path and the column is 16 voxels deep in i.  Tiles are streamed straight out
 * when job->fast_nt (every 16-float piece starts a cache line, and the grid is big or streaming
 * was asked for); a grid whose rows are streamed
 * (job->nt) but whose pieces are off the cache-line grid goes through a stage (16 x 4 N floats)
 * and cd_put_row.  Such a run becomes kind 3 (done) and its tail of fewer than 16 voxels, if
 * any, a new kind-1 run.  Returns the new run count; *done is set when some run was done
 * whole-tile. */
static int cd_fast_runs(const cd_u8_job *job, int i0, int i1, int j0, int j1, int nruns, int *runs,
                        float *out, float *stage, int *done)
{
    *done = 0;
#ifdef CD_VBMI
    if (!job->fast || i1 - i0 != 16) return nruns;
    const int n = nruns, N = job->N, lj = 16 / job->li;
    for (int r = 0; r < n; ++r) {
        const int k0 = runs[3 * r], k1 = runs[3 * r + 1];
        const int kf = k0 + (k1 - k0) / 16 * 16, nk = kf - k0;
        if (runs[3 * r + 2] != 1 || kf == k0) continue;
        if (job->nt && !job->fast_nt) {
            /* a grid off the cache-line grid: a group of j's at a time through the stage,
             * rows streamed out */
            for (int j = j0; j < j1; j += lj) {
                const int g = j1 - j < lj ? j1 - j : lj;
                cd_vbmi_tiles(job->coef, job->ims, job->V, job->W, job->H, job->li, job->gather, i0, j, j + g,
                              k0, kf, stage, (size_t)g * nk, (size_t)nk, 0);
                for (int a = 0; a < 16; ++a)
                    for (int b = 0; b < g; ++b)
                        cd_put_row(out + ((size_t)(i0 + a) * N + j + b) * N + k0,
                                   stage + (size_t)(a * g + b) * nk, nk, 1);
            }
        } else {
            cd_vbmi_tiles(job->coef, job->ims, job->V, job->W, job->H, job->li, job->gather, i0, j0, j1, k0, kf,
                          out + ((size_t)i0 * N + j0) * N + k0, (size_t)N * N, (size_t)N, job->fast_nt);
        }
        __atomic_fetch_add(&cd_fast_tiles, (long)(j1 - j0) * (nk / 16), __ATOMIC_RELAXED);
        if (job->gather) __atomic_fetch_add(&cd_gather_tiles, (long)(j1 - j0) * (nk / 16), __ATOMIC_RELAXED);
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
