/*
 * The rows of a single list over fixed-width items (list<int32>, list<float32>, …) out of mini-block
 * chunks, a whole decode task (one page's groups of chunks) per call: the native twin of
 * decode-workers/encodings/list-rows.ts decodeListChunks, which stays the fallback and the reference.
 *
 *   per group: chunk header ─► rep/def levels (Rle block, Flat u16 or InlineBitpacking u16)
 *              ─► each wanted row's first value, value count, first entry's def
 *              ─► its window (truncation) and place (padded slot, or ragged bytes)
 *              ─► values of the windows only (InlineBitpacking 8/16/32/64 or Flat), unpacked or copied
 *                 straight into their place, each chunk's bytes prefetched while the one before decodes
 *
 * decodeListRows(views, info, rows, slots, params, defMap, perRow, outputs, state) -> code
 *   views      Uint8Array per group: the group's chunks back to back, as read
 *   info       Float64Array: per group (views.length of them) its first row, from, to (entries of
 *              rows/slots), chunk count; then per chunk (params[P_NUM_CHUNKS] of them, the groups' chunks
 *              one after the other) its byte start and end in its group's view, item count, rows
 *              starting in it (the page index's); longer is fine
 *   params     Int32Array, P_* below
 *   defMap     Uint16Array: canonical def of each page def level
 *   perRow     Int32Array, per entry of rows: the count (MODE_COUNTS writes it) or the items a random
 *              truncation skips (MODE_ROWS reads it when truncating at random)
 *   outputs    padded: [values Uint8Array, lengths Int32Array, validity Uint8Array | null, pad Uint8Array,
 *                       nullPlaces Float64Array: the item index in values of each null item this call writes]
 *              ragged: [data Uint8Array, starts Float64Array, lengths Uint32Array, validity | null,
 *                       itemData Uint8Array | null, itemStarts Float64Array | null, itemLengths Uint32Array | null]
 *   state      Float64Array in/out: bytes used, item bytes used, last slot, in order (1/0), rows written,
 *              null items written
 * Returns 0 when done, 1 when the bytes break a rule (the caller then decodes in JavaScript, whose error
 * names file, column and rows), 2 when ragged rows need more bytes than `data` or `itemData` holds, or
 * padded rows more null places than `nullPlaces` (the caller grows them and calls again; nothing of the
 * state was advanced, and a padded row written again is written the same). Every length and offset from the
 * file is checked against its buffer before it is used; nothing is written outside the outputs.
 * Argument types are checked too (a TypeError): only list-rows-native.ts calls this.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

enum {
  P_SIZE_BYTES,   /* chunk header buffer-size words: 2 or 4 bytes */
  P_NUM_BUFFERS,  /* value buffers per chunk */
  P_REP_KIND,     /* LEVELS_* */
  P_REP_RUN,      /* Rle run-length bytes (1, 2, 4), or OutOfLineBitpacking's bit width */
  P_DEF_KIND,
  P_DEF_RUN,
  P_VALUE_KIND,   /* VALUES_* */
  P_WIDTH,        /* bytes of one item */
  P_MAX_VISIBLE_DEF,
  P_NULL_ITEM_DEF,
  P_NULL_LIST_DEF,
  P_MODE,         /* MODE_* */
  P_PAD_LENGTH,   /* items per padded row, or -1 for ragged rows */
  P_TRUNCATE,     /* 0 end, 1 start, 2 random */
  P_NUM_CHUNKS,   /* chunks in info */
  P_COUNT
};
enum { LEVELS_NONE, LEVELS_RLE, LEVELS_FLAT, LEVELS_BITPACK, LEVELS_OUT_OF_LINE };
enum { VALUES_FLAT = 1, VALUES_BITPACK = 2 };
enum { MODE_ROWS, MODE_COUNTS };
enum { DONE = 0, CORRUPT = 1, NEED_BYTES = 2 };

#define BLOCK 1024
static const uint16_t FL_ORDER[8] = {0, 4, 2, 6, 1, 5, 3, 7};

static inline uint64_t load_le(const uint8_t *p, int bytes) {
  /* Constant sizes, so that each load is one instruction rather than a call to memcpy. */
  switch (bytes) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; } /* little-endian host (x86-64, arm64) */
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
  }
}

/*
 * GCC's default -O2 cost model vectorizes no loop whose trip count is unknown, such as a FastLanes row's
 * lanes below; the dynamic model does (16-byte vectors, no -march needed).
 */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORIZE __attribute__((optimize("vect-cost-model=dynamic")))
#else
#define VECTORIZE
#endif

/*
 * Values [first, end) of one FastLanes block of T packed at w bits (bitpack.ts has the layout), value i
 * to out + (i - first)·sizeof(T); nothing else of the block is unpacked. Value i sits in lane i % lanes of
 * row FL_ORDER[(i % 128) / 16 rounded down to a row's lanes]·8 + i / 128, so the range is walked as runs of
 * consecutive lanes of one row each, in value order: a row's lanes hold consecutive values.
 * One function per T, so loads are plain words.
 */
#define UNPACK_BLOCK(NAME, T)                                                                               \
  VECTORIZE static void NAME(const uint8_t *restrict src, int w, int first, int end, uint8_t *restrict out) { \
    const int bits = 8 * (int)sizeof(T), lanes = BLOCK / bits;                                             \
    if (w == 0) {                                                                                          \
      memset(out, 0, (size_t)(end - first) * sizeof(T));                                                  \
      return;                                                                                              \
    }                                                                                                      \
    const T mask = (T)(w == bits ? ~(T)0 : (T)(((uint64_t)1 << w) - 1));                                   \
    for (int i = first; i < end;) {                                                                        \
      const int row = FL_ORDER[(i & 127) / lanes * lanes / 16] * 8 + (i >> 7), lane = i % lanes;          \
      const int n = lanes - lane < end - i ? lanes - lane : end - i;                                       \
      const int bit = row * w, shift = bit % bits, k = bit / bits;                                         \
      const uint8_t *lo = src + ((size_t)k * lanes + (size_t)lane) * sizeof(T);                            \
      uint8_t *o = out + (size_t)(i - first) * sizeof(T);                                                  \
      T a, b, v;                                                                                           \
      if (shift + w <= bits) {                                                                             \
        for (int l = 0; l < n; l++) {                                                                      \
          memcpy(&a, lo + (size_t)l * sizeof(T), sizeof(T));                                               \
          v = (T)(a >> shift) & mask;                                                                      \
          memcpy(o + (size_t)l * sizeof(T), &v, sizeof(T));                                                \
        }                                                                                                  \
      } else {                                                                                             \
        const int up = bits - shift;                                                                       \
        const uint8_t *hi = lo + (size_t)lanes * sizeof(T);                                                \
        for (int l = 0; l < n; l++) {                                                                      \
          memcpy(&a, lo + (size_t)l * sizeof(T), sizeof(T));                                               \
          memcpy(&b, hi + (size_t)l * sizeof(T), sizeof(T));                                               \
          v = (T)((T)(a >> shift) | (T)(b << up)) & mask;                                                  \
          memcpy(o + (size_t)l * sizeof(T), &v, sizeof(T));                                                \
        }                                                                                                  \
      }                                                                                                    \
      i += n;                                                                                              \
    }                                                                                                      \
  }
UNPACK_BLOCK(unpack_block8, uint8_t)
UNPACK_BLOCK(unpack_block16, uint16_t)
UNPACK_BLOCK(unpack_block32, uint32_t)
UNPACK_BLOCK(unpack_block64, uint64_t)

static void unpack_block(const uint8_t *src, int tb, int w, int first, int end, uint8_t *out) {
  switch (tb) {
    case 1: unpack_block8(src, w, first, end, out); return;
    case 2: unpack_block16(src, w, first, end, out); return;
    case 4: unpack_block32(src, w, first, end, out); return;
    default: unpack_block64(src, w, first, end, out); return;
  }
}

/* Values [first, end) of a run of values, value `first` to out. */
typedef struct {
  size_t first, end;
  uint8_t *out;
} Window;

/*
 * InlineBitpacking (a T width word, then 128·w bytes, per 1024 values) of `count` values of tb bytes:
 * each window's values unpacked to its out (value i at out + (i - first)·tb), and only those. Every
 * block's header is checked, wanted or not. 0, or CORRUPT when a block runs past `len`.
 */
static int decode_inline_bitpacking(const uint8_t *src, size_t len, int tb, size_t count, const Window *windows,
                                    size_t num_windows) {
  size_t at = 0;
  for (size_t done = 0; done < count; done += BLOCK) {
    if (at + (size_t)tb > len) return CORRUPT;
    uint64_t w = load_le(src + at, tb);
    if (w > (uint64_t)(8 * tb)) return CORRUPT;
    size_t data = at + (size_t)tb, bytes = 128 * (size_t)w;
    if (data + bytes > len) return CORRUPT;
    size_t n = count - done < BLOCK ? count - done : BLOCK;
    for (size_t i = 0; i < num_windows; i++) {
      const Window *win = windows + i;
      if (win->end <= done || win->first >= done + n) continue;
      size_t from = win->first > done ? win->first - done : 0, to = win->end - done < n ? win->end - done : n;
      unpack_block(src + data, tb, (int)w, (int)from, (int)to, win->out + (done + from - win->first) * (size_t)tb);
    }
    at = data + bytes;
  }
  return DONE;
}

/* Runs of u16 levels (the Rle block form, run lengths of `bytes` bytes), read in place. */
typedef struct {
  const uint8_t *values, *lengths;
  size_t count;
  int bytes;
} Runs;

/* Rle block form: u64 values length | u16 values | run lengths (each run checked where it is read). */
static int read_runs(const uint8_t *src, size_t len, int run_bytes, Runs *runs) {
  if (len < 8) return CORRUPT;
  uint64_t values_len = load_le(src, 8);
  if (values_len > len - 8 || values_len % 2 != 0) return CORRUPT;
  size_t lengths_len = len - 8 - (size_t)values_len;
  if (lengths_len % (size_t)run_bytes != 0 || lengths_len / (size_t)run_bytes != values_len / 2) return CORRUPT;
  runs->values = src + 8;
  runs->lengths = src + 8 + values_len;
  runs->count = (size_t)values_len / 2;
  runs->bytes = run_bytes;
  return DONE;
}

static inline size_t run_length(const Runs *runs, size_t r) {
  switch (runs->bytes) {
    case 1: return runs->lengths[r];
    case 2: return (size_t)load_le(runs->lengths + 2 * r, 2);
    default: return (size_t)load_le(runs->lengths + 4 * r, 4);
  }
}

/* Exactly `count` levels into out; no run may be empty. */
static int decode_rle_levels(const uint8_t *src, size_t len, int run_bytes, size_t count, uint16_t *out) {
  Runs runs;
  if (read_runs(src, len, run_bytes, &runs)) return CORRUPT;
  size_t decoded = 0;
  for (size_t r = 0; r < runs.count; r++) {
    size_t length = run_length(&runs, r);
    if (length == 0 || length > count - decoded) return CORRUPT;
    uint16_t v = (uint16_t)load_le(runs.values + 2 * r, 2);
    for (size_t i = 0; i < length; i++) out[decoded + i] = v;
    decoded += length;
  }
  return decoded == count ? DONE : CORRUPT;
}

/*
 * OutOfLineBitpacking of u16 levels at w bits: whole blocks, then the tail packed as one more block or,
 * when the buffer is exactly that long, raw (bitpack.ts decodeOutOfLineBitpacking has the rule).
 */
static int decode_out_of_line_levels(const uint8_t *src, size_t len, int w, size_t count, uint16_t *out) {
  if (w < 0 || w > 16) return CORRUPT;
  const size_t block_bytes = 128 * (size_t)w, full = count / BLOCK, tail = count % BLOCK;
  const size_t full_bytes = full * block_bytes;
  const int tail_raw = tail > 0 && len == full_bytes + 2 * tail;
  if (!tail_raw && len < full_bytes + (tail > 0 ? block_bytes : 0)) return CORRUPT;
  for (size_t b = 0; b < full; b++) unpack_block(src + b * block_bytes, 2, w, 0, BLOCK, (uint8_t *)(out + b * BLOCK));
  if (tail_raw) memcpy(out + full * BLOCK, src + full_bytes, 2 * tail);
  else if (tail > 0) unpack_block(src + full_bytes, 2, w, 0, (int)tail, (uint8_t *)(out + full * BLOCK));
  return DONE;
}

static int decode_levels(int kind, int run, const uint8_t *src, size_t len, size_t count, uint16_t *out) {
  switch (kind) {
    case LEVELS_RLE:
      return decode_rle_levels(src, len, run, count, out);
    case LEVELS_FLAT:
      if (len < 2 * count) return CORRUPT;
      memcpy(out, src, 2 * count);
      return DONE;
    case LEVELS_BITPACK: {
      const Window all = {0, count, (uint8_t *)out};
      return decode_inline_bitpacking(src, len, 2, count, &all, 1);
    }
    case LEVELS_OUT_OF_LINE:
      return decode_out_of_line_levels(src, len, run, count, out);
    default:
      return CORRUPT;
  }
}

/* A chunk, its header read: levels and the first value buffer. */
typedef struct {
  const uint8_t *values;
  size_t values_len;
  size_t item_count;
} Chunk;

/* Growable scratch, one per thread (see Held). */
typedef struct {
  uint16_t *levels; /* rep levels, then def levels at levels + level_cap */
  size_t level_cap;
  double *nulls;
  size_t null_cap;
  Window *windows; /* a chunk's wanted value ranges */
  size_t window_cap;
  /* The chunk's rep levels as runs, not expanded (Rle rep levels without def levels: the commonest page). */
  Runs rep_runs;
  int has_runs;
} Scratch;

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 1;
  size_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * size);
  if (!q) return 0;
  *p = q;
  *cap = n;
  return 1;
}

/* Copies the w-byte pad over `bytes` bytes (a multiple of w) at dst: zeros as one memset, else doubling copies. */
static void fill_pad(uint8_t *dst, size_t bytes, const uint8_t *pad, size_t w, int pad_zero) {
  if (bytes == 0) return;
  if (pad_zero) {
    memset(dst, 0, bytes);
    return;
  }
  memcpy(dst, pad, w);
  for (size_t done = w; done < bytes; done *= 2) memcpy(dst + done, dst, done < bytes - done ? done : bytes - done);
}

static int read_chunk(const int32_t *params, const uint8_t *bytes, size_t len, size_t item_count, Scratch *s,
                      size_t *num_levels, Chunk *chunk) {
  const int size_bytes = params[P_SIZE_BYTES], num_buffers = params[P_NUM_BUFFERS];
  const int has_rep = params[P_REP_KIND] != LEVELS_NONE, has_def = params[P_DEF_KIND] != LEVELS_NONE;
  size_t header = 2 + (has_rep ? 2 : 0) + (has_def ? 2 : 0) + (size_t)size_bytes * (size_t)num_buffers;
  if (num_buffers < 1 || num_buffers > 64 || len < header) return CORRUPT;
  size_t levels = (size_t)load_le(bytes, 2), at = 2, rep_size = 0, def_size = 0;
  if (has_rep) rep_size = (size_t)load_le(bytes + 2, 2), at += 2;
  if (has_def) def_size = (size_t)load_le(bytes + at, 2), at += 2;
  size_t first_size = (size_t)load_le(bytes + at, size_bytes);
  size_t sizes_at = at;
  at = (header + 7) & ~(size_t)7;
  if ((has_def || has_rep) && (has_rep && has_def ? levels < item_count : levels != item_count)) return CORRUPT;
  if (levels > s->level_cap) {
    uint16_t *grown = realloc(s->levels, 2 * (levels + 1024) * sizeof *grown);
    if (!grown) return CORRUPT;
    s->levels = grown;
    s->level_cap = levels + 1024;
  }
  s->has_runs = has_rep && !has_def && params[P_REP_KIND] == LEVELS_RLE;
  if (s->has_runs) {
    if (at + rep_size > len || read_runs(bytes + at, rep_size, params[P_REP_RUN], &s->rep_runs)) return CORRUPT;
    at = (at + rep_size + 7) & ~(size_t)7;
  } else if (has_rep) {
    if (at + rep_size > len) return CORRUPT;
    if (decode_levels(params[P_REP_KIND], params[P_REP_RUN], bytes + at, rep_size, levels, s->levels)) return CORRUPT;
    at = (at + rep_size + 7) & ~(size_t)7;
  }
  if (has_def) {
    if (at + def_size > len) return CORRUPT;
    if (decode_levels(params[P_DEF_KIND], params[P_DEF_RUN], bytes + at, def_size, levels, s->levels + s->level_cap)) return CORRUPT;
    at = (at + def_size + 7) & ~(size_t)7;
  }
  /* Every value buffer must fit, as readMiniBlockChunk checks; only the first is read. */
  size_t buffer_at = at;
  for (int i = 0; i < num_buffers; i++) {
    size_t size = (size_t)load_le(bytes + sizes_at + (size_t)i * (size_t)size_bytes, size_bytes);
    if (at + size > len) return CORRUPT;
    at = (at + size + 7) & ~(size_t)7;
  }
  chunk->values = bytes + buffer_at;
  chunk->values_len = first_size;
  chunk->item_count = item_count;
  *num_levels = levels;
  return DONE;
}

/* Per wanted row of a group. */
typedef struct {
  double value, count, start, end, place;
  uint16_t def;
} Row;

typedef struct {
  /* padded */
  uint8_t *values;
  size_t values_len;
  int32_t *lengths;
  size_t lengths_len;
  uint8_t *validity;
  size_t validity_len;
  uint8_t *pad;
  size_t pad_len;
  int pad_zero;
  double *null_places;
  size_t null_places_len, null_places_used;
  /* ragged */
  double *starts, *item_starts;
  uint32_t *ragged_lengths, *item_lengths;
  uint8_t *items;
  size_t items_len, starts_len, item_starts_len;
  /* state */
  double used, item_used, last_slot, in_order, written, null_items;
} Out;

/* Starts slot's row of `kept` items (as list-rows.ts beginRow); returns where its first item goes or -1. */
static double begin_row(Out *o, const int32_t *params, uint32_t slot, size_t kept, int valid) {
  const size_t w = (size_t)params[P_WIDTH];
  o->written++;
  if (params[P_PAD_LENGTH] < 0) {
    if (slot >= o->starts_len || (o->validity && slot >= o->validity_len) || (o->items && slot >= o->item_starts_len))
      return -1;
    size_t bytes = kept * w;
    if (o->used + (double)bytes > (double)o->values_len) return -2;
    double at = o->used;
    o->starts[slot] = at;
    o->ragged_lengths[slot] = (uint32_t)bytes;
    o->used += (double)bytes;
    if ((double)slot <= o->last_slot) o->in_order = 0;
    o->last_slot = slot;
    if (!valid && o->validity) o->validity[slot] = 0;
    if (o->items) {
      if (o->item_used + (double)kept > (double)o->items_len) return -2;
      o->item_starts[slot] = o->item_used;
      o->item_lengths[slot] = (uint32_t)kept;
      memset(o->items + (size_t)o->item_used, 1, kept);
      o->item_used += (double)kept;
    }
    return at;
  }
  const size_t row_bytes = (size_t)params[P_PAD_LENGTH] * w;
  if (slot >= o->lengths_len || (slot + 1) * row_bytes > o->values_len || (o->validity && slot >= o->validity_len))
    return -1;
  size_t at = slot * row_bytes;
  o->lengths[slot] = (int32_t)kept;
  if (o->validity) o->validity[slot] = valid ? 1 : 0;
  fill_pad(o->values + at + kept * w, row_bytes - kept * w, o->pad, w, o->pad_zero);
  return (double)at;
}

/* Writes a null item at byte `at` (as list-rows.ts writeNullItem); 0, or NEED_BYTES when its place does not fit. */
static int write_null_item(Out *o, const int32_t *params, double at) {
  const size_t w = (size_t)params[P_WIDTH];
  o->null_items++;
  if (params[P_PAD_LENGTH] >= 0) {
    memcpy(o->values + (size_t)at, o->pad, w);
    if (o->null_places_used >= o->null_places_len) return NEED_BYTES;
    o->null_places[o->null_places_used++] = at / (double)w;
  } else {
    memset(o->values + (size_t)at, 0, w);
    if (o->items && (size_t)at / w < o->items_len) o->items[(size_t)at / w] = 0;
  }
  return 0;
}

/* Items kept of a row of n: a padded row keeps at most its length. */
static size_t kept_items(const int32_t *params, size_t n) {
  return params[P_PAD_LENGTH] >= 0 && n > (size_t)params[P_PAD_LENGTH] ? (size_t)params[P_PAD_LENGTH] : n;
}

typedef struct {
  const uint8_t **chunk_bytes;
  const size_t *chunk_lens;
  size_t num_chunks; /* of the whole call, every group's */
  const double *chunk_info;
  const uint32_t *rows, *slots;
  size_t num_rows;
  const int32_t *params;
  const uint16_t *def_map;
  size_t def_map_len;
  int32_t *per_row;
  Out *out;
  Scratch *scratch;
  Row *row_scratch;
  Chunk *chunk_scratch;
} Task;

/*
 * Asks for a chunk's bytes (up to 4 KiB) ahead of its decode. A shuffled batch's chunks are rarely in
 * cache: their header, run lengths and width word are otherwise read one miss after another.
 */
static inline void prefetch_chunk(const uint8_t *bytes, size_t len) {
  if (len > 4096) len = 4096;
  for (size_t at = 0; at < len; at += 64) __builtin_prefetch(bytes + at);
}

/*
 * Neither inlined nor specialised: where GCC sees that the scratch is the thread-local one, it reads its
 * address (a call to __tls_get_addr) afresh at each use inside the loops; here it is a plain pointer.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define OPAQUE __attribute__((noipa))
#else
#define OPAQUE __attribute__((noinline))
#endif
OPAQUE static int decode_group(Task *t, size_t first_chunk, size_t num_chunks, double first_row, size_t from,
                               size_t to) {
  const int32_t *params = t->params;
  Scratch *s = t->scratch;
  Out *o = t->out;
  const size_t n = to - from, w = (size_t)params[P_WIDTH];
  const int has_rep = params[P_REP_KIND] != LEVELS_NONE, has_def = params[P_DEF_KIND] != LEVELS_NONE;
  const int max_visible = params[P_MAX_VISIBLE_DEF];
  Row *rows = t->row_scratch + from;
  if (n > 0 && (double)t->rows[from] < first_row) return CORRUPT;
  size_t j = 0, nulls = 0;
  double k = -1, start = 0, value = 0;
  uint16_t def0 = 0;
  for (size_t c = 0; c < num_chunks; c++) {
    const double *info = t->chunk_info + 4 * (first_chunk + c);
    if (first_chunk + c + 1 < t->num_chunks)
      prefetch_chunk(t->chunk_bytes[first_chunk + c + 1], t->chunk_lens[first_chunk + c + 1]);
    size_t item_count = (size_t)info[2], levels;
    Chunk *chunk = t->chunk_scratch + c;
    if (read_chunk(params, t->chunk_bytes[first_chunk + c], t->chunk_lens[first_chunk + c], item_count, s, &levels,
                   chunk))
      return CORRUPT;
    const uint16_t *rep = has_rep ? s->levels : NULL, *def = has_def ? s->levels + s->level_cap : NULL;
    size_t count = (rep || def) ? levels : item_count, starts = 0;
    double visible_before = value;
    if (s->has_runs) {
      /* Every entry is a value; a run of 0s continues the current row, each entry of a run of 1s starts one. */
      size_t e = 0;
      for (size_t q = 0; q < s->rep_runs.count; q++) {
        size_t length = run_length(&s->rep_runs, q);
        unsigned r = (unsigned)load_le(s->rep_runs.values + 2 * q, 2);
        if (length == 0 || length > count - e || r > 1) return CORRUPT;
        if (r == 1) {
          for (size_t i = e; i < e + length; i++) {
            value = visible_before + (double)i;
            if (k >= 0) {
              double row = first_row + k;
              while (j < n && (double)t->rows[from + j] == row) {
                rows[j].value = start, rows[j].count = value - start, rows[j].def = 0;
                j++;
              }
            }
            k++;
            start = value;
          }
          starts += length;
        }
        e += length;
      }
      if (e != count) return CORRUPT;
      rep = NULL;
      count = 0; /* the entries are read */
    }
    for (size_t e = 0; e < count; e++) {
      unsigned r = rep ? rep[e] : 1;
      if (r == 0 && !def) continue;
      unsigned d = def ? def[e] : 0;
      if (r > 1 || d >= t->def_map_len) return CORRUPT;
      if (!def) value = visible_before + (double)e;
      if (r == 1) {
        if (k >= 0) {
          double row = first_row + k;
          while (j < n && (double)t->rows[from + j] == row) {
            rows[j].value = start, rows[j].count = value - start, rows[j].def = def0;
            j++;
          }
        }
        k++;
        starts++;
        start = value;
        def0 = (uint16_t)d;
      } else if (k >= 0 && def0 > max_visible) {
        return CORRUPT;
      }
      if (def && (int)d <= max_visible) {
        if (d != 0 && k >= 0) {
          if (!grow((void **)&s->nulls, &s->null_cap, nulls + 1, sizeof(double))) return CORRUPT;
          s->nulls[nulls++] = value;
        }
        value++;
      }
    }
    if (!def) value = visible_before + (double)levels;
    if ((double)starts != info[3] || value - visible_before != (double)item_count) return CORRUPT;
  }
  if (k >= 0) {
    double row = first_row + k;
    while (j < n && (double)t->rows[from + j] == row) {
      rows[j].value = start, rows[j].count = value - start, rows[j].def = def0;
      j++;
    }
  }
  if (j < n) return CORRUPT;
  if (params[P_MODE] == MODE_COUNTS) {
    for (size_t i = 0; i < n; i++) t->per_row[from + i] = (int32_t)rows[i].count;
    return DONE;
  }
  /* Windows and places. */
  const int pad_length = params[P_PAD_LENGTH];
  for (size_t i = 0; i < n; i++) {
    Row *row = rows + i;
    uint32_t slot = t->slots[from + i];
    unsigned d = t->def_map[row->def];
    size_t count = (size_t)row->count;
    if (d != 0 && (int)d != params[P_NULL_ITEM_DEF] && count != 0) return CORRUPT;
    size_t kept = kept_items(params, count), skip = 0;
    if (pad_length >= 0 && count > (size_t)pad_length) {
      if (params[P_TRUNCATE] == 1) skip = count - (size_t)pad_length;
      else if (params[P_TRUNCATE] == 2) {
        int32_t drawn = t->per_row[from + i];
        if (drawn < 0 || (size_t)drawn > count - (size_t)pad_length) return CORRUPT;
        skip = (size_t)drawn;
      }
    }
    row->start = row->value + (double)skip;
    row->end = row->start + (double)kept;
    double place = begin_row(o, params, slot, kept, (int)d != params[P_NULL_LIST_DEF]);
    if (place == -2) return NEED_BYTES;
    if (place < 0) return CORRUPT;
    row->place = place;
  }
  /* Values, chunk by chunk: each window's part in the chunk decoded straight to its place. */
  size_t lo = 0;
  double chunk_start = 0;
  for (size_t c = 0; c < num_chunks; c++) {
    Chunk *chunk = t->chunk_scratch + c;
    double chunk_end = chunk_start + (double)chunk->item_count;
    while (lo < n && rows[lo].end <= chunk_start) lo++;
    size_t num_windows = 0;
    for (size_t i = lo; i < n && rows[i].start < chunk_end; i++) {
      double a = rows[i].start > chunk_start ? rows[i].start : chunk_start;
      double b = rows[i].end < chunk_end ? rows[i].end : chunk_end;
      if (a >= b) continue;
      if (!grow((void **)&s->windows, &s->window_cap, num_windows + 1, sizeof *s->windows)) return CORRUPT;
      s->windows[num_windows++] = (Window){(size_t)(a - chunk_start), (size_t)(b - chunk_start),
                                           o->values + (size_t)(rows[i].place + (a - rows[i].start) * (double)w)};
    }
    if (num_windows > 0) {
      if (params[P_VALUE_KIND] == VALUES_FLAT) {
        if (chunk->values_len < chunk->item_count * w) return CORRUPT;
        for (size_t i = 0; i < num_windows; i++) {
          const Window *win = s->windows + i;
          memcpy(win->out, chunk->values + win->first * w, (win->end - win->first) * w);
        }
      } else if (decode_inline_bitpacking(chunk->values, chunk->values_len, (int)w, chunk->item_count, s->windows,
                                          num_windows)) {
        return CORRUPT;
      }
    }
    chunk_start = chunk_end;
  }
  /* Null items inside the windows. */
  size_t r = 0;
  for (size_t q = 0; q < nulls; q++) {
    double v = s->nulls[q];
    while (r < n && rows[r].end <= v) r++;
    for (size_t i = r; i < n && rows[i].start <= v; i++)
      if (v < rows[i].end && write_null_item(o, params, rows[i].place + (v - rows[i].start) * (double)w))
        return NEED_BYTES;
  }
  return DONE;
}

/*
 * Each thread's scratch, kept across calls so that a decode task allocates nothing in the steady state.
 * Worker threads share the addon's globals, hence thread-local; the env's cleanup hook frees it
 * when the thread's Node environment stops. A buffer grown past KEEP_BYTES by an unusual page is freed at
 * the end of the call that grew it, so what a thread keeps stays small.
 */
#define KEEP_BYTES ((size_t)1 << 20)
typedef struct {
  const uint8_t **chunk_bytes;
  size_t *chunk_lens;
  Chunk *chunks;
  Row *rows;
  size_t chunk_bytes_cap, chunk_lens_cap, chunks_cap, rows_cap;
  Scratch scratch;
  int hooked;
} Held;
static _Thread_local Held held;

static void free_held(void *unused) {
  (void)unused;
  free(held.chunk_bytes), free(held.chunk_lens), free(held.chunks), free(held.rows);
  free(held.scratch.levels), free(held.scratch.nulls), free(held.scratch.windows);
  memset(&held, 0, sizeof held);
}

/* Room for num_chunks chunks and num_rows rows (and the cleanup hook registered), or 0. */
static int hold_room(napi_env env, size_t num_chunks, size_t num_rows) {
  if (!held.hooked) {
    if (napi_add_env_cleanup_hook(env, free_held, NULL) != napi_ok) return 0;
    held.hooked = 1;
  }
  return grow((void **)&held.chunk_bytes, &held.chunk_bytes_cap, num_chunks + 1, sizeof *held.chunk_bytes) &&
         grow((void **)&held.chunk_lens, &held.chunk_lens_cap, num_chunks + 1, sizeof *held.chunk_lens) &&
         grow((void **)&held.chunks, &held.chunks_cap, num_chunks + 1, sizeof *held.chunks) &&
         grow((void **)&held.rows, &held.rows_cap, num_rows + 1, sizeof *held.rows);
}

/* Frees a buffer of `size`-byte elements holding more than KEEP_BYTES. */
static void trim(void **p, size_t *cap, size_t size) {
  if (*cap * size <= KEEP_BYTES) return;
  free(*p);
  *p = NULL;
  *cap = 0;
}

/* Frees what an unusual call grew past KEEP_BYTES (the next call grows it again if it needs to). */
static void trim_held(void) {
  Scratch *s = &held.scratch;
  trim((void **)&held.chunk_bytes, &held.chunk_bytes_cap, sizeof *held.chunk_bytes);
  trim((void **)&held.chunk_lens, &held.chunk_lens_cap, sizeof *held.chunk_lens);
  trim((void **)&held.chunks, &held.chunks_cap, sizeof *held.chunks);
  trim((void **)&held.rows, &held.rows_cap, sizeof *held.rows);
  trim((void **)&s->levels, &s->level_cap, 2 * sizeof *s->levels);
  trim((void **)&s->nulls, &s->null_cap, sizeof *s->nulls);
  trim((void **)&s->windows, &s->window_cap, sizeof *s->windows);
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

/* Element i of a JS array as a typed array of `type` (null and undefined: NULL, length 0). */
static int element_of(napi_env env, napi_value array, uint32_t i, napi_typedarray_type type, void **data, size_t *len,
                      int optional) {
  napi_value v;
  napi_valuetype kind;
  *data = NULL;
  *len = 0;
  if (napi_get_element(env, array, i, &v) != napi_ok || napi_typeof(env, v, &kind) != napi_ok) return 0;
  if (optional && (kind == napi_null || kind == napi_undefined)) return 1;
  return typed_array_of(env, v, type, data, len);
}

static napi_value result_of(napi_env env, int code) {
  napi_value result;
  napi_create_int32(env, code, &result);
  return result;
}

napi_value DecodeListRows(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 9)
    return throw_type(env, "decodeListRows takes 9 arguments");
  double *group_info, *state;
  uint32_t *rows, *slots;
  int32_t *params, *per_row;
  uint16_t *def_map;
  size_t info_len, num_rows, num_slots, params_len, def_map_len, per_row_len, state_len;
  bool is_array;
  uint32_t num_groups, num_outputs;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &num_groups) != napi_ok ||
      !typed_array_of(env, argv[1], napi_float64_array, (void **)&group_info, &info_len) ||
      !typed_array_of(env, argv[2], napi_uint32_array, (void **)&rows, &num_rows) ||
      !typed_array_of(env, argv[3], napi_uint32_array, (void **)&slots, &num_slots) ||
      !typed_array_of(env, argv[4], napi_int32_array, (void **)&params, &params_len) ||
      !typed_array_of(env, argv[5], napi_uint16_array, (void **)&def_map, &def_map_len) ||
      !typed_array_of(env, argv[6], napi_int32_array, (void **)&per_row, &per_row_len) ||
      napi_is_array(env, argv[7], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[7], &num_outputs) != napi_ok ||
      !typed_array_of(env, argv[8], napi_float64_array, (void **)&state, &state_len))
    return throw_type(env, "decodeListRows: an argument is not of its type");
  if (params_len != P_COUNT || params[P_NUM_CHUNKS] < 0 ||
      info_len < 4 * ((size_t)num_groups + (size_t)params[P_NUM_CHUNKS]) || num_slots != num_rows ||
      per_row_len < num_rows || state_len != 6 || def_map_len == 0)
    return throw_type(env, "decodeListRows: argument lengths disagree");
  const double *chunk_info = group_info + 4 * (size_t)num_groups;
  const int w = params[P_WIDTH];
  if (w < 1 || w > 8 || (params[P_VALUE_KIND] == VALUES_BITPACK && w != 1 && w != 2 && w != 4 && w != 8) ||
      (params[P_SIZE_BYTES] != 2 && params[P_SIZE_BYTES] != 4))
    return throw_type(env, "decodeListRows: bad params");
  Out out = {0};
  out.used = state[0], out.item_used = state[1], out.last_slot = state[2], out.in_order = state[3];
  out.written = state[4], out.null_items = state[5];
  int ok;
  if (params[P_PAD_LENGTH] >= 0) {
    ok = num_outputs == 5 && element_of(env, argv[7], 0, napi_uint8_array, (void **)&out.values, &out.values_len, 0) &&
         element_of(env, argv[7], 1, napi_int32_array, (void **)&out.lengths, &out.lengths_len, 0) &&
         element_of(env, argv[7], 2, napi_uint8_array, (void **)&out.validity, &out.validity_len, 1) &&
         element_of(env, argv[7], 3, napi_uint8_array, (void **)&out.pad, &out.pad_len, 0) && out.pad_len == (size_t)w &&
         element_of(env, argv[7], 4, napi_float64_array, (void **)&out.null_places, &out.null_places_len, 0);
  } else {
    size_t lengths_len, item_lengths_len;
    ok = num_outputs == 7 && element_of(env, argv[7], 0, napi_uint8_array, (void **)&out.values, &out.values_len, 0) &&
         element_of(env, argv[7], 1, napi_float64_array, (void **)&out.starts, &out.starts_len, 0) &&
         element_of(env, argv[7], 2, napi_uint32_array, (void **)&out.ragged_lengths, &lengths_len, 0) &&
         element_of(env, argv[7], 3, napi_uint8_array, (void **)&out.validity, &out.validity_len, 1) &&
         element_of(env, argv[7], 4, napi_uint8_array, (void **)&out.items, &out.items_len, 1) &&
         element_of(env, argv[7], 5, napi_float64_array, (void **)&out.item_starts, &out.item_starts_len, 1) &&
         element_of(env, argv[7], 6, napi_uint32_array, (void **)&out.item_lengths, &item_lengths_len, 1) &&
         lengths_len == out.starts_len && item_lengths_len == out.item_starts_len &&
         (out.items == NULL) == (out.item_starts == NULL);
  }
  if (!ok) return throw_type(env, "decodeListRows: bad outputs");
  out.pad_zero = 1;
  for (size_t b = 0; b < out.pad_len; b++) out.pad_zero &= out.pad[b] == 0;
  const size_t num_chunks = (size_t)params[P_NUM_CHUNKS];
  int code = hold_room(env, num_chunks, num_rows) ? DONE : CORRUPT;
  const uint8_t **chunk_bytes = held.chunk_bytes;
  size_t *chunk_lens = held.chunk_lens;
  /* Each chunk's bytes: a range of its group's view, checked against the view. */
  size_t c = 0;
  for (uint32_t g = 0; code == DONE && g < num_groups; g++) {
    const uint8_t *view;
    size_t view_len;
    if (!element_of(env, argv[0], g, napi_uint8_array, (void **)&view, &view_len, 0)) {
      trim_held();
      return throw_type(env, "decodeListRows: views must be Uint8Arrays");
    }
    const double chunks = group_info[4 * g + 3];
    if (!(chunks >= 0 && chunks <= (double)(num_chunks - c) && chunks == (double)(size_t)chunks)) {
      code = CORRUPT;
      break;
    }
    for (size_t end = c + (size_t)chunks; c < end; c++) {
      const double start = chunk_info[4 * c], stop = chunk_info[4 * c + 1];
      if (!(start >= 0 && start <= stop && stop <= (double)view_len && start == (double)(size_t)start &&
            stop == (double)(size_t)stop)) {
        code = CORRUPT;
        break;
      }
      chunk_bytes[c] = view + (size_t)start;
      chunk_lens[c] = (size_t)(stop - start);
    }
  }
  if (code == DONE && c != num_chunks) code = CORRUPT;
  if (code == DONE && num_chunks > 0) prefetch_chunk(chunk_bytes[0], chunk_lens[0]);
  Task task = {chunk_bytes, chunk_lens, num_chunks, chunk_info, rows, slots, num_rows, params, def_map, def_map_len,
               per_row, &out, &held.scratch, held.rows, held.chunks};
  size_t next_chunk = 0;
  for (size_t g = 0; code == DONE && g < num_groups; g++) {
    const double *group = group_info + 4 * g;
    double from = group[1], to = group[2], chunks = group[3];
    if (!(from >= 0 && from <= to && to <= (double)num_rows && from == (double)(size_t)from &&
          to == (double)(size_t)to)) {
      code = CORRUPT;
      break;
    }
    code = decode_group(&task, next_chunk, (size_t)chunks, group[0], (size_t)from, (size_t)to);
    next_chunk += (size_t)chunks;
  }
  trim_held();
  if (code == DONE) {
    state[0] = out.used, state[1] = out.item_used, state[2] = out.last_slot, state[3] = out.in_order;
    state[4] = out.written, state[5] = out.null_items;
  }
  return result_of(env, code);
}
