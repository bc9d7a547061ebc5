/*
 * A JPEG's crop decoded with libjpeg-turbo, resampled and written into a batch slot in one call: the
 * common image pipeline (randomResizedCrop or a crop, a resize, a mirror, normalize, channelsFirst) for
 * a JPEG, built only where binding.gyp finds jpeglib.h (it defines LANCE_LOADER_JPEG).
 *
 * decodeJpeg(jpeg: Uint8Array, params: Float64Array, scratch: Uint8Array, out: Uint8Array | Float32Array)
 *   -> 0 done, -1 not for this path (CMYK/YCCK, not 8-bit: the caller decodes another way),
 *      or the scratch bytes it needs (> scratch.byteLength: nothing was decoded)
 *   params (JPEG_PARAM_* below): the size the header declared, the crop box in its pixels, the resize,
 *   the box of the resized image to keep, the filter, the mirror, the channels (1 grey, 3 RGB, 4 RGBA
 *   with alpha 255), channelsFirst, the largest DCT scaling denominator (1 none, 2, 4, 8), and per
 *   channel scale and offset applied to the 8-bit values when `out` is a Float32Array.
 *   A corrupt or cut-short JPEG throws an Error with code ERR_JPEG and libjpeg's message.
 *
 *   jpeg ─libjpeg: scale 1/d, crop columns, skip rows above, stop after the last row─► one row of
 *        the crop ─horizontal pass─► rows [crop height, kept width] uint8 (scratch)
 *        ─vertical pass─► mirrored, [h, w, c] or [c, h, w] ─► out (a float out: value × scale + offset,
 *        streamed past the caches)
 *
 * Only the crop's pixels are colour-converted and (for the rows) inverse-DCT'd, and a crop at least
 * twice the output in both directions is decoded at 1/2, 1/4 or 1/8 scale by the IDCT itself. The
 * resample is Pillow's (Resample.c): a separable convolution whose support grows with the downscale
 * (antialiasing), horizontal pass then vertical, 22-bit fixed-point coefficients, rounded to 8 bits
 * after each pass. Pixels outside the crop never contribute (the crop is cut out before the resize, as
 * torchvision's resized_crop does), so without DCT scaling the pixels are those of Pillow's
 * `crop(box).resize(size, filter)` of the same decode.
 *
 * libjpeg reports errors through error_exit, which must not return: it longjmps back here, and the
 * decompressor is destroyed before anything else runs. Nothing allocated outside libjpeg lives between
 * the setjmp and the longjmp (the scratch is the caller's), so nothing leaks.
 */
#include <math.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "addon.h"

enum {
  JPEG_PARAM_WIDTH,
  JPEG_PARAM_HEIGHT,
  JPEG_PARAM_CROP_LEFT,
  JPEG_PARAM_CROP_TOP,
  JPEG_PARAM_CROP_WIDTH,
  JPEG_PARAM_CROP_HEIGHT,
  JPEG_PARAM_RESIZE_WIDTH,
  JPEG_PARAM_RESIZE_HEIGHT,
  JPEG_PARAM_KEEP_LEFT,
  JPEG_PARAM_KEEP_TOP,
  JPEG_PARAM_KEEP_WIDTH,
  JPEG_PARAM_KEEP_HEIGHT,
  JPEG_PARAM_FILTER, /* 0 bilinear, 1 bicubic, 2 lanczos3 */
  JPEG_PARAM_FLIP,
  JPEG_PARAM_CHANNELS,
  JPEG_PARAM_CHANNELS_FIRST,
  JPEG_PARAM_MAX_DCT_SCALE,
  JPEG_PARAM_SCALE,        /* 4 values */
  JPEG_PARAM_OFFSET = JPEG_PARAM_SCALE + 4, /* 4 values */
  JPEG_PARAM_COUNT = JPEG_PARAM_OFFSET + 4,
};

/* Pillow's fixed point for 8-bit images: 32 bits less 8 of value less 2 of headroom. */
#define PRECISION_BITS 22
#define MAX_SIDE 65536

typedef struct {
  double support;
  double (*filter)(double x);
} Filter;

static double bilinear(double x) {
  x = fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

static double bicubic(double x) {
  const double a = -0.5; /* Pillow's and Catmull-Rom's */
  x = fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return sin(x) / x;
}

static double lanczos3(double x) {
  return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

static const Filter FILTERS[] = {{1.0, bilinear}, {2.0, bicubic}, {3.0, lanczos3}};

/* Taps per output value of a resample from `in_span` input pixels to `out_size`. */
static int taps_of(const Filter *f, double in_span, int out_size) {
  double scale = in_span / out_size;
  return (int)ceil(f->support * (scale < 1.0 ? 1.0 : scale)) * 2 + 1;
}

/*
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for the outputs [first, first + count) of a
 * resample of the box [in0, in1) of `in_size` pixels to `out_size`: output i reads inputs
 * [bounds[2i], bounds[2i] + bounds[2i + 1]) with weights kk[i * taps ...].
 */
static void coefficients(const Filter *f, int in_size, double in0, double in1, int out_size, int first, int count, int taps,
                         int32_t *bounds, int32_t *kk) {
  double scale = (in1 - in0) / out_size;
  double filter_scale = scale < 1.0 ? 1.0 : scale;
  double support = f->support * filter_scale;
  double ss = 1.0 / filter_scale;
  for (int i = 0; i < count; i++) {
    double center = in0 + (first + i + 0.5) * scale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; x++) total += f->filter((x + xmin - center + 0.5) * ss);
    int32_t *k = kk + (size_t)i * taps;
    for (int x = 0; x < taps; x++) {
      double w = x < xmax && total != 0.0 ? f->filter((x + xmin - center + 0.5) * ss) / total : 0.0;
      k[x] = (int32_t)(w * (1 << PRECISION_BITS) + (w < 0 ? -0.5 : 0.5));
    }
    /* Taps of weight 0 at either end add nothing: dropped (an upscale's support often ends on one). */
    int skip = 0;
    while (xmax > 1 && k[xmax - 1] == 0) xmax--;
    while (skip < xmax - 1 && k[skip] == 0) skip++;
    if (skip > 0) {
      memmove(k, k + skip, (size_t)(xmax - skip) * sizeof *k);
      memset(k + xmax - skip, 0, (size_t)skip * sizeof *k);
    }
    bounds[2 * i] = xmin + skip;
    bounds[2 * i + 1] = xmax - skip;
  }
}

static inline uint8_t clip8(int32_t v) {
  if (v >= (1 << PRECISION_BITS << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PRECISION_BITS);
}

typedef struct {
  struct jpeg_error_mgr manager;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int not_handled; /* the error means another decoder may do better (precision), not bad bytes */
} ErrorState;

static void on_error(j_common_ptr cinfo) {
  ErrorState *state = (ErrorState *)cinfo->err;
  cinfo->err->format_message(cinfo, state->message);
  state->not_handled = cinfo->err->msg_code == JERR_BAD_PRECISION;
  longjmp(state->jump, 1);
}

/* Warnings are ignored (Pillow's behaviour) but for data that ends early: libjpeg would fill the rest
   with grey, and the loader refuses a cut-short JPEG. */
static void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

/* Where everything of one call lives in the scratch; sizes first, pointers once it is big enough. */
typedef struct {
  size_t row_bytes, between_bytes, sums_bytes, line_bytes, arranged_bytes, affine_bytes, bounds_bytes, kk_bytes;
  int taps_x, taps_y;
} Layout;

static size_t layout_total(const Layout *l) {
  return l->row_bytes + l->between_bytes + l->sums_bytes + l->line_bytes + l->arranged_bytes + 2 * l->affine_bytes + 2 * l->bounds_bytes +
         l->kk_bytes;
}

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

typedef struct {
  int width, height, crop_left, crop_top, crop_width, crop_height, resize_width, resize_height;
  int keep_left, keep_top, keep_width, keep_height, filter, flip, channels, channels_first, max_dct;
  float scale[4], offset[4];
} Params;

/* The params as integers in range, or 0. */
static int read_params(const double *p, Params *out) {
  int ints[JPEG_PARAM_SCALE];
  for (int i = 0; i < JPEG_PARAM_SCALE; i++) {
    if (!(p[i] >= 0 && p[i] <= MAX_SIDE) || p[i] != (double)(int)p[i]) return 0;
    ints[i] = (int)p[i];
  }
  *out = (Params){ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6], ints[7], ints[8], ints[9], ints[10], ints[11], ints[12],
                  ints[13], ints[14], ints[15], ints[16], {0}, {0}};
  for (int c = 0; c < 4; c++) {
    out->scale[c] = (float)p[JPEG_PARAM_SCALE + c];
    out->offset[c] = (float)p[JPEG_PARAM_OFFSET + c];
  }
  const Params *q = out;
  return q->width > 0 && q->height > 0 && q->crop_width > 0 && q->crop_height > 0 && q->crop_left + q->crop_width <= q->width &&
         q->crop_top + q->crop_height <= q->height && q->resize_width > 0 && q->resize_height > 0 && q->keep_width > 0 &&
         q->keep_height > 0 && q->keep_left + q->keep_width <= q->resize_width && q->keep_top + q->keep_height <= q->resize_height &&
         q->filter <= 2 && q->flip <= 1 && (q->channels == 1 || q->channels == 3 || q->channels == 4) && q->channels_first <= 1 &&
         (q->max_dct == 1 || q->max_dct == 2 || q->max_dct == 4 || q->max_dct == 8);
}

/* The resample loops vectorized (-O3's loop vectorizer; node-gyp builds with -O2), with an AVX2 build
   chosen at load time where the CPU has it: 32-bit multiplies of 8 lanes at once. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HOT __attribute__((optimize("O3"), target_clones("avx2", "default")))
#else
#define HOT
#endif

/* One row of the crop resampled across into `width` pixels: `in` starts at the crop's first column. */
HOT static void resample_across(const uint8_t *in, uint8_t *to, int width, int components, const int32_t *bounds, const int32_t *kk, int taps) {
  const int32_t half = 1 << (PRECISION_BITS - 1);
  if (components == 3) {
    for (int x = 0; x < width; x++) {
      const int32_t *k = kk + (size_t)x * taps;
      const uint8_t *s = in + (size_t)bounds[2 * x] * 3;
      int32_t r = half, g = half, b = half;
      for (int t = 0, n = bounds[2 * x + 1]; t < n; t++, s += 3) {
        r += s[0] * k[t];
        g += s[1] * k[t];
        b += s[2] * k[t];
      }
      to[3 * x] = clip8(r);
      to[3 * x + 1] = clip8(g);
      to[3 * x + 2] = clip8(b);
    }
  } else {
    for (int x = 0; x < width; x++) {
      const int32_t *k = kk + (size_t)x * taps;
      const uint8_t *s = in + bounds[2 * x];
      int32_t v = half;
      for (int t = 0, n = bounds[2 * x + 1]; t < n; t++) v += s[t] * k[t];
      to[x] = clip8(v);
    }
  }
}

/*
 * Float values go to the output with non-temporal (streaming) stores where the CPU has them (SSE2, every
 * x86-64): a batch slot of 224 × 224 × 3 float32 images is tens of megabytes, far beyond the caches, and
 * its reader is another thread later on, so plain stores would first read every destination line in
 * (read-for-ownership) only to overwrite it, and two workers would share that memory traffic. `n`
 * values `from[i] × scale[i] + offset[i]`; the caller fences once after its last row (store_fence).
 */
#if defined(__SSE2__)
#include <immintrin.h>
static inline void store_affine(float *to, const uint8_t *from, const float *scale, const float *offset, size_t n) {
  size_t i = 0;
  for (; i < n && ((uintptr_t)(to + i) & 15) != 0; i++) to[i] = from[i] * scale[i] + offset[i];
  const __m128i zero = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)(from + i));
    __m128i low = _mm_unpacklo_epi8(bytes, zero), high = _mm_unpackhi_epi8(bytes, zero);
    __m128i words[4] = {_mm_unpacklo_epi16(low, zero), _mm_unpackhi_epi16(low, zero), _mm_unpacklo_epi16(high, zero),
                        _mm_unpackhi_epi16(high, zero)};
    for (size_t j = 0; j < 4; j++) {
      __m128 v = _mm_mul_ps(_mm_cvtepi32_ps(words[j]), _mm_loadu_ps(scale + i + 4 * j));
      _mm_stream_ps(to + i + 4 * j, _mm_add_ps(v, _mm_loadu_ps(offset + i + 4 * j)));
    }
  }
  for (; i < n; i++) to[i] = from[i] * scale[i] + offset[i];
}
static inline void store_fence(void) { _mm_sfence(); }
#else
static inline void store_affine(float *to, const uint8_t *from, const float *scale, const float *offset, size_t n) {
  for (size_t i = 0; i < n; i++) to[i] = from[i] * scale[i] + offset[i];
}
static inline void store_fence(void) {}
#endif

/*
 * Output row `y` of the kept box: the rows across (`between`, `values` a row) resampled down into
 * `line`, then mirrored and put in the asked channel order: straight into a uint8 `out`; for a float
 * `out` into `arranged` (one row in the output's order, the planes' rows one after another when
 * channels come first), from where store_affine scales it by `scale`/`offset` (the same order) into `out`.
 */
HOT static void resample_down(const uint8_t *between, size_t values, int32_t *sums, uint8_t *line, uint8_t *arranged, const float *scale,
                              const float *offset, const int32_t *bounds, const int32_t *k, int y, const Params *p, int components, void *out,
                              int float_out) {
  for (size_t i = 0; i < values; i++) sums[i] = 1 << (PRECISION_BITS - 1);
  for (int t = 0, n = bounds[1]; t < n; t++) {
    const uint8_t *s = between + (size_t)(bounds[0] + t) * values;
    int32_t w = k[t];
    for (size_t i = 0; i < values; i++) sums[i] += s[i] * w;
  }
  for (size_t i = 0; i < values; i++) line[i] = clip8(sums[i]);
  /* Between neighbouring pixels and between channels of one pixel, in `out` or `arranged`. */
  size_t width = (size_t)p->keep_width, plane = width * p->keep_height;
  ptrdiff_t pixel_step = p->channels_first ? 1 : p->channels;
  size_t channel_step = !p->channels_first ? 1 : float_out ? width : plane;
  uint8_t *to = float_out ? arranged : (uint8_t *)out + (p->channels_first ? y * width : y * width * p->channels);
  /* Signed indexes: a flip steps backwards, and an unsigned x * pixel_step would wrap. */
  ptrdiff_t across = (ptrdiff_t)width;
  if (p->flip) {
    to += (across - 1) * pixel_step;
    pixel_step = -pixel_step;
  }
  for (int c = 0; c < p->channels; c++) {
    uint8_t *o = to + c * channel_step;
    const uint8_t *s = line + c;
    if (c >= components) /* alpha */
      for (ptrdiff_t x = 0; x < across; x++) o[x * pixel_step] = 255;
    else
      for (ptrdiff_t x = 0; x < across; x++) o[x * pixel_step] = s[x * components];
  }
  if (!float_out) return;
  if (p->channels_first)
    for (int c = 0; c < p->channels; c++)
      store_affine((float *)out + c * plane + y * width, arranged + c * width, scale + c * width, offset + c * width, width);
  else
    store_affine((float *)out + y * width * p->channels, arranged, scale, offset, width * p->channels);
}

/*
 * The decode, with libjpeg's state in `cinfo` (created by the caller). Returns 0, -1 (not for this
 * path) or the scratch bytes needed; longjmps through on_error for bad bytes.
 */
__attribute__((noinline)) static double decode(struct jpeg_decompress_struct *cinfo, const uint8_t *jpeg, size_t jpeg_length, const Params *p, uint8_t *scratch,
                     size_t scratch_length, void *out, int float_out, const char **problem) {
  jpeg_mem_src(cinfo, jpeg, (unsigned long)jpeg_length);
  jpeg_read_header(cinfo, TRUE);
  if ((int)cinfo->image_width != p->width || (int)cinfo->image_height != p->height) {
    *problem = "the JPEG's frame is not the size its header was read as";
    return 0;
  }
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) return -1;
  int components = p->channels == 1 ? 1 : 3;
  cinfo->out_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  /* DCT scaling by the largest power of two the crop exceeds the kept output by, in both directions. */
  int d = p->max_dct;
  while (d > 1 && (p->crop_width < d * p->resize_width || p->crop_height < d * p->resize_height)) d /= 2;
  cinfo->scale_num = 1;
  cinfo->scale_denom = (unsigned)d;
  jpeg_calc_output_dimensions(cinfo);
  int scaled_width = (int)cinfo->output_width, scaled_height = (int)cinfo->output_height;
  /* The crop in the scaled image: whole pixels [x0, x1) × [y0, y1) around the exact box. */
  double in_left = (double)p->crop_left / d, in_top = (double)p->crop_top / d;
  double in_right = (double)(p->crop_left + p->crop_width) / d, in_bottom = (double)(p->crop_top + p->crop_height) / d;
  int x0 = (int)floor(in_left), y0 = (int)floor(in_top);
  int x1 = (int)ceil(in_right), y1 = (int)ceil(in_bottom);
  if (x1 > scaled_width) x1 = scaled_width;
  if (y1 > scaled_height) y1 = scaled_height;
  int span_x = x1 - x0, span_y = y1 - y0;
  const Filter *f = &FILTERS[p->filter];
  Layout l;
  l.taps_x = taps_of(f, in_right - in_left, p->resize_width);
  l.taps_y = taps_of(f, in_bottom - in_top, p->resize_height);
  /* libjpeg's crop widens to whole iMCUs: at most one iMCU (≤ 32 pixels) either side. */
  l.row_bytes = ALIGN16((size_t)(span_x + 64) * components);
  l.between_bytes = ALIGN16((size_t)span_y * p->keep_width * components);
  l.sums_bytes = ALIGN16((size_t)p->keep_width * components * sizeof(int32_t));
  l.line_bytes = ALIGN16((size_t)p->keep_width * components);
  /* A float output's row in its order, and each value's scale and offset in the same order. */
  l.arranged_bytes = float_out ? ALIGN16((size_t)p->keep_width * p->channels) : 0;
  l.affine_bytes = float_out ? ALIGN16((size_t)p->keep_width * p->channels * sizeof(float)) : 0;
  size_t most = (size_t)(p->keep_width > p->keep_height ? p->keep_width : p->keep_height);
  l.bounds_bytes = ALIGN16(most * 2 * sizeof(int32_t));
  l.kk_bytes = ALIGN16(((size_t)p->keep_width * l.taps_x + (size_t)p->keep_height * l.taps_y) * sizeof(int32_t));
  size_t need = layout_total(&l);
  if (need > scratch_length) return (double)need;

  uint8_t *row = scratch;
  uint8_t *between = row + l.row_bytes;
  int32_t *sums = (int32_t *)(between + l.between_bytes);
  uint8_t *line = (uint8_t *)sums + l.sums_bytes;
  uint8_t *arranged = line + l.line_bytes;
  float *scale = (float *)(arranged + l.arranged_bytes);
  float *offset = (float *)((uint8_t *)scale + l.affine_bytes);
  int32_t *bounds_x = (int32_t *)((uint8_t *)offset + l.affine_bytes);
  int32_t *bounds_y = (int32_t *)((uint8_t *)bounds_x + l.bounds_bytes);
  int32_t *kk_x = (int32_t *)((uint8_t *)bounds_y + l.bounds_bytes);
  int32_t *kk_y = kk_x + (size_t)p->keep_width * l.taps_x;
  if (float_out)
    for (int c = 0; c < p->channels; c++)
      for (int x = 0; x < p->keep_width; x++) {
        size_t at = p->channels_first ? (size_t)c * p->keep_width + x : (size_t)x * p->channels + c;
        scale[at] = p->scale[c];
        offset[at] = p->offset[c];
      }
  coefficients(f, span_x, in_left - x0, in_right - x0, p->resize_width, p->keep_left, p->keep_width, l.taps_x, bounds_x, kk_x);
  coefficients(f, span_y, in_top - y0, in_bottom - y0, p->resize_height, p->keep_top, p->keep_height, l.taps_y, bounds_y, kk_y);
  /* Only the rows the kept outputs read. */
  int row_first = span_y, row_end = 0;
  for (int i = 0; i < p->keep_height; i++) {
    if (bounds_y[2 * i] < row_first) row_first = bounds_y[2 * i];
    if (bounds_y[2 * i] + bounds_y[2 * i + 1] > row_end) row_end = bounds_y[2 * i] + bounds_y[2 * i + 1];
  }

  jpeg_start_decompress(cinfo);
  /* A cropped row's end columns are upsampled as the image's edge: one column more either side keeps
     the crop's own pixels those of the full decode. */
  int pad_left = x0 > 0, pad_right = x1 < scaled_width;
  JDIMENSION crop_x = (JDIMENSION)(x0 - pad_left), crop_width = (JDIMENSION)(span_x + pad_left + pad_right);
  if (span_x < scaled_width) jpeg_crop_scanline(cinfo, &crop_x, &crop_width);
  int shift = (x0 - (int)crop_x) * components;
  if ((size_t)cinfo->output_width * components > l.row_bytes) {
    *problem = "libjpeg widened the crop more than one iMCU";
    return 0;
  }
  if (y0 + row_first > 0) jpeg_skip_scanlines(cinfo, (JDIMENSION)(y0 + row_first));
  for (int y = row_first; y < row_end; y++) {
    JSAMPROW rows[1] = {row};
    if (jpeg_read_scanlines(cinfo, rows, 1) != 1) {
      *problem = "libjpeg returned fewer rows than the image has";
      return 0;
    }
    resample_across(row + shift, between + (size_t)(y - row_first) * p->keep_width * components, p->keep_width, components, bounds_x, kk_x,
                    l.taps_x);
  }
  /* The rows below are never decoded: libjpeg is stopped where it is (the caller destroys it). */
  for (int i = 0; i < p->keep_height; i++) bounds_y[2 * i] -= row_first;
  for (int y = 0; y < p->keep_height; y++)
    resample_down(between, (size_t)p->keep_width * components, sums, line, arranged, scale, offset, bounds_y + 2 * y, kk_y + (size_t)y * l.taps_y, y,
                  p, components, out, float_out);
  if (float_out) store_fence();
  return 0;
}

static napi_value number(napi_env env, double value) {
  napi_value result;
  napi_create_double(env, value, &result);
  return result;
}

static void throw_jpeg(napi_env env, const char *message) {
  napi_value code, text, error;
  napi_create_string_utf8(env, "ERR_JPEG", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_throw(env, error);
}

napi_value DecodeJpeg(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint8_t *jpeg, *scratch;
  double *raw;
  size_t jpeg_length, param_count, scratch_length, out_length;
  napi_typedarray_type out_type;
  void *out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      !typed_array_of(env, argv[0], napi_uint8_array, (void **)&jpeg, &jpeg_length) ||
      !typed_array_of(env, argv[1], napi_float64_array, (void **)&raw, &param_count) ||
      !typed_array_of(env, argv[2], napi_uint8_array, (void **)&scratch, &scratch_length) ||
      napi_get_typedarray_info(env, argv[3], &out_type, &out_length, &out, NULL, NULL) != napi_ok ||
      (out_type != napi_uint8_array && out_type != napi_float32_array)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "decodeJpeg takes (Uint8Array, Float64Array, Uint8Array, Uint8Array | Float32Array)");
    return NULL;
  }
  Params p;
  if (param_count != JPEG_PARAM_COUNT || !read_params(raw, &p)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "decodeJpeg: the params are out of range or not 25 values");
    return NULL;
  }
  if ((size_t)p.keep_width * p.keep_height * p.channels != out_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "decodeJpeg: the output does not hold the kept pixels");
    return NULL;
  }
  struct jpeg_decompress_struct cinfo;
  ErrorState errors;
  cinfo.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = on_error;
  errors.manager.emit_message = on_message;
  errors.not_handled = 0;
  const char *problem = NULL;
  double result;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    if (errors.not_handled) return number(env, -1);
    throw_jpeg(env, errors.message);
    return NULL;
  }
  jpeg_create_decompress(&cinfo);
  result = decode(&cinfo, jpeg, jpeg_length, &p, scratch, scratch_length, out, out_type == napi_float32_array, &problem);
  jpeg_destroy_decompress(&cinfo);
  if (problem) {
    throw_jpeg(env, problem);
    return NULL;
  }
  return number(env, result);
}
