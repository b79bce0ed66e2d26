/*
 * ref_impl.h - bodies of the scalar reference kernels (see kernels.h for what each
 * computes), written once for an element type. Included by kernels/scalar.c once per
 * type with R (float or double) and KSFX(name) (name suffix) defined.
 *
 * These are the definition of correct: plain loops, libm's exp and tanh, no
 * reassociation beyond what the loops show. They also serve odd sizes for the SIMD
 * kernels of later ISAs.
 */
#ifndef R
#error "define R (element type) and KSFX before including ref_impl.h"
#endif

static R KSFX(sigmoid)(R a) { return (R)1 / ((R)1 + EXP(-a)); }

/* C[m, n] += dot(A[m, :], B[n, :]) (!ta, tb): both rows contiguous. */
static void KSFX(gemm_nt)(size_t M, size_t N, size_t K, const R *A, size_t lda, const R *Bm,
                          size_t ldb, R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            const R *a = A + m * lda, *b = Bm + n * ldb;
            R s = 0;
            for (size_t k = 0; k < K; k++) s += a[k] * b[k];
            C[m * ldc + n] += s;
        }
}

/* C[m, :] += A[m, k] * B[k, :] (!ta, !tb). */
static void KSFX(gemm_nn)(size_t M, size_t N, size_t K, const R *A, size_t lda, const R *Bm,
                          size_t ldb, R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        for (size_t k = 0; k < K; k++) {
            const R a = A[m * lda + k];
            const R *b = Bm + k * ldb;
            R *c = C + m * ldc;
            for (size_t n = 0; n < N; n++) c[n] += a * b[n];
        }
}

/* C[m, :] += A[k, m] * B[k, :] (ta, !tb), k outermost: rows of A and B read in order. */
static void KSFX(gemm_tn)(size_t M, size_t N, size_t K, const R *A, size_t lda, const R *Bm,
                          size_t ldb, R *C, size_t ldc)
{
    for (size_t k = 0; k < K; k++)
        for (size_t m = 0; m < M; m++) {
            const R a = A[k * lda + m];
            const R *b = Bm + k * ldb;
            R *c = C + m * ldc;
            for (size_t n = 0; n < N; n++) c[n] += a * b[n];
        }
}

/* C[m, n] += sum_k A[k, m] B[n, k] (ta, tb). */
static void KSFX(gemm_tt)(size_t M, size_t N, size_t K, const R *A, size_t lda, const R *Bm,
                          size_t ldb, R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            R s = 0;
            for (size_t k = 0; k < K; k++) s += A[k * lda + m] * Bm[n * ldb + k];
            C[m * ldc + n] += s;
        }
}

void KSFX(gemm)(int ta, int tb, size_t M, size_t N, size_t K, const R *A,
                       size_t lda, const R *Bm, size_t ldb, int beta, R *C, size_t ldc,
                       R *scratch)
{
    (void)scratch;
    if (!beta)
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) C[m * ldc + n] = 0;
    if (!ta && tb) KSFX(gemm_nt)(M, N, K, A, lda, Bm, ldb, C, ldc);
    else if (!ta && !tb) KSFX(gemm_nn)(M, N, K, A, lda, Bm, ldb, C, ldc);
    else if (ta && !tb) KSFX(gemm_tn)(M, N, K, A, lda, Bm, ldb, C, ldc);
    else KSFX(gemm_tt)(M, N, K, A, lda, Bm, ldb, C, ldc);
}

/* The reference packed form: panels of one column, i.e. op(B)^T row-major (N, K). */
size_t KSFX(packed_size)(size_t K, size_t N) { return K * N; }

void KSFX(pack_b)(int tb, size_t K, size_t N, const R *Bm, size_t ldb, R *P)
{
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++) P[n * K + k] = tb ? Bm[n * ldb + k] : Bm[k * ldb + n];
}

void KSFX(gemm_pb)(size_t M, size_t N, size_t k0, size_t k1, const R *A, size_t lda,
                   const R *P, size_t K, int beta, const R *bias, R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            R s = beta ? C[m * ldc + n] : bias ? bias[n] : (R)0;
            for (size_t k = k0; k < k1; k++) s += A[m * lda + (k - k0)] * P[n * K + k];
            C[m * ldc + n] = s;
        }
}

void KSFX(colsum_add)(size_t M, size_t N, const R *A, size_t lda, R *out)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) out[n] += A[m * lda + n];
}

void KSFX(cell_fwd_after)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi,
                                 const R *gh, const R *h, R *h_new, R *gates, size_t ldg)
{
    for (size_t b = 0; b < B; b++) {
        const R *xi = gi + b * ldgi, *hh = gh + b * 3 * H, *hp = h + b * H;
        R *g = gates ? gates + b * ldg : NULL, *hn = h_new + b * H;
        for (size_t j = 0; j < J; j++) {
            const R xr = xi[j], xz = xi[H + j], xn = xi[2 * H + j];
            /* r = s(W_ir x + b_ir + W_hr h + b_hr), z likewise */
            const R r = KSFX(sigmoid)(xr + hh[j]);
            const R z = KSFX(sigmoid)(xz + hh[H + j]);
            /* n = tanh(W_in x + b_in + r (W_hn h + b_hn)) */
            const R n = TANH(xn + r * hh[2 * H + j]);
            /* h' = (1 - z) n + z h */
            hn[j] = ((R)1 - z) * n + z * hp[j];
            if (g) { g[j] = r; g[H + j] = z; g[2 * H + j] = n; }
        }
    }
}

void KSFX(cell_fwd_before_rz)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi,
                                     const R *gh, const R *h, R *rz, size_t ldg, R *rh)
{
    for (size_t b = 0; b < B; b++) {
        const R *xi = gi + b * ldgi, *hh = gh + b * 3 * H, *hp = h + b * H;
        R *g = rz + b * ldg, *o = rh + b * H;
        for (size_t j = 0; j < J; j++) {
            const R xr = xi[j], xz = xi[H + j];
            /* r = s(W_ir x + b_ir + W_hr h + b_hr), z likewise; rh = r h */
            const R r = KSFX(sigmoid)(xr + hh[j]);
            const R z = KSFX(sigmoid)(xz + hh[H + j]);
            g[j] = r;
            g[H + j] = z;
            o[j] = r * hp[j];
        }
    }
}

void KSFX(cell_fwd_before_n)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi,
                                    const R *gh, const R *h, R *rz, size_t ldg, int save,
                                    R *h_new)
{
    for (size_t b = 0; b < B; b++) {
        const R *xi = gi + b * ldgi, *hh = gh + b * 3 * H, *hp = h + b * H;
        R *g = rz + b * ldg, *hn = h_new + b * H;
        for (size_t j = 0; j < J; j++) {
            /* n = tanh(W_in x + b_in + W_hn (r h) + b_hn); h' = (1 - z) n + z h */
            const R n = TANH(xi[2 * H + j] + hh[2 * H + j]);
            const R z = g[H + j];
            hn[j] = ((R)1 - z) * n + z * hp[j];
            if (save) g[2 * H + j] = n;
        }
    }
}

void KSFX(cell_bwd_after)(size_t B, size_t H, size_t J, const R *dh, const R *gates,
                                 size_t ldg, const R *ghn, size_t ldn, const R *h,
                                 size_t ldh, R *dgi, R *dgh, size_t lddg, R *dh_prev)
{
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *gn = ghn + b * ldn, *hp = h + b * ldh;
        const R *d = dh + b * H;
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        for (size_t j = 0; j < J; j++) {
            const R r = g[j], z = g[H + j], n = g[2 * H + j];
            /* h' = (1 - z) n + z h */
            const R dn = d[j] * ((R)1 - z);
            const R dz = d[j] * (hp[j] - n);
            /* n = tanh(a_n), a_n = gi_n + r gh_n */
            const R dan = dn * ((R)1 - n * n);
            const R dr = dan * gn[j];
            /* r = s(a_r), z = s(a_z) */
            const R dar = dr * r * ((R)1 - r);
            const R daz = dz * z * ((R)1 - z);
            di[j] = dar; di[H + j] = daz; di[2 * H + j] = dan;
            dg[j] = dar; dg[H + j] = daz; dg[2 * H + j] = dan * r;
            dp[j] = d[j] * z;
        }
    }
}

void KSFX(cell_bwd_before_zn)(size_t B, size_t H, size_t J, const R *dh, const R *gates,
                                     size_t ldg, const R *h, size_t ldh, R *dgi, R *dgh,
                                     size_t lddg, R *dh_prev)
{
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * ldh, *d = dh + b * H;
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        for (size_t j = 0; j < J; j++) {
            const R z = g[H + j], n = g[2 * H + j];
            /* h' = (1 - z) n + z h; n = tanh(a_n); z = s(a_z) */
            const R dan = d[j] * ((R)1 - z) * ((R)1 - n * n);
            const R daz = d[j] * (hp[j] - n) * z * ((R)1 - z);
            di[H + j] = daz; di[2 * H + j] = dan;
            dg[H + j] = daz; dg[2 * H + j] = dan;
            dp[j] = d[j] * z;
        }
    }
}

void KSFX(cell_bwd_before_r)(size_t B, size_t H, size_t J, const R *drh, const R *gates,
                                    size_t ldg, const R *h, size_t ldh, R *dgi, R *dgh,
                                    size_t lddg, R *dh_prev)
{
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * ldh, *d = drh + b * H;
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        for (size_t j = 0; j < J; j++) {
            const R r = g[j];
            /* rh = r h: dr = d(rh) h, dh += d(rh) r; r = s(a_r) */
            const R dar = d[j] * hp[j] * r * ((R)1 - r);
            di[j] = dar;
            dg[j] = dar;
            dp[j] += d[j] * r;
        }
    }
}

/* ---- AUGRU: the attentional update gate (kernels.h) ---------------------------------
 * Every product and sum its own statement, so no compiler fuses them (and -std=c11
 * turns contraction off): the documented roundings on every ISA. */

void KSFX(cell_att_fwd)(size_t B, size_t H, size_t J, const R *gates, size_t ldg,
                        const R *a, size_t lda, const R *h, R *h_new)
{
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * H;
        const R ab = a[b * lda];
        R *hn = h_new + b * H;
        for (size_t j = 0; j < J; j++) {
            /* z' = 1 - a (1 - z); h' = (1 - z') n + z' h */
            const R u = ab * ((R)1 - g[H + j]);
            const R zp = (R)1 - u;
            const R p = ((R)1 - zp) * g[2 * H + j];
            const R q = zp * hp[j];
            hn[j] = p + q;
        }
    }
}

void KSFX(cell_bwd_after_att)(size_t B, size_t H, size_t J, const R *dh, const R *gates,
                              size_t ldg, const R *ghn, size_t ldn, const R *h, size_t ldh,
                              const R *a, size_t lda, R *dgi, R *dgh, size_t lddg,
                              R *dh_prev, R *da, size_t ldda)
{
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *gn = ghn + b * ldn, *hp = h + b * ldh;
        const R *d = dh + b * H;
        const R ab = a[b * lda];
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        R *dA = da + b * ldda;
        for (size_t j = 0; j < J; j++) {
            const R r = g[j], z = g[H + j], n = g[2 * H + j];
            /* z' = 1 - a (1 - z); h' = (1 - z') n + z' h */
            const R u = ab * ((R)1 - z);
            const R zp = (R)1 - u;
            const R dn = d[j] * ((R)1 - zp);
            const R dzp = d[j] * (hp[j] - n);
            /* dz'/dz = a, dz'/da = z - 1 */
            const R dz = dzp * ab;
            dA[j] = dzp * (z - (R)1);
            /* n = tanh(a_n), a_n = gi_n + r gh_n */
            const R dan = dn * ((R)1 - n * n);
            const R dr = dan * gn[j];
            /* r = s(a_r), z = s(a_z) */
            const R dar = dr * r * ((R)1 - r);
            const R daz = dz * z * ((R)1 - z);
            di[j] = dar; di[H + j] = daz; di[2 * H + j] = dan;
            dg[j] = dar; dg[H + j] = daz; dg[2 * H + j] = dan * r;
            dp[j] = d[j] * zp;
        }
    }
}

void KSFX(cell_bwd_before_zn_att)(size_t B, size_t H, size_t J, const R *dh,
                                  const R *gates, size_t ldg, const R *h, size_t ldh,
                                  const R *a, size_t lda, R *dgi, R *dgh, size_t lddg,
                                  R *dh_prev, R *da, size_t ldda)
{
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * ldh, *d = dh + b * H;
        const R ab = a[b * lda];
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        R *dA = da + b * ldda;
        for (size_t j = 0; j < J; j++) {
            const R z = g[H + j], n = g[2 * H + j];
            /* z' = 1 - a (1 - z); h' = (1 - z') n + z' h; n = tanh(a_n); z = s(a_z) */
            const R u = ab * ((R)1 - z);
            const R zp = (R)1 - u;
            const R dzp = d[j] * (hp[j] - n);
            const R dz = dzp * ab;
            dA[j] = dzp * (z - (R)1);
            const R dan = d[j] * ((R)1 - zp) * ((R)1 - n * n);
            const R daz = dz * z * ((R)1 - z);
            di[H + j] = daz; di[2 * H + j] = dan;
            dg[H + j] = daz; dg[2 * H + j] = dan;
            dp[j] = d[j] * zp;
        }
    }
}

void KSFX(rowsum)(size_t M, size_t N, const R *A, size_t lda, int beta, R *out)
{
    for (size_t m = 0; m < M; m++) {
        const R *row = A + m * lda;
        R s = 0;
        for (size_t n = 0; n < N; n++) s += row[n];
        out[m] = beta ? out[m] + s : s;
    }
}

/* ---- elementwise kernels of the drivers ------------------------------------------- */

void KSFX(mul)(size_t M, size_t N, const R *A, size_t lda, const R *Bm, size_t ldb, R *C,
               size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) C[m * ldc + n] = A[m * lda + n] * Bm[m * ldb + n];
}

void KSFX(mul_add)(size_t M, size_t N, const R *A, size_t lda, const R *Bm, size_t ldb,
                   R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            const R p = A[m * lda + n] * Bm[m * ldb + n];   /* never fused with the add */
            C[m * ldc + n] += p;
        }
}

void KSFX(add)(size_t M, size_t N, const R *A, size_t lda, R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) C[m * ldc + n] += A[m * lda + n];
}

void KSFX(mask_rows)(size_t q0, size_t q1, size_t N, size_t T, size_t B, int batch_first,
                     const R *A, const R *mask, int beta, R *C)
{
    for (size_t i = q0; i < q1; i++) {
        const R *mb = mask + (batch_first ? i / T : i % B) * N;
        if (beta) KSFX(mul_add)(1, N, A + i * N, N, mb, N, C + i * N, N);
        else KSFX(mul)(1, N, A + i * N, N, mb, N, C + i * N, N);
    }
}

void KSFX(dropout)(size_t n, R *v, size_t first, double p, uint64_t seed, uint64_t draw,
                   size_t stream)
{
    const R scale = (R)(1.0 / (1.0 - p));
    for (size_t i = 0; i < n; i++)
        v[i] = gru_uniform(seed, draw, stream, first + i) < p ? (R)0 : v[i] * scale;
}

void KSFX(dropout_mask)(size_t n, R *v, double p, uint64_t seed, uint64_t draw,
                        size_t stream)
{
    const R scale = (R)(1.0 / (1.0 - p));
    for (size_t i = 0; i < n; i++) v[i] = gru_uniform(seed, draw, stream, i) < p ? (R)0 : scale;
}

/* ---- zoneout and DropConnect ------------------------------------------------------- */

void KSFX(zoneout_mask)(size_t q0, size_t q1, size_t N, size_t T, size_t B, int batch_first,
                        double p, uint64_t seed, uint64_t draw, size_t stream, R *mask)
{
    const uint64_t key = gru_stream_key(seed, draw, stream);
    for (size_t i = q0; i < q1; i++) {
        const size_t t = batch_first ? i % T : i / B, b = batch_first ? i / T : i % B;
        const size_t first = (t * B + b) * N;   /* time-major index of (t, b, 0) */
        for (size_t j = 0; j < N; j++)
            mask[i * N + j] = gru_uniform_at(key, first + j) < p ? (R)1 : (R)0;
    }
}

void KSFX(zoneout_select)(size_t M, size_t N, const R *mask, size_t ldm, const R *h,
                          size_t ldh, R *hn, size_t ldn)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++)
            if (mask[m * ldm + n] != (R)0) hn[m * ldn + n] = h[m * ldh + n];
}

void KSFX(zoneout_blend)(size_t M, size_t N, R p, R q, const R *h, size_t ldh, R *hn,
                         size_t ldn)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            const R a = p * h[m * ldh + n];    /* rounded to R */
            const R b = q * hn[m * ldn + n];   /* rounded to R */
            hn[m * ldn + n] = a + b;
        }
}

void KSFX(zoneout_split)(size_t M, size_t N, const R *mask, size_t ldm, const R *dh,
                         size_t ldd, R *dnew, size_t ldn, R *keep, size_t ldk)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            const int kept = mask[m * ldm + n] != (R)0;
            const R d = dh[m * ldd + n];
            dnew[m * ldn + n] = kept ? (R)0 : d;
            keep[m * ldk + n] = kept ? d : (R)0;
        }
}

void KSFX(weight_drop)(size_t r0, size_t r1, size_t N, const R *w, double p, uint64_t seed,
                       uint64_t draw, size_t stream, R *mask, R *wt)
{
    const R scale = (R)(1.0 / (1.0 - p));
    const uint64_t key = gru_stream_key(seed, draw, stream);
    for (size_t i = r0 * N; i < r1 * N; i++) {
        mask[i] = gru_uniform_at(key, i) < p ? (R)0 : scale;
        wt[i] = w[i] * mask[i];
    }
}

/* ---- layer normalisation (gru_config.layer_norm) ---------------------------------- */

/* One row of ln_fwd: mu and rs over its N entries, in increasing i. */
static void KSFX(ln_stats)(size_t N, const R *a, R *mu, R *rs)
{
    /* mu = sum a / N; var = sum (a - mu)^2 / N; rs = 1 / sqrt(var + eps) */
    R s = 0, q = 0;
    for (size_t i = 0; i < N; i++) s += a[i];
    *mu = s / (R)N;
    for (size_t i = 0; i < N; i++) {
        const R dv = a[i] - *mu;
        q += dv * dv;
    }
    *rs = (R)1 / SQRT(q / (R)N + (R)GRU_LN_EPS);
}

/* One row of ln_fwd at its columns: y = gamma ah + beta [+ bias], ah = (a - mu) rs. */
static void KSFX(ln_apply)(size_t N, size_t H, size_t j0, size_t J, const R *a, R mu, R rs,
                           const R *gamma, const R *beta, const R *bias, R *y, R *xhat)
{
    for (size_t g = 0; g < N / H; g++)
        for (size_t c = g * H + j0; c < g * H + j0 + J; c++) {
            const R ah = (a[c] - mu) * rs;
            const R v = gamma[c] * ah + beta[c];
            y[c] = bias ? v + bias[c] : v;
            if (xhat) xhat[c] = ah;
        }
}

void KSFX(ln_fwd)(size_t M, size_t N, size_t H, size_t j0, size_t J, const R *a, size_t lda,
                  const R *gamma, const R *beta, const R *bias, R *y, size_t ldy, R *xhat,
                  size_t ldx, R *rstd, size_t ldr)
{
    for (size_t m = 0; m < M; m++) {
        R mu, rs;
        KSFX(ln_stats)(N, a + m * lda, &mu, &rs);
        if (rstd) rstd[m * ldr] = rs;
        KSFX(ln_apply)(N, H, j0, J, a + m * lda, mu, rs, gamma, beta, bias, y + m * ldy,
                       xhat ? xhat + m * ldx : NULL);
    }
}

void KSFX(ln_bwd)(size_t M, size_t N, size_t H, size_t j0, size_t J, const R *dy, size_t ldy,
                  const R *xhat, size_t ldx, const R *rstd, size_t ldr, const R *gamma, R *da,
                  size_t ldd)
{
    const size_t nb = N / H;
    for (size_t m = 0; m < M; m++) {
        const R *d = dy + m * ldy, *xm = xhat + m * ldx;
        R *o = da + m * ldd;
        /* dah = dy gamma; s1 = sum dah, s2 = sum dah ah */
        R s1 = 0, s2 = 0;
        for (size_t i = 0; i < N; i++) {
            const R dh = d[i] * gamma[i];
            s1 += dh;
            s2 += dh * xm[i];
        }
        const R m1 = s1 / (R)N, m2 = s2 / (R)N, rs = rstd[m * ldr];
        /* da = rs (dah - mean(dah) - ah mean(dah ah)) */
        for (size_t g = 0; g < nb; g++)
            for (size_t j = j0; j < j0 + J; j++) {
                const size_t c = g * H + j;
                o[c] = rs * ((d[c] * gamma[c] - m1) - xm[c] * m2);
            }
    }
}

void KSFX(colsum_mul_add)(size_t M, size_t N, const R *A, size_t lda, const R *Bm, size_t ldb,
                          R *out)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            const R p = A[m * lda + n] * Bm[m * ldb + n];   /* never fused with the add */
            out[n] += p;
        }
}
