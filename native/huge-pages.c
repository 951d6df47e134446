/*
 * lazylinalg's one native helper (Linux, optional): asks the kernel for transparent huge pages on a WebAssembly
 * memory, as numpy does for its large arrays (madvise(MADV_HUGEPAGE)). Where the kernel's setting is `madvise` (the
 * default of many distributions, and of the VMs measured here) V8's memories otherwise get 4 KiB pages, one page fault
 * each: on a 2-vCPU VM (AMD EPYC, Firecracker) 39 ms for a fresh 14 MiB memory against 1–7 ms with 2 MiB pages.
 * Built at install by scripts/build-native.mjs; loaded by src/cpu/platform-node.ts, which runs without it.
 *
 * adviseHugePages(view: Uint8Array): boolean — advises the whole 4 KiB pages inside `view`'s bytes; true where the
 * kernel accepted (the memory's pages are then provided 2 MiB at a time where the range allows), false where it
 * refused (EINVAL: a kernel without transparent huge pages). A non-view argument is a TypeError.
 */
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  bool is_view = false;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_view) != napi_ok || !is_view) {
    napi_throw_type_error(env, NULL, "adviseHugePages: expected a Uint8Array over a WebAssembly memory");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok) return NULL;
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "adviseHugePages: expected a Uint8Array over a WebAssembly memory");
    return NULL;
  }
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t start = ((uintptr_t)data + page - 1) & ~(page - 1);
  const uintptr_t end = ((uintptr_t)data + length) & ~(page - 1);
  const bool accepted = end > start && madvise((void *)start, end - start, MADV_HUGEPAGE) == 0;
  napi_value result;
  napi_get_boolean(env, accepted, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, advise_huge_pages, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "adviseHugePages", fn) != napi_ok) return NULL;
  return exports;
}
