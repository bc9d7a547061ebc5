/* What the addon's sources share: native/batch_read.c sets the module up and registers every function. */
#ifndef LANCE_LOADER_ADDON_H
#define LANCE_LOADER_ADDON_H
#include <node_api.h>

/* Whether `value` is a typed array of type `want`; if so, its data pointer and element count. */
int typed_array_of(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length);

/* gatherValues(target, source, starts, lengths): native/gather.c. */
napi_value GatherValues(napi_env env, napi_callback_info info);

#endif
