/* What the addon's sources share: native/batch_read.c sets the module up and registers every function. */
#ifndef LANCE_LOADER_ADDON_H
#define LANCE_LOADER_ADDON_H
#include <node_api.h>

/* Whether `value` is a typed array of type `want`; if so, its data pointer and element count. */
int typed_array_of(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length);

/* This environment's slot for native/async_read.c's engine (NULL before the module is set up). */
void **async_engine_slot(napi_env env);

/* gatherValues(target, source, starts, lengths): native/gather.c. */
napi_value GatherValues(napi_env env, napi_callback_info info);

/* readBatchAsync(fd, positions, targets, queueDepth, direct, results, maxBytesInFlight, done): native/async_read.c. */
napi_value ReadBatchAsync(napi_env env, napi_callback_info info);

/* decodeListRows(chunks, chunkInfo, groupInfo, rows, slots, params, defMap, perRow, outputs, state): native/list_rows.c. */
napi_value DecodeListRows(napi_env env, napi_callback_info info);

/* mapFile(fd, bytes), unmapFile(mapping), copyMapped(mapping, positions, targets, results): native/map_read.c. */
napi_value MapFile(napi_env env, napi_callback_info info);
napi_value UnmapFile(napi_env env, napi_callback_info info);
napi_value CopyMapped(napi_env env, napi_callback_info info);
/* mapLimit(files?): native/map_read.c. */
napi_value MapLimit(napi_env env, napi_callback_info info);

/* hugePageBuffer(bytes) -> ArrayBuffer | undefined: native/memory.c. */
napi_value HugePageBuffer(napi_env env, napi_callback_info info);

#ifdef LANCE_LOADER_JPEG
/* decodeJpeg(jpeg, params, scratch, out): native/jpeg.c, built where libjpeg-turbo is (binding.gyp). */
napi_value DecodeJpeg(napi_env env, napi_callback_info info);
#define JPEG_PROPERTIES {"decodeJpeg", NULL, DecodeJpeg, NULL, NULL, NULL, napi_default, NULL},
#else
#define JPEG_PROPERTIES
#endif

#endif
