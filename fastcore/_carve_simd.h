/* SIMD-friendly row helpers for fastcore/_carve.pyx.
 *
 * Everything here is plain C99 that the compiler auto-vectorises with baseline flags
 * (SSE2 on x86-64, NEON on aarch64).  On x86-64 Linux with GCC the hot row projection
 * is additionally compiled for AVX2 and AVX-512 with `target_clones`: the loader picks
 * the widest version the CPU has (ifunc), so the binary stays portable.
 *
 * Conventions shared with _carve.pyx: a row is the voxels (i, j, k) for k = 0..N-1 of
 * one (i, j); for one view its homogeneous projection is linear in k:
 *     (x, y, z)(k) = (q[0], q[1], q[2]) + k * (q[3], q[4], q[5])
 * and the pixel is (row, col) = ((int)(y/z + 0.5), (int)(x/z + 0.5)).  Callers only pass
 * k ranges where that pixel is inside the image (see row_interval in _carve.pyx), so
 * truncation equals floor; indices are still clamped so that rounding noise can never
 * read outside the image.
 */
#ifndef CAMDECK_CARVE_SIMD_H
#define CAMDECK_CARVE_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && (__GNUC__ >= 11) && !defined(CAMDECK_NO_CLONES)
#define CD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CD_CLONES
#endif

/* Pixel indices (row * W + col) of voxels k = ka .. ka + n - 1 of one row, for one view. */
CD_CLONES
static void cd_project_row(const double *q, int ka, int n, int W, int H, int32_t *idx)
{
    const double x0 = q[0], y0 = q[1], z0 = q[2], xk = q[3], yk = q[4], zk = q[5];
    const double wmax = (double)(W - 1), hmax = (double)(H - 1);
    for (int m = 0; m < n; ++m) {
        const double k = (double)(ka + m);
        const double r = 1.0 / (z0 + k * zk);
        double uu = (x0 + k * xk) * r + 0.5;
        double vv = (y0 + k * yk) * r + 0.5;
        /* Written so that NaN maps to 0 and the int conversion is always defined. */
        uu = (uu >= 0.0) ? uu : 0.0;
        uu = (uu <= wmax) ? uu : wmax;
        vv = (vv >= 0.0) ? vv : 0.0;
        vv = (vv <= hmax) ? vv : hmax;
        idx[m] = (int32_t)vv * W + (int32_t)uu;
    }
}

/* One pixel index, same arithmetic as cd_project_row (for the scalar second view). */
static inline int32_t cd_project_one(const double *q, int k_int, int W, int H)
{
    const double k = (double)k_int;
    const double r = 1.0 / (q[2] + k * q[5]);
    double uu = (q[0] + k * q[3]) * r + 0.5;
    double vv = (q[1] + k * q[4]) * r + 0.5;
    uu = (uu >= 0.0) ? uu : 0.0;
    uu = (uu <= (double)(W - 1)) ? uu : (double)(W - 1);
    vv = (vv >= 0.0) ? vv : 0.0;
    vv = (vv <= (double)(H - 1)) ? vv : (double)(H - 1);
    return (int32_t)vv * W + (int32_t)uu;
}

/* Exact in-image test for voxel k, the predicate the row intervals are fixed with. */
static inline int cd_inside(const double *q, int k_int, int W, int H)
{
    const double k = (double)k_int;
    const double z = q[2] + k * q[5];
    if (!(z > 0.0)) return 0;
    const double r = 1.0 / z;
    const double uu = (q[0] + k * q[3]) * r + 0.5;
    const double vv = (q[1] + k * q[4]) * r + 0.5;
    return uu >= 0.0 && uu < (double)W && vv >= 0.0 && vv < (double)H;
}

/* Pixel indices of the same voxels in two views at once (one pass, both vectorised).
 * float32 arithmetic: 16 lanes per AVX-512 op instead of 8.  With coordinates measured
 * from the segment start (k - ka, small) the error stays around 1e-4 px, so a voxel can
 * only change pixel when it lies that close to a pixel boundary. */
CD_CLONES
static void cd_project_row_two(const double *q0, const double *q1, int ka, int n, int W, int H,
                               int32_t *idx0, int32_t *idx1)
{
    const float wmax = (float)(W - 1), hmax = (float)(H - 1);
    const double kd = (double)ka;
    const float x0 = (float)(q0[0] + kd * q0[3]), y0 = (float)(q0[1] + kd * q0[4]);
    const float z0 = (float)(q0[2] + kd * q0[5]);
    const float x1 = (float)(q1[0] + kd * q1[3]), y1 = (float)(q1[1] + kd * q1[4]);
    const float z1 = (float)(q1[2] + kd * q1[5]);
    const float ax = (float)q0[3], ay = (float)q0[4], az = (float)q0[5];
    const float bx = (float)q1[3], by = (float)q1[4], bz = (float)q1[5];
    for (int m = 0; m < n; ++m) {
        const float k = (float)m;
        const float r0 = 1.0f / (z0 + k * az);
        const float r1 = 1.0f / (z1 + k * bz);
        float u0 = (x0 + k * ax) * r0 + 0.5f, v0 = (y0 + k * ay) * r0 + 0.5f;
        float u1 = (x1 + k * bx) * r1 + 0.5f, v1 = (y1 + k * by) * r1 + 0.5f;
        u0 = (u0 >= 0.0f) ? u0 : 0.0f;  u0 = (u0 <= wmax) ? u0 : wmax;
        v0 = (v0 >= 0.0f) ? v0 : 0.0f;  v0 = (v0 <= hmax) ? v0 : hmax;
        u1 = (u1 >= 0.0f) ? u1 : 0.0f;  u1 = (u1 <= wmax) ? u1 : wmax;
        v1 = (v1 >= 0.0f) ? v1 : 0.0f;  v1 = (v1 <= hmax) ? v1 : hmax;
        idx0[m] = (int32_t)v0 * W + (int32_t)u0;
        idx1[m] = (int32_t)v1 * W + (int32_t)u1;
    }
}

/* Two-view uint8 row segment, value = lut[min(p0, p1)]; view 1's pixel is only read
 * where view 0's is non-zero (early exit). scratch: 2 * n int32. */
static inline void cd_row_u8_two(const double *q0, const double *q1, int ka, int n,
                                 const uint8_t *im0, const uint8_t *im1, int W, int H,
                                 const float *lut, float *out, int32_t *scratch)
{
    int32_t *idx1 = scratch + n;
    cd_project_row_two(q0, q1, ka, n, W, H, scratch, idx1);
    for (int m = 0; m < n; ++m) {
        unsigned p = im0[scratch[m]];
        if (p) {
            const unsigned p1 = im1[idx1[m]];
            p = p1 < p ? p1 : p;
        }
        out[m] = lut[p];
    }
}

/* Any number of uint8 views: view 0 vectorised, the others scalar with early exit. */
static inline void cd_row_u8_many(const double *q, int nviews, int ka, int n,
                                  const uint8_t *const *ims, int W, int H,
                                  const float *lut, float *out, int32_t *scratch)
{
    cd_project_row(q, ka, n, W, H, scratch);
    const uint8_t *im0 = ims[0];
    for (int m = 0; m < n; ++m) {
        unsigned p = im0[scratch[m]];
        for (int v = 1; v < nviews && p; ++v) {
            const unsigned pv = ims[v][cd_project_one(q + 6 * v, ka + m, W, H)];
            p = pv < p ? pv : p;
        }
        out[m] = lut[p];
    }
}

/* Tile maxima of one band of T image rows: tiles[tx] = max of im over rows y0..y1-1 and
 * columns tx*T .. min((tx+1)*T, W)-1, for tx in tx0..tx1-1.  colmax: W bytes of scratch. */
CD_CLONES
static void cd_tile_band_max(const uint8_t *im, int W, int y0, int y1, int T, int tx0, int tx1,
                             uint8_t *tiles, uint8_t *colmax)
{
    const int x0 = tx0 * T;
    const int x1 = (tx1 * T < W) ? tx1 * T : W;
    memcpy(colmax + x0, im + (size_t)y0 * W + x0, (size_t)(x1 - x0));
    for (int y = y0 + 1; y < y1; ++y) {
        const uint8_t *row = im + (size_t)y * W;
        for (int x = x0; x < x1; ++x)
            colmax[x] = row[x] > colmax[x] ? row[x] : colmax[x];
    }
    for (int tx = tx0; tx < tx1; ++tx) {
        const int a = tx * T;
        const int b = (a + T < W) ? a + T : W;
        uint8_t m = 0;
        for (int x = a; x < b; ++x)
            m = colmax[x] > m ? colmax[x] : m;
        tiles[tx] = m;
    }
}

#endif /* CAMDECK_CARVE_SIMD_H */
