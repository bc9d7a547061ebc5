/*
 * Variable-width values into shared memory in slot order, with memmove.
 *
 * gatherValues(target: Uint8Array, source: Uint8Array, starts: Float64Array, lengths: Uint32Array) -> bytes
 *   copies source[starts[i], starts[i] + lengths[i]) for i = 0, 1, ... one after the other into target
 *   from its first byte, and returns the bytes copied. Every range is checked before anything is copied:
 *   a range outside source, or more bytes than target holds, throws a RangeError and copies nothing.
 *
 * Why native: the target is a SharedArrayBuffer, and V8 copies into shared memory with relaxed atomic
 * stores, word by word only when source and target offsets agree modulo 8 and byte by byte otherwise.
 * Values of arbitrary lengths almost never agree, so JavaScript puts them in slot order in plain memory
 * first and then copies that once: two passes over the bytes where this is one.
 */
#include <stdint.h>
#include <string.h>

#include "addon.h"

napi_value GatherValues(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "gatherValues takes 4 arguments");
    return NULL;
  }
  uint8_t *target, *source;
  double *starts;
  uint32_t *lengths;
  size_t target_length, source_length, count, length_count;
  if (!typed_array_of(env, argv[0], napi_uint8_array, (void **)&target, &target_length) ||
      !typed_array_of(env, argv[1], napi_uint8_array, (void **)&source, &source_length) ||
      !typed_array_of(env, argv[2], napi_float64_array, (void **)&starts, &count) ||
      !typed_array_of(env, argv[3], napi_uint32_array, (void **)&lengths, &length_count)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "gatherValues takes (Uint8Array, Uint8Array, Float64Array, Uint32Array)");
    return NULL;
  }
  if (length_count != count) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "gatherValues: starts and lengths differ in length");
    return NULL;
  }
  size_t total = 0;
  for (size_t i = 0; i < count; i++) {
    double start = starts[i];
    if (!(start >= 0 && start <= (double)source_length) || start != (double)(size_t)start || (size_t)start + lengths[i] > source_length) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "gatherValues: a value's range is outside the source");
      return NULL;
    }
    total += lengths[i];
  }
  if (total > target_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "gatherValues: the values do not fit the target");
    return NULL;
  }
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    /* An empty buffer's data pointer may be NULL, which memmove may not be given even for 0 bytes. */
    if (lengths[i] == 0) continue;
    memmove(target + at, source + (size_t)starts[i], lengths[i]);
    at += lengths[i];
  }
  napi_value result;
  napi_create_double(env, (double)total, &result);
  return result;
}
