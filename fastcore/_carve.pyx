# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# distutils: language = c
"""The lean voxel-carving kernel behind fastcore.carve.

No validation happens here: fastcore/__init__.py checks every argument first (the
scikit-image _flood_fill.py / _flood_fill_cy.pyx shape). Callers pass
    images   list of V C-contiguous (H, W) arrays, all uint8 or all float32
    coef     (V, 12) float64: per view base(3), di(3), dj(3), dk(3) with
             (x, y, z) = K @ (R @ X + t) = base + i*di + j*dj + k*dk for voxel (i, j, k)
    out      (N, N, N) float32, C-contiguous, overwritten
How it is fast (uint8, carve_u8; the C lives in _carve_simd.h):
  1. per view, an 8x8-pixel "any non-zero" tile map is built under the grid's footprint
     only (OR of eight rows at a time), as a summed-area table;
  2. the grid is cut into 8 x 8 x 16-voxel bricks (8 x 8 x 8 up to 96^3); a brick some
     view sees only on zero tiles (four table lookups for its projected box) or off the
     image is zero-filled, and one every view sees well inside its image needs no row
     clipping and no index clamps;
  3. the other rows (i, j, :) are linear in k before the divide, so a row's k-interval
     where a view sees it in front and inside the image is solved analytically (ends
     checked with the exact per-voxel arithmetic) where a brick needs it;
  4. live row segments are projected in float32 by auto-vectorised loops (AVX2 / AVX-512
     clones on x86-64), then the pixels are read with plain loads, later views only while
     the voxel is non-zero; grids too big for the caches are written with streaming stores;
     on a CPU with AVX-512 VBMI, bricks every view sees well inside its image go instead
     through _carve_vbmi.h: tiles of 16 vectors (one per k) of 16 voxels.  On Intel CPUs
     (gathers_default, _carve_gather.h) a vector is 16 voxels along i read by one AVX-512
     gather per view, at any grid size, and the other row segments are gathered 16 along k at
     a time; elsewhere, when the grid's i axis runs along image rows (windows_fit), a vector
     is 16 along i or (coarser grids) 8 or 4 along i at 2 or 4 j's, whose 16 pixels come from
     64-byte loads of two or three image rows and byte permutes (16 x 8 x 16 bricks then);
  5. the three stages (tile rows, tables, brick columns) run on the caller and helper threads
     of _carve_pool.h: no end barrier, so a helper descheduled by a busy process is not waited
     for unless it holds an item (carve_general still uses OpenMP).
carve_general (float32 views or attenuation) is the per-voxel path with the same intervals.
NaN policy (fastcore's module doc): a voxel any view sees as NaN is NaN, never +inf.
"""
from cython.parallel cimport parallel, prange
from libc.stdint cimport int32_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from libc.math cimport ceil, floor, exp, isnan, sqrt, INFINITY

import numpy as np

cdef extern from "_carve_simd.h" nogil:
    enum:
        CD_TILE
    ctypedef struct cd_u8_job:
        const double *coef
        const uint8_t *const *ims
        const float *lut
        int V, N, W, H, B, BK, NK, nt, fast, li, fast_nt, gather, lut255
    int32_t cd_project_one(const double *q, int k, int W, int H)
    void cd_row_coefficients(const double *coef, int i, int j, double *q)
    void cd_view_interval(const double *q, int W, int H, int N, int *kl, int *kh)
    int cd_grid_band(const double *coef, int N, int W, int H, int *band)
    void cd_tile_row(const uint8_t *im, int W, int H, int ty, int tx0, int tx1,
                     uint8_t *acc, int32_t *sat_row)
    void cd_sat_columns(int32_t *sat, int bw, int bh)
    void cd_brick_states(const double *coef, int V, int N, int BK, int i0, int i1, int j0, int j1,
                         int W, int H, int spare, const int32_t *const *sat, const int *bands,
                         double *pts, uint8_t *state)
    void cd_carve_column(const cd_u8_job *job, int i0, int i1, int j0, int j1,
                         const uint8_t *state, float *out, int32_t *scratch, double *q,
                         float *qf, int *lims, int *runs, float *rowbuf, float *stage)
    void cd_stream_fence()
    int cd_vbmi_usable()
    int cd_vbmi_built()
    int cd_gather_usable()
    int cd_lut_is_255(const float *lut)
    long cd_fast_tiles
    long cd_fast_reads[3]
    long cd_gather_tiles
    long cd_gather_rows


# Jobs smaller than this run on one thread (waking a second one costs more): voxels plus
# twice the 8x8-pixel tiles under the grid (a tile costs about two voxels' time).
cdef long SMALL_WORK = 20000
# Grids larger than this (bytes) are written with streaming stores: they cannot stay cached.
cdef long STREAM_BYTES = 24 << 20
# ... and the windowed path's tiles from this size up: each tile writes 16 pieces of one cache
# line, an (i, j) plane apart, so past the L2 every piece would first be read for ownership
# (128^3 dense, one thread: 0.75x the time with streaming, interleaved in one process).
cdef long STREAM_TILE_BYTES = 2 << 20
# Tile maps are built (cull=-1) for grids with at least this many voxels per 8x8-pixel tile
# under the grid: 2 per pixel.  On the dense and lab bench scenes, 2 threads (docs/design.md,
# "When to build the tile maps"): 0.2 voxels per pixel at 64^3 and 0.65 at 96^3, where the maps
# cost 12-44 %; 1.5 at 128^3, within 5 %; 3 at 160^3, 4.7 % slower on the dense scene and 3 %
# faster on the lab one; 12 at 256^3, where they save 23-28 %.
cdef long CULL_VOXELS_PER_TILE = 128


def coefficients(const double[:, :, ::1] K, const double[:, :, ::1] R, const double[:, ::1] t,
                 const double[::1] grid_center, int N, double voxel_size):
    """(V, 12) float64, as CarveProblem.projection_coefficients (in C: no einsum overhead).

    Per view: base(3), di(3), dj(3), dk(3) with K @ (R @ X + t) = base + i*di + j*dj + k*dk,
    X the centre of voxel (i, j, k).
    """
    cdef Py_ssize_t V = K.shape[0]
    cdef object result = np.empty((V, 12), np.float64)
    cdef double[:, ::1] coef = result
    cdef double corner[3]
    cdef double P[3][3]
    cdef double acc
    cdef Py_ssize_t v
    cdef int a, b, c
    for c in range(3):
        corner[c] = grid_center[c] - (N - 1) / 2.0 * voxel_size
    for v in range(V):
        for a in range(3):
            for c in range(3):
                acc = 0.0
                for b in range(3):
                    acc = acc + K[v, a, b] * R[v, b, c]
                P[a][c] = acc
        for a in range(3):
            acc = 0.0
            for b in range(3):
                acc = acc + K[v, a, b] * t[v, b]
            for c in range(3):
                acc = acc + P[a][c] * corner[c]
            coef[v, a] = acc
            for c in range(3):
                coef[v, 3 + 3 * c + a] = P[a][c] * voxel_size
    return result


cdef inline void brick_shape(int N, int *B, int *BK) noexcept nogil:
    """Brick edge B (i, j) and BK (k) for an N^3 grid (measured on the bench scene: 4 x 4 x 8
    loses everywhere, 8 x 8 x 8 wins at 64^3, 8 x 8 x 16 from 128^3 up)."""
    if N <= 96:
        B[0] = 8; BK[0] = 8
    else:
        B[0] = 8; BK[0] = 16


def vbmi_usable():
    """True when this build and CPU run the windowed AVX-512 path (_carve_vbmi.h)."""
    return bool(cd_vbmi_usable())


def vbmi_built():
    """True when this build carries the windowed path (x86-64 with GCC or clang)."""
    return bool(cd_vbmi_built())


def gathers_default():
    """True when the kernel reads pixels by AVX-512 gathers unless told otherwise (reads=-1):
    an Intel CPU with the windowed path's AVX-512 and no Gather Data Sampling mitigation."""
    return bool(cd_gather_usable())


def fast_stats():
    """For the tests: tiles of 256 voxels the tile path has carved in this process, the reads
    of its window vectors narrower than 16 voxels along i by kind, the tiles read by gathers,
    and the row segments read by gathers, as {"tiles", "two_rows", "three_rows", "scalar",
    "gather_tiles", "gather_rows"}, and the carves that built tile maps ("tile_maps")."""
    return {"tiles": cd_fast_tiles, "two_rows": cd_fast_reads[0], "three_rows": cd_fast_reads[1],
            "scalar": cd_fast_reads[2], "gather_tiles": cd_gather_tiles, "gather_rows": cd_gather_rows,
            "tile_maps": _tile_map_carves}


cdef bint _vector_fits(const double[:, ::1] coef, int N, int li):
    """At the grid's centre, in every view: li voxels along i at 16 / li j's (the windowed
    path's vector) span under 56 px and under 0.8 of an image row, in front of the camera."""
    cdef double c = (N - 1) / 2.0
    cdef double x, y, z, u, w, umin, umax, wmin, wmax
    cdef int a, b, lj = 16 // li
    cdef Py_ssize_t v
    for v in range(coef.shape[0]):
        umin = wmin = INFINITY
        umax = wmax = -INFINITY
        for a in (0, li - 1):
            for b in (0, lj - 1):
                x = coef[v, 0] + (c + a) * coef[v, 3] + (c + b) * coef[v, 6] + c * coef[v, 9]
                y = coef[v, 1] + (c + a) * coef[v, 4] + (c + b) * coef[v, 7] + c * coef[v, 10]
                z = coef[v, 2] + (c + a) * coef[v, 5] + (c + b) * coef[v, 8] + c * coef[v, 11]
                if not z > 0:
                    return False
                u = x / z
                w = y / z
                umin = min(umin, u); umax = max(umax, u)
                wmin = min(wmin, w); wmax = max(wmax, w)
        if umax - umin > 56.0 or wmax - wmin > 0.8:
            return False
    return True


def windows_fit(const double[:, ::1] coef, int N):
    """The windowed path's vector shape for this grid (_carve_vbmi.h): the voxels along i, 16,
    8 or 4 (the rest along j), of the first shape that at the grid's centre spans under 56 px
    of at most two image rows in every view, so that its 64-byte windows mostly fit; 0 when
    none does."""
    cdef int li
    for li in (16, 8, 4):
        if _vector_fits(coef, N, li):
            return li
    return 0


cdef extern from "_carve_pool.h" nogil:
    ctypedef void (*cd_item_fn)(void *ctx, int item, char *scratch) noexcept nogil
    int cd_pool_run(cd_item_fn fn, void *ctx, int n, size_t scratch_bytes, int helpers)
    long cd_pool_stats(int *helpers)


def pool_stats():
    """(helper threads started in this process, items they have run): for the tests."""
    cdef int helpers = 0
    cdef long items = cd_pool_stats(&helpers)
    return helpers, items


cdef struct u8_ctx:
    const cd_u8_job *job
    const double *coef
    const uint8_t **ims
    const int *bands
    const size_t *row_start
    const int32_t **sat
    float *out
    int V, N, W, H, Bi, Bj, NBj, NK
    bint cull
    # byte offsets into each thread's scratch
    size_t o_q, o_pts, o_qf, o_rowbuf, o_scratch, o_lims, o_runs, o_state, o_acc, o_stage, size


cdef inline size_t _take(size_t *at, size_t nbytes) noexcept nogil:
    """Offset of the next nbytes in a scratch block (16-byte aligned pieces)."""
    cdef size_t here = at[0]
    at[0] = here + ((nbytes + 15) & ~(<size_t>15))
    return here


cdef void _tile_item(void *p, int r, char *s) noexcept nogil:
    """Tile row r (all views' rows in turn) of the summed-area tables, as row prefix sums."""
    cdef u8_ctx *c = <u8_ctx *>p
    cdef int v = 0
    cdef int ty
    cdef const int *band
    while <size_t>r >= c.row_start[v + 1]:
        v = v + 1
    ty = r - <int>c.row_start[v]
    band = c.bands + 4 * v
    cd_tile_row(c.ims[v], c.W, c.H, band[2] + ty, band[0], band[1], <uint8_t *>(s + c.o_acc),
                <int32_t *>c.sat[v] + <size_t>(ty + 1) * (band[1] - band[0] + 1))


cdef void _sat_item(void *p, int v, char *s) noexcept nogil:
    """View v's tile rows summed into its table."""
    cdef u8_ctx *c = <u8_ctx *>p
    cd_sat_columns(<int32_t *>c.sat[v], c.bands[4 * v + 1] - c.bands[4 * v],
                   c.bands[4 * v + 3] - c.bands[4 * v + 2])


cdef void _column_item(void *p, int task, char *s) noexcept nogil:
    """Brick column `task`: cull its bricks, then carve its rows."""
    cdef u8_ctx *c = <u8_ctx *>p
    cdef int i0 = (task // c.NBj) * c.Bi
    cdef int j0 = (task % c.NBj) * c.Bj
    cdef int i1 = min(i0 + c.Bi, c.N)
    cdef int j1 = min(j0 + c.Bj, c.N)
    cd_brick_states(c.coef, c.V, c.N, c.job.BK, i0, i1, j0, j1, c.W, c.H, c.job.gather,
                    c.sat if c.cull else NULL, c.bands, <double *>(s + c.o_pts),
                    <uint8_t *>(s + c.o_state))
    cd_carve_column(c.job, i0, i1, j0, j1, <uint8_t *>(s + c.o_state), c.out,
                    <int32_t *>(s + c.o_scratch), <double *>(s + c.o_q), <float *>(s + c.o_qf),
                    <int *>(s + c.o_lims), <int *>(s + c.o_runs), <float *>(s + c.o_rowbuf),
                    <float *>(s + c.o_stage))
    cd_stream_fence()       # this column's streaming stores land before it counts as done


cdef int _default_threads = 0
cdef long _tile_map_carves = 0      # fast_stats()["tile_maps"]


def default_threads():
    """Threads the kernel uses when asked for 0: OMP_NUM_THREADS when set to a count (an
    operator's or a benchmark's cap, as before), else the CPUs this process may run on.
    Read once (asking the OS costs ~10 us, 2 % of a 64^3 carve)."""
    global _default_threads
    if _default_threads > 0:
        return _default_threads
    import os
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if first.isdigit() and int(first) > 0:
        _default_threads = int(first)
    else:
        try:
            _default_threads = len(os.sched_getaffinity(0)) or 1
        except AttributeError:          # not Linux
            _default_threads = os.cpu_count() or 1
    return _default_threads


def carve_u8(list images, const double[:, ::1] coef, float[:, :, ::1] out,
             const float[::1] lut, int num_threads, int brick=0, int brick_k=0, int stream=-1,
             int cull=-1, int fast=-1, int lanes=0, int reads=-1):
    """uint8 views, no attenuation: value = lut[min over views of the pixel].

    num_threads: 0 = default_threads(); small jobs always use one.
    brick, brick_k: brick edges in voxels (0: chosen from N).
    stream: 1/0 forces streaming stores of the grid on/off (-1: on for grids over STREAM_BYTES,
        and for the windowed path's tiles over STREAM_TILE_BYTES).
    cull: 0 (False) skips the tile maps (bricks are then only culled off the image), 1 (True)
        builds them; -1 builds them when the grid has at least CULL_VOXELS_PER_TILE voxels per
        8 x 8-pixel tile under it (only there do the bricks they empty repay reading every
        pixel under the grid, and the two extra stages' hand-overs between threads).
    fast: the tile path (_carve_vbmi.h) for bricks every view sees well inside its image:
        -1 = when N >= 32, no brick shape was asked for, and the pixels are gathered or
        windows_fit; 1 = whatever the geometry (tests); 0 = never.  Either way only where this
        CPU has it (vbmi_usable), the lut is p / 255 and there are at most 8 views.  It uses
        16 x 8 x 16 bricks (i, j, k); with fast=1, brick sets only the 8 and brick_k is ignored.
    lanes: with windows, the vectors are lanes voxels along i (16, 8 or 4) times 16 / lanes
        along j; 0 = windows_fit's choice (16 where nothing fits).
    reads: how pixels are read (_carve_gather.h): 1 = AVX-512 gathers (the tiles' vectors are
        then 16 along i, and lanes is ignored; other rows 16 along k at a time), 0 = 64-byte
        windows in the tiles and scalar loads elsewhere, -1 = gathers where gathers_default().
    The result does not depend on brick, brick_k, stream, cull, fast, lanes, reads or the thread
    count, except that a voxel whose projection lies within a few 1e-4 px of a pixel boundary
    may round the other way (with the windowed path: 9e-5 of the dense bench scene's voxels at
    256^3).
    Threads: the caller and num_threads - 1 helpers of _carve_pool.h, which has no end barrier
    (a helper descheduled by a busy process is not waited for unless it holds an item).
    """
    cdef int V = len(images)
    cdef int N = out.shape[0]
    cdef int H = images[0].shape[0]
    cdef int W = images[0].shape[1]
    cdef int B, BK, Bj, NBi, NBj, NK
    cdef const uint8_t[:, ::1] view
    cdef cd_u8_job job
    cdef u8_ctx ctx
    cdef int v, bw, bh, helpers, rc = 0
    cdef size_t sat_total = 0, at = 0
    cdef int *bands = <int *>malloc(4 * V * sizeof(int))
    cdef size_t *row_start = <size_t *>malloc((V + 1) * sizeof(size_t))
    cdef const uint8_t **ims = <const uint8_t **>malloc(V * sizeof(uint8_t *))
    cdef const int32_t **sat = <const int32_t **>malloc(V * sizeof(int32_t *))
    cdef int32_t *sat_data = NULL
    cdef bint sees = True
    cdef int fits
    cdef bint lut255 = lut.shape[0] >= 256 and cd_lut_is_255(&lut[0])
    cdef bint gather = cd_gather_usable() if reads < 0 else (reads == 1 and cd_vbmi_usable())
    if (fast not in (-1, 0, 1) or lut.shape[0] < 256 or lanes not in (0, 4, 8, 16)
            or reads not in (-1, 0, 1) or cull not in (-1, 0, 1)):
        free(bands); free(row_start); free(ims); free(sat)
        raise ValueError(f"fast={fast} (-1, 0 or 1), lanes={lanes} (0, 4, 8 or 16), "
                         f"reads={reads} (-1, 0 or 1), cull={cull} (-1, 0 or 1), "
                         f"lut of {lut.shape[0]} (256 entries)")
    if bands == NULL or row_start == NULL or ims == NULL or sat == NULL:
        free(bands); free(row_start); free(ims); free(sat)
        raise MemoryError()
    brick_shape(N, &B, &BK)
    fits = 16 if gather else (windows_fit(coef, N) if fast != 0 and lanes == 0 else lanes)
    if fast < 0:
        fast = brick == 0 and brick_k == 0 and N >= 32 and fits > 0
    if not (V <= 8 and cd_vbmi_usable() and lut255):
        fast = 0
    if fast:
        B = 16; BK = 16
    Bj = 8 if fast else B
    if brick > 0:
        Bj = brick
        if not fast:
            B = brick
    if brick_k > 0 and not fast:
        BK = brick_k
    NBi = (N + B - 1) // B
    NBj = (N + Bj - 1) // Bj
    NK = (N + BK - 1) // BK
    # Per view: the tile band under the grid and the size of its summed-area table.
    row_start[0] = 0
    for v in range(V):
        view = images[v]
        ims[v] = &view[0, 0]
        if not cd_grid_band(&coef[v, 0], N, W, H, bands + 4 * v):
            sees = False
        bw = bands[4 * v + 1] - bands[4 * v]
        bh = bands[4 * v + 3] - bands[4 * v + 2]
        sat_total += <size_t>(bh + 1) * (bw + 1)
        row_start[v + 1] = row_start[v] + bh
    job.coef = &coef[0, 0]
    job.ims = ims
    job.lut = &lut[0]
    job.V = V; job.N = N; job.W = W; job.H = H
    job.B = B; job.BK = BK; job.NK = NK
    job.nt = 1 if (stream if stream >= 0 else <long>N * N * N * 4 > STREAM_BYTES) else 0
    job.fast = fast
    job.li = fits if fits > 0 else 16
    job.gather = gather
    job.lut255 = lut255
    # whole-tile rows are 64-byte pieces: streamed only when they start on a cache line
    job.fast_nt = (N % 16 == 0 and (<size_t>&out[0, 0, 0]) % 64 == 0
                   and (stream if stream >= 0 else <long>N * N * N * 4 > STREAM_TILE_BYTES))
    if not sees:        # the whole grid is off some view's image: every voxel is 0
        with nogil:
            memset(&out[0, 0, 0], 0, <size_t>N * N * N * sizeof(float))
        free(bands); free(row_start); free(ims); free(sat)
        return
    sat_data = <int32_t *>malloc(sat_total * sizeof(int32_t))
    if sat_data == NULL:
        free(bands); free(row_start); free(ims); free(sat)
        raise MemoryError()
    sat_total = 0
    for v in range(V):
        sat[v] = sat_data + sat_total
        bw = bands[4 * v + 1] - bands[4 * v]
        memset(sat_data + sat_total, 0, (bw + 1) * sizeof(int32_t))   # row 0
        sat_total += <size_t>(bands[4 * v + 3] - bands[4 * v + 2] + 1) * (bw + 1)
    global _tile_map_carves
    if cull < 0:
        cull = <long>N * N * N >= CULL_VOXELS_PER_TILE * <long>sat_total
    _tile_map_carves += cull != 0
    if num_threads <= 0:
        num_threads = default_threads()
    if <long>N * N * N + 2 * (sat_total if cull else 0) < SMALL_WORK:
        num_threads = 1
    helpers = num_threads - 1
    ctx.job = &job
    ctx.coef = &coef[0, 0]
    ctx.ims = ims
    ctx.bands = bands
    ctx.row_start = row_start
    ctx.sat = sat
    ctx.out = &out[0, 0, 0]
    ctx.V = V; ctx.N = N; ctx.W = W; ctx.H = H; ctx.Bi = B; ctx.Bj = Bj; ctx.NBj = NBj; ctx.NK = NK
    ctx.cull = cull
    ctx.o_q = _take(&at, 12 * V * sizeof(double))
    ctx.o_pts = _take(&at, 12 * (NK + 1) * sizeof(double))
    ctx.o_qf = _take(&at, 6 * V * sizeof(float))
    ctx.o_rowbuf = _take(&at, N * sizeof(float))
    ctx.o_scratch = _take(&at, <size_t>V * N * sizeof(int32_t))
    ctx.o_lims = _take(&at, 2 * sizeof(int))
    ctx.o_runs = _take(&at, 3 * (2 * NK + 2) * sizeof(int))
    ctx.o_state = _take(&at, NK + 1)
    ctx.o_acc = _take(&at, W + CD_TILE)
    ctx.o_stage = _take(&at, (64 * N if fast else 1) * sizeof(float))
    ctx.size = at
    with nogil:
        # 1. tile maps under each view's grid footprint, as row prefix sums, 2. summed over
        # the tile rows, 3. brick columns: cull bricks, then carve the rows
        if cull:
            rc = cd_pool_run(_tile_item, &ctx, <int>row_start[V], ctx.size, helpers)
            if rc == 0:
                rc = cd_pool_run(_sat_item, &ctx, V, ctx.size, helpers)
        if rc == 0:
            rc = cd_pool_run(_column_item, &ctx, NBi * NBj, ctx.size, helpers)
    free(bands); free(row_start); free(ims); free(sat); free(sat_data)
    if rc != 0:
        raise MemoryError()


def carve_general(list images, bint is_u8, const double[:, ::1] coef,
                  const double[:, ::1] centers, const double[::1] corner, double voxel_size,
                  double attenuation, float[:, :, ::1] out, const float[::1] lut,
                  int num_threads):
    """float32 views, or attenuation > 0: the per-voxel path.

    centers (V, 3): camera centres; corner (3,): centre of voxel (0, 0, 0).
    For uint8 views values are non-negative, so the row is clipped to the views'
    common interval and each voxel stops at the first zero; float32 views may hold
    negative values, so every view is looked at, and a NaN ends the voxel as NaN (a plain
    ``val < m`` would skip it and leave +inf where every view is NaN).
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
                cd_row_coefficients(&coef[v, 0], i, j, q + 6 * v)
                cd_view_interval(q + 6 * v, W, H, N, lims + 2 * v, lims + 2 * v + 1)
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
                    elif isnan(val):        # NaN policy: a NaN a view sees wins (as np.minimum)
                        m = val
                        break
                    if is_u8 and m <= 0.0:
                        break
                row[k] = <float>m
        free(lims)
        free(q)
    free(ims)
