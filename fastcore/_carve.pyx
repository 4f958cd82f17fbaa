# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# distutils: language = c
"""The lean voxel-carving kernel behind fastcore.carve.

No validation happens here: fastcore/__init__.py checks every argument first (the
scikit-image _flood_fill.py / _flood_fill_cy.pyx shape). Callers pass
    images   list of V C-contiguous (H, W) arrays, all uint8 or all float32
    coef     (V, 12) float64: per view base(3), di(3), dj(3), dk(3) with
             (x, y, z) = K @ (R @ X + t) = base + i*di + j*dj + k*dk for voxel (i, j, k)
    out      (N, N, N) float32, C-contiguous, overwritten
How it is fast: each row (i, j, :) is linear in k before the divide, so the k-interval
where a view sees the voxel in front of it and inside the image is solved analytically
(then its two ends are checked with the exact per-voxel arithmetic); the parts of the row
outside the interval are zero-filled, the rest is projected incrementally with the SIMD
helpers in _carve_simd.h, and later views are only looked at while the voxel is non-zero.
"""
from cython.parallel cimport parallel, prange
from libc.stdint cimport int32_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from libc.math cimport ceil, floor, exp, sqrt, INFINITY

cdef extern from "_carve_simd.h" nogil:
    void cd_project_row(const double *q, int ka, int n, int W, int H, int32_t *idx)
    int32_t cd_project_one(const double *q, int k, int W, int H)
    int cd_inside(const double *q, int k, int W, int H)
    void cd_row_u8_two(const double *q0, const double *q1, int ka, int n,
                       const uint8_t *im0, const uint8_t *im1, int W, int H,
                       const float *lut, float *out, int32_t *scratch)
    void cd_tile_band_max(const uint8_t *im, int W, int y0, int y1, int T, int tx0, int tx1,
                          uint8_t *tiles, uint8_t *colmax)
    void cd_row_u8_many(const double *q, int nviews, int ka, int n,
                        const uint8_t *const *ims, int W, int H,
                        const float *lut, float *out, int32_t *scratch)


cdef inline void row_coefficients(const double[:, ::1] coef, int v, int i, int j,
                                  double *q) noexcept nogil:
    """q[0:3] = projection of voxel (i, j, 0); q[3:6] = its step along k."""
    cdef int c
    for c in range(3):
        q[c] = coef[v, c] + i * coef[v, 3 + c] + j * coef[v, 6 + c]
        q[3 + c] = coef[v, 9 + c]


cdef inline void view_interval(const double *q, int W, int H, int N,
                               int *kl_out, int *kh_out) noexcept nogil:
    """The k range [kl, kh] (empty when kl > kh) where one view sees the row's voxels.

    Each condition (z > 0, 0 <= u + 0.5 < W, 0 <= v + 0.5 < H, multiplied through by z)
    is a linear inequality a + b*k >= 0; their intersection is solved in closed form.
    An end that falls within 1e-6 of a voxel is then moved until the exact per-voxel
    test (cd_inside) agrees.
    """
    cdef double a[5]
    cdef double b[5]
    cdef double lo = 0.0, hi = N - 1.0, r
    cdef int c, kl, kh
    a[0] = q[2]; b[0] = q[5]
    a[1] = q[0] + 0.5 * q[2]; b[1] = q[3] + 0.5 * q[5]
    a[2] = W * q[2] - a[1]; b[2] = W * q[5] - b[1]
    a[3] = q[1] + 0.5 * q[2]; b[3] = q[4] + 0.5 * q[5]
    a[4] = H * q[2] - a[3]; b[4] = H * q[5] - b[3]
    for c in range(5):
        if b[c] > 0.0:
            r = -a[c] / b[c]
            if r > lo:
                lo = r
        elif b[c] < 0.0:
            r = -a[c] / b[c]
            if r < hi:
                hi = r
        elif a[c] < 0.0:
            lo = 1.0
            hi = 0.0
    if not (lo <= hi):
        kl_out[0] = 1
        kh_out[0] = 0
        return
    kl = <int>ceil(lo)
    kh = <int>floor(hi)
    if (lo == 0.0 or kl - lo > 1e-6) and (hi == N - 1.0 or hi - kh > 1e-6):
        # Both ends are well inside a voxel step of a boundary: rounding cannot move them.
        kl_out[0] = kl
        kh_out[0] = kh
        return
    while kl <= kh and not cd_inside(q, kl, W, H):
        kl += 1
    while kh >= kl and not cd_inside(q, kh, W, H):
        kh -= 1
    if kl <= kh:
        while kl > 0 and cd_inside(q, kl - 1, W, H):
            kl -= 1
        while kh < N - 1 and cd_inside(q, kh + 1, W, H):
            kh += 1
    kl_out[0] = kl
    kh_out[0] = kh


# Bricks: B x B x BK voxels ([i, j, k]); a brick is skipped (zero-filled) when one view
# sees it only on zero pixels or outside the image, judged from the projected bounding box
# of its corners against that view's maxima over TILE x TILE pixel tiles.
cdef enum:
    B = 8
    BK = 16
    TILE = 8


cdef inline bint corner_box(const double[:, ::1] coef, int v, int i0, int i1, int j0, int j1,
                            int k0, int k1, double *box) noexcept nogil:
    """Projected bounding box (u_min, u_max, v_min, v_max) of voxels [i0..i1]x[j0..j1]x[k0..k1]
    (inclusive) in view v; False when a corner is not in front of the camera."""
    cdef int c, a, i, j, k
    cdef double x, y, z, r
    box[0] = INFINITY; box[1] = -INFINITY; box[2] = INFINITY; box[3] = -INFINITY
    for c in range(8):
        i = i1 if c & 1 else i0
        j = j1 if c & 2 else j0
        k = k1 if c & 4 else k0
        x = coef[v, 0] + i * coef[v, 3] + j * coef[v, 6] + k * coef[v, 9]
        y = coef[v, 1] + i * coef[v, 4] + j * coef[v, 7] + k * coef[v, 10]
        z = coef[v, 2] + i * coef[v, 5] + j * coef[v, 8] + k * coef[v, 11]
        if not z > 0.0:
            return False
        r = 1.0 / z
        x = x * r
        y = y * r
        if x < box[0]: box[0] = x
        if x > box[1]: box[1] = x
        if y < box[2]: box[2] = y
        if y > box[3]: box[3] = y
    return True


cdef inline bint box_pixels(const double *box, int W, int H, int *px) noexcept nogil:
    """Pixel range (c0, c1, r0, r1) inclusive, one pixel of margin, clipped to the image;
    False when the box misses the image."""
    cdef double c0 = floor(box[0] + 0.5) - 1.0, c1 = floor(box[1] + 0.5) + 1.0
    cdef double r0 = floor(box[2] + 0.5) - 1.0, r1 = floor(box[3] + 0.5) + 1.0
    if c1 < 0.0 or r1 < 0.0 or c0 > W - 1.0 or r0 > H - 1.0:
        return False
    px[0] = 0 if c0 < 0.0 else <int>c0
    px[1] = W - 1 if c1 > W - 1.0 else <int>c1
    px[2] = 0 if r0 < 0.0 else <int>r0
    px[3] = H - 1 if r1 > H - 1.0 else <int>r1
    return True


cdef inline bint brick_is_zero(const double[:, ::1] coef, int v, int i0, int i1, int j0, int j1,
                               int k0, int k1, int W, int H, int TW,
                               const uint8_t *tiles) noexcept nogil:
    """True when every voxel of the brick gets 0 from view v (so the voxel minimum is 0)."""
    cdef double box[4]
    cdef int px[4]
    cdef int tx, ty
    if not corner_box(coef, v, i0, i1, j0, j1, k0, k1, box):
        return False            # straddles the camera plane: no claim
    if not box_pixels(box, W, H, px):
        return True             # entirely outside the image
    for ty in range(px[2] // TILE, px[3] // TILE + 1):
        for tx in range(px[0] // TILE, px[1] // TILE + 1):
            if tiles[ty * TW + tx]:
                return False
    return True


def carve_u8(list images, const double[:, ::1] coef, float[:, :, ::1] out,
             const float[::1] lut, int num_threads):
    """uint8 views, no attenuation: value = lut[min over views of the pixel]."""
    cdef int V = len(images)
    cdef int N = out.shape[0]
    cdef int H = images[0].shape[0]
    cdef int W = images[0].shape[1]
    cdef int TW = (W + TILE - 1) // TILE
    cdef int TH = (H + TILE - 1) // TILE
    cdef int NB = (N + B - 1) // B
    cdef int NK = (N + BK - 1) // BK
    cdef const uint8_t[:, ::1] view
    cdef const uint8_t **ims = <const uint8_t **>malloc(V * sizeof(uint8_t *))
    cdef uint8_t *tiles = <uint8_t *>malloc(<size_t>V * TW * TH)
    cdef int *band = <int *>malloc(4 * V * sizeof(int))
    cdef int v, r, i, j, kl, kh, a, b, task, i0, i1, j0, j1, k0, k1, kb, rows_ready, zero, n_bands
    cdef int32_t *scratch = NULL
    cdef double *q = NULL
    cdef uint8_t *alive = NULL
    cdef int n_alive
    cdef uint8_t *colmax = NULL
    cdef double box[4]
    cdef int px[4]
    cdef float *row
    if ims == NULL or tiles == NULL or band == NULL:
        free(ims); free(tiles); free(band)
        raise MemoryError()
    for v in range(V):
        view = images[v]
        ims[v] = &view[0, 0]
        # Tile maxima are only needed under the grid's footprint in this view.
        band[4 * v] = 0; band[4 * v + 1] = TW; band[4 * v + 2] = 0; band[4 * v + 3] = TH
        if corner_box(coef, v, 0, N - 1, 0, N - 1, 0, N - 1, box):
            if box_pixels(box, W, H, px):
                band[4 * v] = px[0] // TILE; band[4 * v + 1] = px[1] // TILE + 1
                band[4 * v + 2] = px[2] // TILE; band[4 * v + 3] = px[3] // TILE + 1
            else:
                band[4 * v + 1] = 0; band[4 * v + 3] = 0
    n_bands = V * TH
    memset(tiles, 255, <size_t>V * TW * TH)   # 255 = "may be non-zero": the safe default
    with nogil, parallel(num_threads=num_threads):
        colmax = <uint8_t *>malloc(W)
        for r in prange(n_bands, schedule='static'):
            v = r // TH
            i = r - v * TH       # tile row
            if i >= band[4 * v + 2] and i < band[4 * v + 3] and band[4 * v] < band[4 * v + 1]:
                cd_tile_band_max(ims[v], W, i * TILE, min((i + 1) * TILE, H), TILE,
                                 band[4 * v], band[4 * v + 1], tiles + <size_t>r * TW, colmax)
        free(colmax)
    with nogil, parallel(num_threads=num_threads):
        scratch = <int32_t *>malloc(2 * N * sizeof(int32_t))
        q = <double *>malloc(6 * V * sizeof(double))
        alive = <uint8_t *>malloc(NK)
        for task in prange(NB * NB, schedule='dynamic'):
            i0 = (task // NB) * B
            j0 = (task % NB) * B
            i1 = min(i0 + B, N)
            j1 = min(j0 + B, N)
            # A brick is zero when one view sees it only on zero pixels or off the image.
            n_alive = 0
            for kb in range(NK):
                alive[kb] = 1
                for v in range(V):
                    if brick_is_zero(coef, v, i0, i1 - 1, j0, j1 - 1, kb * BK,
                                     min(kb * BK + BK, N) - 1, W, H, TW,
                                     tiles + <size_t>v * TW * TH):
                        alive[kb] = 0
                        break
                n_alive = n_alive + alive[kb]
            for i in range(i0, i1):
                for j in range(j0, j1):
                    row = &out[i, j, 0]
                    if n_alive == 0:
                        memset(row, 0, N * sizeof(float))
                        continue
                    # Clip the row to where every view sees it.
                    kl = 0
                    kh = N - 1
                    for v in range(V):
                        row_coefficients(coef, v, i, j, q + 6 * v)
                        view_interval(q + 6 * v, W, H, N, &a, &b)
                        if a > kl:
                            kl = a
                        if b < kh:
                            kh = b
                    # Walk runs of live bricks inside [kl, kh]; everything else is zero.
                    k0 = 0
                    while k0 < N:
                        kb = k0 // BK
                        k1 = k0
                        while k1 < N and alive[k1 // BK] == alive[kb]:
                            k1 = k1 + BK
                        if k1 > N:
                            k1 = N
                        a = max(k0, kl) if alive[kb] else k1
                        b = min(k1 - 1, kh) if alive[kb] else k1 - 1
                        if a > b:
                            memset(row + k0, 0, (k1 - k0) * sizeof(float))
                        else:
                            if a > k0:
                                memset(row + k0, 0, (a - k0) * sizeof(float))
                            if b < k1 - 1:
                                memset(row + b + 1, 0, (k1 - 1 - b) * sizeof(float))
                            if V == 2:
                                cd_row_u8_two(q, q + 6, a, b - a + 1, ims[0], ims[1], W, H,
                                              &lut[0], row + a, scratch)
                            else:
                                cd_row_u8_many(q, V, a, b - a + 1, ims, W, H, &lut[0],
                                               row + a, scratch)
                        k0 = k1
        free(scratch)
        free(q)
        free(alive)
    free(ims)
    free(tiles)
    free(band)


def carve_general(list images, bint is_u8, const double[:, ::1] coef,
                  const double[:, ::1] centers, const double[::1] corner, double voxel_size,
                  double attenuation, float[:, :, ::1] out, const float[::1] lut,
                  int num_threads):
    """float32 views, or attenuation > 0: the per-voxel path.

    centers (V, 3): camera centres; corner (3,): centre of voxel (0, 0, 0).
    For uint8 views values are non-negative, so the row is clipped to the views'
    common interval and each voxel stops at the first zero; float32 views may hold
    negative values, so every view is looked at.
    """
    cdef int V = len(images)
    cdef int N = out.shape[0]
    cdef int H = images[0].shape[0]
    cdef int W = images[0].shape[1]
    cdef const uint8_t[:, ::1] view8
    cdef const float[:, ::1] viewf
    cdef const void **ims = <const void **>malloc(V * sizeof(void *))
    cdef int v, r, i, j, k, kl, kh
    cdef int32_t idx
    cdef int *lims = NULL
    cdef double *q = NULL
    cdef double m, val, dx, dy, dz
    cdef float *row
    if ims == NULL:
        raise MemoryError()
    for v in range(V):
        if is_u8:
            view8 = images[v]
            ims[v] = &view8[0, 0]
        else:
            viewf = images[v]
            ims[v] = &viewf[0, 0]
    with nogil, parallel(num_threads=num_threads):
        lims = <int *>malloc(2 * V * sizeof(int))
        q = <double *>malloc(6 * V * sizeof(double))
        for r in prange(N * N, schedule='static'):
            i = r // N
            j = r - i * N
            row = &out[i, j, 0]
            kl = 0
            kh = N - 1
            for v in range(V):
                row_coefficients(coef, v, i, j, q + 6 * v)
                view_interval(q + 6 * v, W, H, N, lims + 2 * v, lims + 2 * v + 1)
                if lims[2 * v] > kl:
                    kl = lims[2 * v]
                if lims[2 * v + 1] < kh:
                    kh = lims[2 * v + 1]
            if not is_u8:
                kl = 0
                kh = N - 1
            memset(row, 0, N * sizeof(float))
            for k in range(kl, kh + 1):
                m = INFINITY
                for v in range(V):
                    if k < lims[2 * v] or k > lims[2 * v + 1]:
                        val = 0.0
                    else:
                        idx = cd_project_one(q + 6 * v, k, W, H)
                        if is_u8:
                            val = lut[(<const uint8_t *>ims[v])[idx]]
                        else:
                            val = (<const float *>ims[v])[idx]
                        if attenuation != 0.0 and val != 0.0:
                            dx = corner[0] + i * voxel_size - centers[v, 0]
                            dy = corner[1] + j * voxel_size - centers[v, 1]
                            dz = corner[2] + k * voxel_size - centers[v, 2]
                            val = val * exp(-attenuation * sqrt(dx * dx + dy * dy + dz * dz))
                    if val < m:
                        m = val
                    if is_u8 and m <= 0.0:
                        break
                row[k] = <float>m
        free(lims)
        free(q)
    free(ims)
