/* The uint8 carve kernel's C side, used by fastcore/_carve.pyx.
 *
 * Plain C99 that compiles and auto-vectorises with baseline flags (SSE2 on x86-64, NEON on
 * aarch64); no -march and no intrinsics beyond SSE2 streaming stores, except in
 * _carve_vbmi.h and _carve_gather.h (AVX-512, with their own target attribute, run only where
 * the CPU has it).  On x86-64 Linux with GCC >= 11 the vectorisable loops also get `target_clones` for
 * x86-64-v3 (AVX2) and v4 (AVX-512): the loader picks the widest the CPU has, so the binary
 * stays portable.  Every path here uses the same float32 arithmetic in the same order
 * (-ffp-contract=off), so every machine picks the same pixels; the windowed path's grids
 * differ from these only in voxels within a few 1e-4 px of a pixel boundary.
 *
 * Conventions shared with _carve.pyx: a row is the voxels (i, j, k), k = 0..N-1, of one
 * (i, j); per view its homogeneous projection is linear in k:
 *     (x, y, z)(k) = (q[0], q[1], q[2]) + k * (q[3], q[4], q[5])
 * and the pixel is (row, col) = (floor(y/z + 0.5), floor(x/z + 0.5)).  Row segments are
 * only evaluated where every view's pixel is inside the image (bricks proven inside, or
 * the row's analytic k-interval), so truncation equals floor; outside proven-inside bricks
 * indices are also clamped, so rounding noise can never read outside an image.
 *
 * Culling: the grid is cut into bricks of B x B x BK voxels (sizes chosen in _carve.pyx);
 * per view an 8x8-pixel tile map ("any pixel non-zero") is built under the grid's footprint
 * only and turned into a summed-area table, so "does this brick's projected box touch a
 * non-zero pixel" is four lookups.  A brick some view sees only on zero pixels (or off the
 * image) is zero-filled without projecting a voxel.
 *
 * Tried and dropped (slower in wall time on x86-64, though they execute fewer instructions):
 * AVX2 gathers for the pixel loads (and for the 1/255 LUT) -- plain loads win, and by far
 * on CPUs with the gather-data-sampling microcode mitigation; finer bricks (4 x 4 x 8);
 * skipping the tile maps for small grids (then; with issue 16's faster reads they cost more
 * than they save below 2 voxels a pixel, so cull=-1 skips them there).
 * Also tried (issue 16, on the 2-core AMD EPYC (Zen 4) CI VM, dense scene, each against this
 * kernel in the same process, runs interleaved; ratio = median time / this kernel's):
 * - AVX-512 gathers of the pixels (aligned 32-bit words) and of the LUT: 1.43-1.56x slower
 *   (along k, in this file's rows; on an Intel Xeon, stop 24, gathers along i in the tiles beat
 *   the windows, and are the default on Intel: _carve_gather.h);
 * - walking each brick column in k chunks of 32/64/128 voxels, all its rows per chunk, so the
 *   pixels a chunk touches stay in L1: 1.07-1.12 / 1.02-1.03 / 0.99-1.02 (no gain);
 * - a branchless, 4x unrolled two-view loop: 1.10-1.24x slower;
 * - the pixels' minimum kept as integers and turned into floats by a vectorised /255 pass
 *   instead of the LUT: 1.03-1.16x slower;
 * - images transposed so that k steps along image rows (the bench cameras see k as image v):
 *   0.76 (one thread) to 0.92 (two threads) at 256^3, but the transpose costs ~3 ms a frame.
 * Where the time goes at 256^3 (one thread): without the pixel loads and their LUT the kernel
 * takes ~40 % of its time; with the projection replaced by indices that all hit L1, ~60 %.
 * The scalar load loop is the cost, bound by instructions and latency more than by misses.
 * What did pay (issue 16): reading 16 pixels at once from two 64-byte windows with a byte
 * permute, walking i (along image rows) instead of k -- _carve_vbmi.h, 0.58-0.65x this
 * path's time at 256^3 on the dense bench scene.  At 128^3 the 16 voxels span more than 64 px:
 * two or four windows per vector measured no faster than this path (0.95-1.10x), but vectors of
 * 8 voxels along i at two j's fit one window (_carve_vbmi.h).  At 64^3 no shape fits.
 */
#ifndef CAMDECK_CARVE_SIMD_H
#define CAMDECK_CARVE_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && (__GNUC__ >= 11) && !defined(CAMDECK_NO_CLONES)
#define CD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CD_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CD_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define CD_ALWAYS_INLINE inline
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>      /* SSE2, baseline on x86-64: streaming stores */
#endif

enum { CD_TILE = 8 };

/* ------------------------------------------------------------------------------------ */
/* Exact double-precision per-voxel helpers (the float32 / attenuation path and the ends  */
/* of the analytic row intervals).                                                        */

/* One pixel index (row * W + col) of voxel k; clamped, NaN -> 0. */
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

/* q[0:3] = projection of voxel (i, j, 0) in one view; q[3:6] = its step along k.
 * coef: that view's 12 coefficients base(3), di(3), dj(3), dk(3). */
static inline void cd_row_coefficients(const double *coef, int i, int j, double *q)
{
    for (int c = 0; c < 3; ++c) {
        q[c] = coef[c] + i * coef[3 + c] + j * coef[6 + c];
        q[3 + c] = coef[9 + c];
    }
}

/* The k range [*kl, *kh] (empty when kl > kh) where one view sees the row's voxels.
 * Each condition (z > 0, 0 <= u + 0.5 < W, 0 <= v + 0.5 < H, multiplied through by z) is
 * a linear inequality a + b*k >= 0; their intersection is solved in closed form.  An end
 * within 1e-6 of a voxel is then moved until the exact per-voxel test agrees. */
static inline void cd_view_interval(const double *q, int W, int H, int N, int *kl_out, int *kh_out)
{
    double a[5], b[5];
    double lo = 0.0, hi = N - 1.0, r;
    int kl, kh;
    a[0] = q[2]; b[0] = q[5];
    a[1] = q[0] + 0.5 * q[2]; b[1] = q[3] + 0.5 * q[5];
    a[2] = W * q[2] - a[1]; b[2] = W * q[5] - b[1];
    a[3] = q[1] + 0.5 * q[2]; b[3] = q[4] + 0.5 * q[5];
    a[4] = H * q[2] - a[3]; b[4] = H * q[5] - b[3];
    for (int c = 0; c < 5; ++c) {
        if (b[c] > 0.0) {
            r = -a[c] / b[c];
            if (r > lo) lo = r;
        } else if (b[c] < 0.0) {
            r = -a[c] / b[c];
            if (r < hi) hi = r;
        } else if (a[c] < 0.0) {
            lo = 1.0;
            hi = 0.0;
        }
    }
    if (!(lo <= hi)) {
        *kl_out = 1;
        *kh_out = 0;
        return;
    }
    kl = (int)ceil(lo);
    kh = (int)floor(hi);
    if ((lo == 0.0 || kl - lo > 1e-6) && (hi == N - 1.0 || hi - kh > 1e-6)) {
        /* Both ends are well inside a voxel step of a boundary: rounding cannot move them. */
        *kl_out = kl;
        *kh_out = kh;
        return;
    }
    while (kl <= kh && !cd_inside(q, kl, W, H)) ++kl;
    while (kh >= kl && !cd_inside(q, kh, W, H)) --kh;
    if (kl <= kh) {
        while (kl > 0 && cd_inside(q, kl - 1, W, H)) --kl;
        while (kh < N - 1 && cd_inside(q, kh + 1, W, H)) ++kh;
    }
    *kl_out = kl;
    *kh_out = kh;
}

/* ------------------------------------------------------------------------------------ */
/* Bounding boxes and the per-view tile summed-area tables.                               */

/* Projected bounding box (u_min, u_max, v_min, v_max) of the voxel-index box
 * [i0..i1] x [j0..j1] x [k0..k1] (its 8 corners); 0 when a corner is not in front. */
static inline int cd_corner_box(const double *coef, int i0, int i1, int j0, int j1, int k0, int k1,
                                double *box)
{
    box[0] = INFINITY; box[1] = -INFINITY; box[2] = INFINITY; box[3] = -INFINITY;
    for (int c = 0; c < 8; ++c) {
        const double i = (c & 1) ? i1 : i0, j = (c & 2) ? j1 : j0, k = (c & 4) ? k1 : k0;
        const double x = coef[0] + i * coef[3] + j * coef[6] + k * coef[9];
        const double y = coef[1] + i * coef[4] + j * coef[7] + k * coef[10];
        const double z = coef[2] + i * coef[5] + j * coef[8] + k * coef[11];
        if (!(z > 0.0)) return 0;
        const double r = 1.0 / z, u = x * r, v = y * r;
        if (u < box[0]) box[0] = u;
        if (u > box[1]) box[1] = u;
        if (v < box[2]) box[2] = v;
        if (v > box[3]) box[3] = v;
    }
    return 1;
}

/* Pixel range (c0, c1, r0, r1), inclusive, of a box with one pixel of margin.
 * Returns 0 when it misses the image, 2 when it lies entirely inside with `spare` more rows
 * free below it (no clipping was needed: every voxel in the box projects at least a pixel
 * inside; with spare = 1 also above the last two rows, so that a float32 rounding of its
 * pixel by one still leaves 4 bytes of image from it for a gather), else 1 (clipped). */
static inline int cd_box_pixels(const double *box, int W, int H, int spare, int *px)
{
    const double c0 = floor(box[0] + 0.5) - 1.0, c1 = floor(box[1] + 0.5) + 1.0;
    const double r0 = floor(box[2] + 0.5) - 1.0, r1 = floor(box[3] + 0.5) + 1.0;
    if (!(c1 >= 0.0 && r1 >= 0.0 && c0 <= W - 1.0 && r0 <= H - 1.0)) return 0;
    const int inside = c0 >= 0.0 && r0 >= 0.0 && c1 <= W - 1.0 && r1 <= H - 1.0 - spare;
    px[0] = c0 < 0.0 ? 0 : (int)c0;
    px[1] = c1 > W - 1.0 ? W - 1 : (int)c1;
    px[2] = r0 < 0.0 ? 0 : (int)r0;
    px[3] = r1 > H - 1.0 ? H - 1 : (int)r1;
    return inside ? 2 : 1;
}

/* The tile band [tx0, tx1) x [ty0, ty1) under the grid's footprint in one view
 * (band[0..3] = tx0, tx1, ty0, ty1).  Returns 0 when the grid misses the image (the view
 * zeroes every voxel).  A grid straddling the camera plane gets the whole image. */
static inline int cd_grid_band(const double *coef, int N, int W, int H, int *band)
{
    double box[4];
    int px[4];
    const int TW = (W + CD_TILE - 1) / CD_TILE, TH = (H + CD_TILE - 1) / CD_TILE;
    band[0] = 0; band[1] = TW; band[2] = 0; band[3] = TH;
    if (!cd_corner_box(coef, 0, N - 1, 0, N - 1, 0, N - 1, box)) return 1;
    if (!cd_box_pixels(box, W, H, 0, px)) return 0;
    band[0] = px[0] / CD_TILE; band[1] = px[1] / CD_TILE + 1;
    band[2] = px[2] / CD_TILE; band[3] = px[3] / CD_TILE + 1;
    return 1;
}

/* One tile row of a view's summed-area table.  acc: scratch of (tx1 - tx0) * CD_TILE bytes.
 * sat_row[0] = 0, sat_row[1 + t] = number of non-zero tiles among band tiles 0..t of tile
 * row ty (a tile is non-zero when any of its pixels is). */
CD_CLONES
static void cd_tile_row(const uint8_t *im, int W, int H, int ty, int tx0, int tx1,
                        uint8_t *acc, int32_t *sat_row)
{
    const int x0 = tx0 * CD_TILE;
    const int x1 = (tx1 * CD_TILE < W) ? tx1 * CD_TILE : W;
    const int n = x1 - x0, y0 = ty * CD_TILE;
    const int y1 = (y0 + CD_TILE < H) ? y0 + CD_TILE : H;
    const uint8_t *r = im + (size_t)y0 * W + x0;
    if (y1 - y0 == 8) {
        const uint8_t *r1 = r + W, *r2 = r1 + W, *r3 = r2 + W, *r4 = r3 + W, *r5 = r4 + W,
                      *r6 = r5 + W, *r7 = r6 + W;
        for (int x = 0; x < n; ++x)
            acc[x] = r[x] | r1[x] | r2[x] | r3[x] | r4[x] | r5[x] | r6[x] | r7[x];
    } else {
        memcpy(acc, r, (size_t)n);
        for (int y = y0 + 1; y < y1; ++y) {
            r += W;
            for (int x = 0; x < n; ++x) acc[x] |= r[x];
        }
    }
    memset(acc + n, 0, (size_t)((tx1 - tx0) * CD_TILE - n));
    int32_t s = 0;
    sat_row[0] = 0;
    for (int t = 0; t < tx1 - tx0; ++t) {
        uint64_t w;
        memcpy(&w, acc + (size_t)t * CD_TILE, 8);
        s += (w != 0);
        sat_row[1 + t] = s;
    }
}

/* Finish a summed-area table of bh tile rows (rows 1..bh hold row prefix sums, row 0 zeros). */
CD_CLONES
static void cd_sat_columns(int32_t *sat, int bw, int bh)
{
    for (int y = 2; y <= bh; ++y) {
        int32_t *row = sat + (size_t)y * (bw + 1);
        const int32_t *up = row - (bw + 1);
        for (int x = 0; x <= bw; ++x) row[x] += up[x];
    }
}

/* Non-zero tiles under pixel range px (inclusive c0, c1, r0, r1), from a view's table. */
static inline int32_t cd_sat_query(const int32_t *sat, const int *band, const int *px)
{
    const int bw = band[1] - band[0], bh = band[3] - band[2];
    int a = px[0] / CD_TILE - band[0], b = px[1] / CD_TILE - band[0] + 1;
    int c = px[2] / CD_TILE - band[2], d = px[3] / CD_TILE - band[2] + 1;
    a = a < 0 ? 0 : a; c = c < 0 ? 0 : c;
    b = b > bw ? bw : b; d = d > bh ? bh : d;
    if (a >= b || c >= d) return 0;
    const int s = bw + 1;
    return sat[d * s + b] - sat[c * s + b] - sat[d * s + a] + sat[c * s + a];
}

/* Brick states of one brick column (voxels i0..i1-1, j0..j1-1, every k; bricks of BK along k):
 * state[kb] = 0 when some view sees brick kb only on zero pixels (judged only when sat is
 * not NULL) or off the image,
 * 1 when every view sees all of it at least a pixel inside the image (and `spare` more rows
 *   above its last), with depths within a factor 100 of each other (float32 rounding then
 *   stays far below a pixel: no row clipping and no index clamps needed),
 * 2 otherwise (live, rows must be clipped to their analytic intervals).
 * pts: scratch of 4 * (NK + 1) * 3 doubles. */
static void cd_brick_states(const double *coef, int V, int N, int BK, int i0, int i1, int j0, int j1,
                            int W, int H, int spare, const int32_t *const *sat, const int *bands,
                            double *pts, uint8_t *state)
{
    const int NK = (N + BK - 1) / BK;
    memset(state, 1, (size_t)NK);
    for (int v = 0; v < V; ++v) {
        const double *cf = coef + 12 * v;
        /* Corner lattice: i in {i0, i1-1}, j in {j0, j1-1}, k levels min(c*BK, N-1).
         * Brick kb spans levels kb and kb + 1 (a superset of its voxels for the last). */
        for (int c = 0; c <= NK; ++c) {
            const double k = (c * BK < N - 1) ? c * BK : N - 1;
            for (int e = 0; e < 4; ++e) {
                const double i = (e & 1) ? i1 - 1 : i0, j = (e & 2) ? j1 - 1 : j0;
                double *p = pts + 3 * (4 * c + e);
                const double x = cf[0] + i * cf[3] + j * cf[6] + k * cf[9];
                const double y = cf[1] + i * cf[4] + j * cf[7] + k * cf[10];
                const double z = cf[2] + i * cf[5] + j * cf[8] + k * cf[11];
                if (z > 0.0) {
                    const double r = 1.0 / z;
                    p[0] = x * r; p[1] = y * r; p[2] = z;
                } else {
                    p[0] = 0.0; p[1] = 0.0; p[2] = 0.0;
                }
            }
        }
        for (int kb = 0; kb < NK; ++kb) {
            if (!state[kb]) continue;
            double box[4] = {INFINITY, -INFINITY, INFINITY, -INFINITY};
            double zmin = INFINITY, zmax = 0.0;
            int front = 1, px[4];
            const double *p = pts + 3 * 4 * kb;
            for (int e = 0; e < 8; ++e, p += 3) {
                front &= p[2] > 0.0;
                zmin = p[2] < zmin ? p[2] : zmin;
                zmax = p[2] > zmax ? p[2] : zmax;
                box[0] = p[0] < box[0] ? p[0] : box[0];
                box[1] = p[0] > box[1] ? p[0] : box[1];
                box[2] = p[1] < box[2] ? p[1] : box[2];
                box[3] = p[1] > box[3] ? p[1] : box[3];
            }
            if (!front) { state[kb] = 2; continue; }     /* straddles the camera plane: no claim */
            const int where = cd_box_pixels(box, W, H, spare, px);
            if (where == 0 || (sat && cd_sat_query(sat[v], bands + 4 * v, px) == 0))
                state[kb] = 0;
            else if (where == 1 || zmin < 0.01 * zmax)
                state[kb] = 2;   /* rows need clipping (or, near the camera plane, clamps) */
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Row segments.                                                                          */

/* Per-view float32 parameters of a segment starting at voxel ka: f[0:3] = (x + z/2, y + z/2,
 * z) of voxel ka, f[3:6] their steps along k, so that u + 0.5 = (f0 + m f3) / (f2 + m f5)
 * for voxel ka + m.  Coordinates from the segment start stay small, so float32 keeps the
 * pixel error around 1e-4 px. */
static inline void cd_segment_params(const double *q, int ka, float *f)
{
    const double kd = (double)ka, z = q[2] + kd * q[5];
    f[0] = (float)(q[0] + kd * q[3] + 0.5 * z);
    f[1] = (float)(q[1] + kd * q[4] + 0.5 * z);
    f[2] = (float)z;
    f[3] = (float)(q[3] + 0.5 * q[5]);
    f[4] = (float)(q[4] + 0.5 * q[5]);
    f[5] = (float)q[5];
}

/* Pixel indices of n voxels of a segment in one view (vectorised by the compiler; the
 * clones give AVX2 / AVX-512 on x86-64).  clamp = 0 only where every voxel is known to
 * project well inside the image (then the clamps, which also map NaN to 0, can go). */
static CD_ALWAYS_INLINE void cd_project_body(const float *f, int n, int W, int H, int32_t *idx, int clamp)
{
    const float wmax = (float)(W - 1), hmax = (float)(H - 1);
    const float x0 = f[0], y0 = f[1], z0 = f[2], ax = f[3], ay = f[4], az = f[5];
    for (int m = 0; m < n; ++m) {
        const float k = (float)m;
        const float r = 1.0f / (z0 + k * az);
        float u = (x0 + k * ax) * r, v = (y0 + k * ay) * r;
        if (clamp) {
            u = (u >= 0.0f) ? u : 0.0f;  u = (u <= wmax) ? u : wmax;
            v = (v >= 0.0f) ? v : 0.0f;  v = (v <= hmax) ? v : hmax;
        }
        idx[m] = (int32_t)v * W + (int32_t)u;
    }
}

CD_CLONES
static void cd_project_row_f(const float *f, int n, int W, int H, int32_t *idx, int clamp)
{
    if (clamp)
        cd_project_body(f, n, W, H, idx, 1);
    else
        cd_project_body(f, n, W, H, idx, 0);
}

/* A row segment of n voxels, out[m] = lut[min over views of the pixel]: every view
 * projected in a vectorised pass into scratch (nviews * stride int32, stride >= n), then
 * per voxel the pixel loads, later views only while the minimum is non-zero (plain loads
 * beat AVX2 gathers here, and on CPUs with the gather microcode mitigation by far; where
 * cd_gather_usable, cd_row_u8_gather takes its place). */
static void cd_row_u8(const float *qf, int nviews, int n, const uint8_t *const *ims, int W, int H,
                      const float *lut, float *out, int32_t *scratch, int stride, int clamp)
{
    for (int v = 0; v < nviews; ++v)
        cd_project_row_f(qf + 6 * v, n, W, H, scratch + (size_t)v * stride, clamp);
    const uint8_t *im0 = ims[0];
    if (nviews == 1) {
        for (int m = 0; m < n; ++m) out[m] = lut[im0[scratch[m]]];
    } else if (nviews == 2) {
        const uint8_t *im1 = ims[1];
        const int32_t *idx1 = scratch + stride;
        for (int m = 0; m < n; ++m) {
            unsigned p = im0[scratch[m]];
            if (p) {
                const unsigned p1 = im1[idx1[m]];
                p = p1 < p ? p1 : p;
            }
            out[m] = lut[p];
        }
    } else {
        for (int m = 0; m < n; ++m) {
            unsigned p = im0[scratch[m]];
            for (int v = 1; v < nviews && p; ++v) {
                const unsigned pv = ims[v][scratch[(size_t)v * stride + m]];
                p = pv < p ? pv : p;
            }
            out[m] = lut[p];
        }
    }
}

/* Copy a finished row of n floats to its place in the grid.  nt: with non-temporal
 * (streaming) stores on x86-64, for grids far larger than the caches: no read-for-ownership
 * of lines that are about to be overwritten (the caller ends with cd_stream_fence). */
static inline void cd_put_row(float *dst, const float *src, int n, int nt)
{
#if defined(__x86_64__) || defined(_M_X64)
    if (nt) {
        int m = 0;
        for (; m < n && ((uintptr_t)(dst + m) & 15u); ++m) dst[m] = src[m];
        for (; m + 4 <= n; m += 4) _mm_stream_ps(dst + m, _mm_loadu_ps(src + m));
        for (; m < n; ++m) dst[m] = src[m];
        return;
    }
#endif
    (void)nt;
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static inline void cd_stream_fence(void)
{
#if defined(__x86_64__) || defined(_M_X64)
    _mm_sfence();
#endif
}

/* ------------------------------------------------------------------------------------ */
/* One brick column: every row (i, j) for i0 <= i < i1, j0 <= j < j1.                      */

typedef struct {
    const double *coef;             /* (V, 12) */
    const uint8_t *const *ims;      /* V images */
    const float *lut;               /* 256 */
    int V, N, W, H;
    int B, BK, NK;                  /* brick edge in i and j, along k; bricks along k */
    int nt;                         /* rows go out through a buffer with streaming stores */
    int fast;                       /* state-1 bricks go through cd_vbmi_tiles (B = BK = 16) */
    int li;                         /* ... with vectors of li voxels along i (16, 8 or 4) */
    int fast_nt;                    /* ... with streaming stores (grid 64-byte aligned) */
    int gather;                     /* pixels read by gathers: tiles 16 along i, rows by cd_row_u8_gather */
    int lut255;                     /* lut[p] == float32(p) / 255 (cd_lut_is_255) */
} cd_u8_job;

#include "_carve_vbmi.h"   /* the windowed AVX-512 path: cd_vbmi_usable, cd_fast_runs */
#include "_carve_gather.h" /* row segments by AVX-512 gathers: cd_gather_usable, cd_row_u8_gather */

/* scratch: V N int32; q: 12 V doubles; qf: 6 V floats; lims: 2 ints; runs: 3 (2 NK + 2) ints;
 * rowbuf: N floats (used when job->nt); stage: 64 N floats (used when job->fast). */
static void cd_carve_column(const cd_u8_job *job, int i0, int i1, int j0, int j1,
                            const uint8_t *state, float *out, int32_t *scratch, double *q,
                            float *qf, int *lims, int *runs, float *rowbuf, float *stage)
{
    const int V = job->V, N = job->N, W = job->W, H = job->H, BK = job->BK, NK = job->NK;
    /* Runs of bricks along k: [k0, k1), live (0/1), clip (some brick needs row intervals). */
    int nruns = 0, any = 0;
    for (int kb = 0; kb < NK;) {
        const int live = state[kb] != 0;
        int clip = state[kb] == 2, kb1 = kb + 1;
        while (kb1 < NK && (state[kb1] != 0) == live) clip |= state[kb1++] == 2;
        runs[3 * nruns] = kb * BK;
        runs[3 * nruns + 1] = kb1 * BK < N ? kb1 * BK : N;
        runs[3 * nruns + 2] = live ? 1 + clip : 0;
        any |= live;
        ++nruns;
        kb = kb1;
    }
    int split;                      /* some runs were done whole-tile: rows go out in pieces */
    nruns = cd_fast_runs(job, i0, i1, j0, j1, nruns, runs, out, stage, &split);
    long gather_rows = 0;           /* row segments read by gathers (cd_gather_rows) */
    double *qi = q + 6 * V;
    for (int i = i0; i < i1; ++i) {
        for (int v = 0; v < V; ++v) cd_row_coefficients(job->coef + 12 * v, i, 0, qi + 6 * v);
        for (int j = j0; j < j1; ++j) {
            float *const dst = out + ((size_t)i * N + j) * N;
            float *row = job->nt ? rowbuf : dst;
            if (!any) {
                memset(row, 0, (size_t)N * sizeof(float));
                if (job->nt) cd_put_row(dst, row, N, 1);
                continue;
            }
            for (int v = 0; v < V; ++v)
                for (int c = 0; c < 3; ++c) {
                    q[6 * v + c] = qi[6 * v + c] + j * job->coef[12 * v + 6 + c];
                    q[6 * v + 3 + c] = qi[6 * v + 3 + c];
                }
            int kl = -1, kh = -1;        /* the row's interval, computed when first needed */
            for (int r = 0; r < nruns; ++r) {
                const int k0 = runs[3 * r], k1 = runs[3 * r + 1], kind = runs[3 * r + 2];
                int a = k0, b = k1 - 1;
                if (kind == 3) continue;        /* written by cd_vbmi_tiles */
                if (kind == 2) {
                    if (kl < 0) {
                        kl = 0; kh = N - 1;
                        for (int v = 0; v < V; ++v) {
                            cd_view_interval(q + 6 * v, W, H, N, lims, lims + 1);
                            kl = lims[0] > kl ? lims[0] : kl;
                            kh = lims[1] < kh ? lims[1] : kh;
                        }
                    }
                    a = a > kl ? a : kl;
                    b = b < kh ? b : kh;
                }
                if (!kind || a > b) {
                    memset(row + k0, 0, (size_t)(k1 - k0) * sizeof(float));
                    continue;
                }
                if (a > k0) memset(row + k0, 0, (size_t)(a - k0) * sizeof(float));
                if (b < k1 - 1) memset(row + b + 1, 0, (size_t)(k1 - 1 - b) * sizeof(float));
                for (int v = 0; v < V; ++v) cd_segment_params(q + 6 * v, a, qf + 6 * v);
#ifdef CD_VBMI
                if (job->gather) {
                    cd_row_u8_gather(qf, V, b - a + 1, job->ims, W, H, job->lut, job->lut255, row + a, kind == 2);
                    ++gather_rows;
                    continue;
                }
#endif
                cd_row_u8(qf, V, b - a + 1, job->ims, W, H, job->lut, row + a, scratch, N, kind == 2);
            }
            if (job->nt && !split) {
                cd_put_row(dst, row, N, 1);
            } else if (job->nt) {
                for (int r = 0; r < nruns; ++r)
                    if (runs[3 * r + 2] != 3)
                        cd_put_row(dst + runs[3 * r], row + runs[3 * r], runs[3 * r + 1] - runs[3 * r], 1);
            }
        }
    }
    if (gather_rows) __atomic_fetch_add(&cd_gather_rows, gather_rows, __ATOMIC_RELAXED);
}

#endif /* CAMDECK_CARVE_SIMD_H */
