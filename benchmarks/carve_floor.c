/* Floors for the uint8 carve on this machine: what a plain kernel costs with no culling.
 *
 * Built and driven by benchmarks/carve_floor.py (gcc -O3 -march=native -fopenmp, loaded with
 * ctypes); not part of camdeck.  Every variant walks every voxel of an N^3 grid, two views,
 * with the same float32 projection as fastcore/_carve_simd.h (segment start + m * step,
 * u + 0.5 = (x0 + m ax) / (z0 + m az), clamped to the image):
 *   0 write    only writes the grid (memset): the output floor
 *   1 project  projects both views and stores a value made from the pixel indices, no pixel
 *              read: the arithmetic floor
 *   2 gather   the plain SIMD kernel: AVX-512 projection, AVX-512 gathers of both views'
 *              pixels, min, /255, store (needs AVX-512F; returns -1 without it)
 *   3 scalar   projection into index arrays (auto-vectorised), then scalar pixel loads with
 *              the second view read only where the first is non-zero (the shipped kernel's
 *              voxel loop, without its culling)
 * Variants 2 and 3 compute the real result; the driver checks them against the shipped kernel.
 */
#include <omp.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Row (i, j, 0..N-1) of view v: x0, y0, z0, ax, ay, az as in cd_segment_params. */
static void row_params(const double *c, int i, int j, float *f)
{
    const double x = c[0] + i * c[3] + j * c[6], y = c[1] + i * c[4] + j * c[7];
    const double z = c[2] + i * c[5] + j * c[8];
    f[0] = (float)(x + 0.5 * z);
    f[1] = (float)(y + 0.5 * z);
    f[2] = (float)z;
    f[3] = (float)(c[9] + 0.5 * c[11]);
    f[4] = (float)(c[10] + 0.5 * c[11]);
    f[5] = (float)c[11];
}

static void project(const float *f, int n, int W, int H, int32_t *idx)
{
    const float wmax = (float)(W - 1), hmax = (float)(H - 1);
    for (int m = 0; m < n; ++m) {
        const float k = (float)m, r = 1.0f / (f[2] + k * f[5]);
        float u = (f[0] + k * f[3]) * r, v = (f[1] + k * f[4]) * r;
        u = u >= 0.0f ? u : 0.0f;  u = u <= wmax ? u : wmax;
        v = v >= 0.0f ? v : 0.0f;  v = v <= hmax ? v : hmax;
        idx[m] = (int32_t)v * W + (int32_t)u;
    }
}

#if defined(__AVX512F__)
static inline __m512i project16(const float *f, __m512 kk, int W, int H)
{
    const __m512 rz = _mm512_div_ps(_mm512_set1_ps(1.0f),
                                    _mm512_add_ps(_mm512_set1_ps(f[2]), _mm512_mul_ps(kk, _mm512_set1_ps(f[5]))));
    __m512 u = _mm512_mul_ps(_mm512_add_ps(_mm512_set1_ps(f[0]), _mm512_mul_ps(kk, _mm512_set1_ps(f[3]))), rz);
    __m512 v = _mm512_mul_ps(_mm512_add_ps(_mm512_set1_ps(f[1]), _mm512_mul_ps(kk, _mm512_set1_ps(f[4]))), rz);
    u = _mm512_min_ps(_mm512_max_ps(u, _mm512_setzero_ps()), _mm512_set1_ps((float)(W - 1)));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps((float)(H - 1)));
    return _mm512_add_epi32(_mm512_mullo_epi32(_mm512_cvttps_epi32(v), _mm512_set1_epi32(W)),
                            _mm512_cvttps_epi32(u));
}
#endif

/* ims: two H x W images, each readable 3 bytes past its end (the gathers read 32-bit words).
 * coef: (2, 12) as fastcore's; out: N^3 floats; N a multiple of 16.  Returns 0, or -1 when
 * the variant cannot run on this CPU. */
int floor_carve(int mode, int nt, const uint8_t *im0, const uint8_t *im1, const double *coef,
                int N, int W, int H, float *out)
{
#if !defined(__AVX512F__)
    if (mode == 1 || mode == 2) return -1;
#endif
    if (mode == 0) {
        const size_t per = (size_t)N * N * N / (size_t)nt;
#pragma omp parallel num_threads(nt)
        memset(out + per * (size_t)omp_get_thread_num(), 0, per * sizeof(float));
        return 0;
    }
#pragma omp parallel num_threads(nt)
    {
        int32_t idx0[1024], idx1[1024];
        float f0[6], f1[6];
#pragma omp for schedule(dynamic, 8)
        for (int r = 0; r < N * N; ++r) {
            float *o = out + (size_t)r * N;
            row_params(coef, r / N, r % N, f0);
            row_params(coef + 12, r / N, r % N, f1);
            if (mode == 3) {
                project(f0, N, W, H, idx0);
                project(f1, N, W, H, idx1);
                for (int k = 0; k < N; ++k) {
                    unsigned p = im0[idx0[k]];
                    if (p) {
                        const unsigned q = im1[idx1[k]];
                        p = q < p ? q : p;
                    }
                    o[k] = (float)p / 255.0f;
                }
                continue;
            }
#if defined(__AVX512F__)
            __m512 kk = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            for (int k = 0; k < N; k += 16) {
                const __m512i a = project16(f0, kk, W, H), b = project16(f1, kk, W, H);
                __m512i p;
                if (mode == 1) {
                    p = _mm512_and_si512(_mm512_xor_si512(a, b), _mm512_set1_epi32(255));
                } else {
                    const __m512i ff = _mm512_set1_epi32(255);
                    p = _mm512_min_epu32(_mm512_and_si512(_mm512_i32gather_epi32(a, (const void *)im0, 1), ff),
                                         _mm512_and_si512(_mm512_i32gather_epi32(b, (const void *)im1, 1), ff));
                }
                _mm512_storeu_ps(o + k, _mm512_div_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(255.0f)));
                kk = _mm512_add_ps(kk, _mm512_set1_ps(16.0f));
            }
#endif
        }
    }
    return 0;
}
