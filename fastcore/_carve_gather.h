/* Pixel reads by AVX-512 gathers in the uint8 carve: the policy, and row segments.
 *
 * Included by _carve_simd.h after _carve_vbmi.h (which defines CD_VBMI, CD_VBMI_TARGET,
 * cd_vbmi_usable and cd_gather_px, the gather itself).
 *
 * Where cd_gather_usable (an Intel CPU with the windowed path's AVX-512 whose kernel reports
 * no mitigation for Gather Data Sampling, which makes a gather cost several times its scalar
 * loads), the kernel reads pixels by gathers:
 *   - bricks every view sees well inside its image go through cd_vbmi_tiles as tiles of 16
 *     vectors of 16 voxels along i, each read by one gather per view, whatever the grid size
 *     (along i the 16 pixels share two or three cache lines, so a tile's loads mostly hit L1);
 *   - the other rows (bricks near an image's border, the ends of runs) go through
 *     cd_row_u8_gather below: 16 voxels along k at a time, in place of cd_row_u8's scalar load,
 *     branch and lut load per voxel and view.
 * Why Intel only: on the Intel Xeon this was measured on (one thread, dense bench scene, each
 * build in its own process), gathering every vector took 0.83-0.89x the windowed path's time
 * at 64^3-256^3 (docs/design.md, "Pixel reads by gathers").  On AMD Zen 4 AVX-512 gathers
 * along k measured 1.43-1.56x the scalar loads' time (_carve_simd.h), gathers along i have not
 * been timed, and the windowed path was measured; there the kernel does what it did before.
 *
 * Arithmetic as the windowed path's: 1/z is vrcp14ps with one Newton step and the projections
 * are fmas, so a voxel may pick another pixel than cd_row_u8 within a few 1e-4 px of a pixel
 * boundary.  Later views are gathered only in lanes whose minimum is still non-zero.
 */
#ifndef CAMDECK_CARVE_GATHER_H
#define CAMDECK_CARVE_GATHER_H

#include <stdio.h>

/* For the tests: row segments cd_row_u8_gather has carved in this process. */
static long cd_gather_rows = 0;

#ifdef CD_VBMI
/* 1 when the kernel reads pixels by gathers by default (see above): the kernel's own report
 * (Linux 6.5+) says "Not affected" or "Vulnerable" (no mitigation); a mitigation, a state
 * this code does not know, or no report (older kernels, where microcode may mitigate
 * unannounced; other systems) keeps the windows.  Asked once per process. */
static int cd_gather_usable(void)
{
    static int known = -1;
    if (known < 0) {
        int ok = 0;
#ifdef __linux__
        if (cd_vbmi_usable() && __builtin_cpu_is("intel")) {
            FILE *fh = fopen("/sys/devices/system/cpu/vulnerabilities/gather_data_sampling", "r");
            if (fh) {
                char line[96] = {0};
                ok = fgets(line, sizeof line, fh) != NULL && (strncmp(line, "Not affected", 12) == 0
                                                           || strncmp(line, "Vulnerable", 10) == 0);
                fclose(fh);
            }
        }
#endif
        known = ok;
    }
    return known;
}

/* out[m] = lut[min over views of the pixel of voxel m] for the n voxels of a segment; qf: each
 * view's cd_segment_params; clamp as in cd_project_body. */
static CD_VBMI_TARGET void cd_row_u8_gather(const float *qf, int nviews, int n,
                                            const uint8_t *const *ims, int W, int H,
                                            const float *lut, int lut255, float *out, int clamp)
{
    const __m512 zero = _mm512_setzero_ps();
    const __m512 wmax = _mm512_set1_ps((float)(W - 1)), hmax = _mm512_set1_ps((float)(H - 1));
    const __m512 ramp = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i width = _mm512_set1_epi32(W);
    for (int m = 0; m < n; m += 16) {
        const __mmask16 lanes = n - m >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - m)) - 1);
        const __m512 k = _mm512_add_ps(_mm512_set1_ps((float)m), ramp);
        __m512i p = _mm512_setzero_si512();
        __mmask16 need = lanes;             /* lanes whose minimum may still fall */
        for (int v = 0; v < nviews && need; ++v) {
            const float *f = qf + 6 * v;
            const __m512 z = _mm512_fmadd_ps(k, _mm512_set1_ps(f[5]), _mm512_set1_ps(f[2]));
            const __m512 r = cd_recip(z);
            __m512 u = _mm512_mul_ps(_mm512_fmadd_ps(k, _mm512_set1_ps(f[3]), _mm512_set1_ps(f[0])), r);
            __m512 w = _mm512_mul_ps(_mm512_fmadd_ps(k, _mm512_set1_ps(f[4]), _mm512_set1_ps(f[1])), r);
            if (clamp) {    /* as cd_project_body: NaN and below 0 to 0, then the image's last */
                u = _mm512_min_ps(_mm512_max_ps(u, zero), wmax);
                w = _mm512_min_ps(_mm512_max_ps(w, zero), hmax);
            }
            const __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_cvttps_epi32(w), width),
                                                 _mm512_cvttps_epi32(u));
            const __m512i q = cd_gather_px(ims[v], W, H, idx, need, 1);
            p = v ? _mm512_mask_min_epu32(p, need, p, q) : q;
            need = _mm512_mask_test_epi32_mask(need, p, p);
        }
        if (lut255) {
            _mm512_mask_storeu_ps(out + m, lanes, cd_over_255(p));
        } else {
            _mm512_mask_storeu_ps(out + m, lanes, _mm512_mask_i32gather_ps(zero, lanes, p, lut, 4));
        }
    }
}
#else
static int cd_gather_usable(void) { return 0; }
#endif

#endif /* CAMDECK_CARVE_GATHER_H */
