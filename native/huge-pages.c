/*
 * lazylinalg's one native helper (Linux, optional): three functions and a constant that the Node platform
 * (src/cpu/platform-node.ts) uses where it is built and falls back from where it is not:
 *
 * adviseHugePages(view: Uint8Array): number — asks the kernel for transparent huge pages on a WebAssembly memory, as
 *   numpy does for its large arrays (madvise(MADV_HUGEPAGE)). Where the kernel's setting is `madvise` (the default of
 *   many distributions, and of the VMs measured here) V8's memories otherwise get 4 KiB pages, one page fault each: on
 *   a 2-vCPU VM (AMD EPYC, Firecracker) 39 ms for a fresh 14 MiB memory against 1–7 ms with 2 MiB pages. Advises the
 *   whole 4 KiB pages inside `view`'s bytes; returns the offset in `view` of its first huge-page boundary, or -1 where
 *   the kernel refused (EINVAL: a kernel without transparent huge pages). Only the aligned huge pages inside the range
 *   get huge pages, and V8 places a memory on a 64 KiB boundary: a layout that starts at the returned offset has no
 *   head of 4 KiB pages (src/cpu/platform.ts `memoryBase`).
 * hugePageBytes: number — the kernel's huge-page size (/sys/kernel/mm/transparent_hugepage/hpage_pmd_size; 2 MiB where
 *   it cannot be read).
 * prefault(view: Uint8Array, done: (error) => void) — an atomic OR of 0 into each 4 KiB page of the view on libuv's
 *   thread pool, so that the kernel provides its pages there rather than at the calling thread's first touches;
 *   `done(null)` on the calling thread once through. Every byte keeps its value (racing writes keep theirs: the OR is
 *   atomic). Why here: the fallback, node:crypto's randomFill, overwrites the bytes and costs the loading of
 *   node:crypto (≈ 5–6 ms of the calling thread in a fresh process).
 * sha256(...parts: (string | Uint8Array)[]): Buffer — the SHA-256 (FIPS 180-4) of the parts one after another (a
 *   string's UTF-8 bytes): the program cache's names and checks and the precompiled table's, without node:crypto for
 *   the same reason.
 *
 * A non-view or non-string argument is a TypeError naming the function. Built at install by scripts/build-native.mjs.
 */
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Whether `value` is a Uint8Array (its bytes in *data, *length); else false after throwing a TypeError with `message`. */
static bool byte_view(napi_env env, napi_value value, uint8_t **data, size_t *length, const char *message) {
  bool is_view = false;
  napi_typedarray_type type;
  void *bytes = NULL;
  if (napi_is_typedarray(env, value, &is_view) != napi_ok || !is_view ||
      napi_get_typedarray_info(env, value, &type, length, &bytes, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  *data = bytes;
  return true;
}

/* The kernel's transparent huge-page size, read once; 2 MiB where the file is missing or odd (not a power of two). */
static uintptr_t huge_page_bytes(void) {
  static uintptr_t bytes = 0;
  if (bytes != 0) return bytes;
  unsigned long long value = 0;
  FILE *file = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
  if (file != NULL) {
    if (fscanf(file, "%llu", &value) != 1) value = 0;
    fclose(file);
  }
  bytes = value >= 4096 && (value & (value - 1)) == 0 ? (uintptr_t)value : (uintptr_t)2 << 20;
  return bytes;
}

static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = { NULL };
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  uint8_t *data = NULL;
  size_t length = 0;
  const char *usage = "adviseHugePages: expected a Uint8Array over a WebAssembly memory";
  if (argc < 1) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (!byte_view(env, argv[0], &data, &length, usage)) return NULL;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t start = ((uintptr_t)data + page - 1) & ~(page - 1);
  const uintptr_t end = ((uintptr_t)data + length) & ~(page - 1);
  const bool accepted = end > start && madvise((void *)start, end - start, MADV_HUGEPAGE) == 0;
  const uintptr_t huge = huge_page_bytes();
  const uintptr_t boundary = ((uintptr_t)data + huge - 1) & ~(huge - 1);
  napi_value result;
  napi_create_double(env, accepted ? (double)(boundary - (uintptr_t)data) : -1, &result);
  return result;
}

typedef struct {
  napi_async_work work;
  napi_ref view;     /* keeps the memory alive while the pool's thread writes it */
  napi_ref callback;
  uint8_t *data;
  size_t length;
} prefault_job;

static void prefault_execute(napi_env env, void *arg) {
  (void)env;
  prefault_job *job = arg;
  uint8_t *p = job->data;
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  /* one atomic OR of 0 a page, from the first page up (the waiting taker touches from the end down: memory-pool.ts):
   * a write for the kernel, which provides the page, that leaves its byte as it is */
  for (size_t i = 0; i < job->length; i += page) __atomic_fetch_or(p + i, 0, __ATOMIC_RELAXED);
  if (job->length > 0) __atomic_fetch_or(p + job->length - 1, 0, __ATOMIC_RELAXED);
}

static void prefault_complete(napi_env env, napi_status status, void *arg) {
  prefault_job *job = arg;
  napi_value callback, global, argv[1];
  if (napi_get_reference_value(env, job->callback, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok) {
    if (status == napi_ok) napi_get_null(env, &argv[0]);
    else {
      napi_value message;
      napi_create_string_utf8(env, "prefault: the write of the pages was cancelled", NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &argv[0]);
    }
    napi_call_function(env, global, callback, 1, argv, NULL);
  }
  napi_delete_reference(env, job->callback);
  napi_delete_reference(env, job->view);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value prefault(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  const char *usage = "prefault: expected a Uint8Array over a WebAssembly memory and a callback";
  napi_valuetype type = napi_undefined;
  if (argc < 2 || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  uint8_t *data = NULL;
  size_t length = 0;
  if (!byte_view(env, argv[0], &data, &length, usage)) return NULL;
  prefault_job *job = calloc(1, sizeof *job);
  napi_value name;
  if (job == NULL) {
    napi_throw_error(env, NULL, "prefault: out of memory");
    return NULL;
  }
  job->data = data;
  job->length = length;
  if (napi_create_reference(env, argv[0], 1, &job->view) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &job->callback) != napi_ok ||
      napi_create_string_utf8(env, "lazylinalg.prefault", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, prefault_execute, prefault_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "prefault: could not queue the work");
    return NULL;
  }
  return NULL;
}

/* SHA-256 (FIPS 180-4) */
static const uint32_t K256[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const uint8_t *block) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++) {
    w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 | (uint32_t)block[4 * t + 2] << 8 | block[4 * t + 3];
  }
  for (int t = 16; t < 64; t++) {
    const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int t = 0; t < 64; t++) {
    const uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

typedef struct {
  uint32_t h[8];
  uint8_t block[64];
  size_t filled;    /* bytes in `block` */
  uint64_t length;  /* bytes hashed in all */
} sha256_state;

static void sha256_start(sha256_state *s) {
  static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  memcpy(s->h, h0, sizeof h0);
  s->filled = 0;
  s->length = 0;
}

static void sha256_update(sha256_state *s, const uint8_t *data, size_t length) {
  s->length += length;
  while (length > 0) {
    if (s->filled == 0 && length >= 64) {
      sha256_block(s->h, data);
      data += 64;
      length -= 64;
      continue;
    }
    size_t take = 64 - s->filled < length ? 64 - s->filled : length;
    memcpy(s->block + s->filled, data, take);
    s->filled += take;
    data += take;
    length -= take;
    if (s->filled == 64) {
      sha256_block(s->h, s->block);
      s->filled = 0;
    }
  }
}

static void sha256_finish(sha256_state *s, uint8_t out[32]) {
  /* the 0x80 byte, zeros, and the bit length (big-endian) ending the last block */
  const uint64_t bits = s->length * 8;
  const uint8_t one = 0x80, zero = 0;
  sha256_update(s, &one, 1);
  while (s->filled != 56) sha256_update(s, &zero, 1);
  uint8_t tail[8];
  for (int j = 0; j < 8; j++) tail[j] = (uint8_t)(bits >> (56 - 8 * j));
  sha256_update(s, tail, 8);
  for (int j = 0; j < 8; j++) {
    out[4 * j] = (uint8_t)(s->h[j] >> 24);
    out[4 * j + 1] = (uint8_t)(s->h[j] >> 16);
    out[4 * j + 2] = (uint8_t)(s->h[j] >> 8);
    out[4 * j + 3] = (uint8_t)s->h[j];
  }
}

/* sha256(...parts): the digest of the parts one after another, each a string (its UTF-8 bytes) or a Uint8Array. */
static napi_value sha256(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  const char *usage = "sha256: expected up to 8 parts, each a string or a Uint8Array";
  if (argc > 8) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  sha256_state state;
  sha256_start(&state);
  for (size_t i = 0; i < argc; i++) {
    napi_valuetype type = napi_undefined;
    if (napi_typeof(env, argv[i], &type) != napi_ok) return NULL;
    if (type == napi_string) {
      size_t length = 0, copied = 0;
      if (napi_get_value_string_utf8(env, argv[i], NULL, 0, &length) != napi_ok) return NULL;
      char *text = malloc(length + 1);
      if (text == NULL) {
        napi_throw_error(env, NULL, "sha256: out of memory");
        return NULL;
      }
      if (napi_get_value_string_utf8(env, argv[i], text, length + 1, &copied) != napi_ok || copied != length) {
        free(text);
        napi_throw_error(env, NULL, "sha256: could not read a string part");
        return NULL;
      }
      sha256_update(&state, (const uint8_t *)text, length);
      free(text);
    } else {
      uint8_t *data = NULL;
      size_t length = 0;
      if (!byte_view(env, argv[i], &data, &length, usage)) return NULL;
      sha256_update(&state, data, length);
    }
  }
  uint8_t digest[32];
  sha256_finish(&state, digest);
  napi_value result;
  if (napi_create_buffer_copy(env, 32, digest, NULL, &result) != napi_ok) return NULL;
  return result;
}

static bool export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

/* What this build does (native-node.ts checks it: a helper built by another version is not used) — 2: sha256, and a
 * prefault that keeps the bytes; 3: adviseHugePages gives the first huge-page boundary, and hugePageBytes */
#define HELPER_VERSION 3

NAPI_MODULE_INIT() {
  napi_value version, huge;
  if (!export_function(env, exports, "adviseHugePages", advise_huge_pages) || !export_function(env, exports, "prefault", prefault) ||
      !export_function(env, exports, "sha256", sha256) || napi_create_uint32(env, HELPER_VERSION, &version) != napi_ok ||
      napi_set_named_property(env, exports, "version", version) != napi_ok ||
      napi_create_double(env, (double)huge_page_bytes(), &huge) != napi_ok ||
      napi_set_named_property(env, exports, "hugePageBytes", huge) != napi_ok) return NULL;
  return exports;
}
