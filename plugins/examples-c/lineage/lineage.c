// lineage: a Fjord transform written in C. Each record passes through unchanged, with three
// headers added saying where it came from: <prefix>topic, <prefix>partition and
// <prefix>offset (prefix "source." unless the deployment sets `prefix`).
//
// It shows that any language that compiles to a WebAssembly component works: the bindings
// (transform.h, transform.c, transform_component_type.o) are generated from
// plugins/wit/transform.wit by `wit-bindgen c`; ./scripts/build-plugins compiles this with
// clang for wasm32-wasi (reactor, no WASI calls) and wraps it with `wasm-tools component new`.
//
// Ownership follows the component model's C bindings: the arguments belong to this code (it
// frees them or moves them into the answer), and the answer is freed after the host has read
// it, so every list in it is allocated with malloc.

#include <stdlib.h>
#include <string.h>

#include "transform.h"

static char *prefix;

// `value` in decimal into `out` (room for 21 bytes), NUL-terminated. No stdio: it would make
// the plugin import WASI for files it never writes.
static void decimal(long long value, char *out) {
  char digits[21];
  size_t n = 0;
  unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long) value : (unsigned long long) value;
  do {
    digits[n++] = (char) ('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude > 0);
  if (value < 0) *out++ = '-';
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
}

static void set_error(transform_string_t *err, const char *message) {
  transform_string_dup(err, message);
}

bool exports_transform_init(transform_list_tuple2_string_string_t *config, transform_string_t *err) {
  free(prefix);
  prefix = strdup("source.");
  bool ok = prefix != NULL;
  for (size_t i = 0; ok && i < config->len; i++) {
    transform_string_t *key = &config->ptr[i].f0, *value = &config->ptr[i].f1;
    if (key->len == 6 && memcmp(key->ptr, "prefix", 6) == 0) {
      char *copy = malloc(value->len + 1);
      if (copy == NULL) {
        ok = false;
        break;
      }
      memcpy(copy, value->ptr, value->len);
      copy[value->len] = '\0';
      free(prefix);
      prefix = copy;
    } else {
      const char *before = "unknown setting \"", *after = "\"; lineage takes only prefix";
      size_t shown = key->len > 64 ? 64 : key->len, total = strlen(before) + shown + strlen(after);
      char message[160];
      memcpy(message, before, strlen(before));
      memcpy(message + strlen(before), key->ptr, shown);
      memcpy(message + strlen(before) + shown, after, strlen(after));
      message[total] = '\0';
      set_error(err, message);
      transform_list_tuple2_string_string_free(config);
      return false;
    }
  }
  transform_list_tuple2_string_string_free(config);
  if (!ok) set_error(err, "out of memory");
  return ok;
}

// A header `<prefix><name>` with `value`, both newly allocated.
static bool make_header(fjord_transform_types_header_t *header, const char *name, const uint8_t *value, size_t value_len) {
  size_t prefix_len = strlen(prefix), name_len = strlen(name);
  uint8_t *key = malloc(prefix_len + name_len);
  uint8_t *bytes = malloc(value_len > 0 ? value_len : 1);
  if (key == NULL || bytes == NULL) {
    free(key);
    free(bytes);
    return false;
  }
  memcpy(key, prefix, prefix_len);
  memcpy(key + prefix_len, name, name_len);
  memcpy(bytes, value, value_len);
  header->key = (transform_string_t) {key, prefix_len + name_len};
  header->value = (transform_option_list_u8_t) {true, {bytes, value_len}};
  return true;
}

bool exports_transform_process(transform_input_batch_t *batch, transform_list_output_record_t *ret, transform_error_t *err) {
  fjord_transform_types_list_input_record_t *records = &batch->records;
  size_t count = records->len;
  char partition[24];
  decimal(batch->partition, partition);
  transform_output_record_t *out = calloc(count > 0 ? count : 1, sizeof *out);
  bool ok = out != NULL;
  size_t done = 0;
  for (; ok && done < count; done++) {
    fjord_transform_types_input_record_t *in = &records->ptr[done];
    transform_output_record_t *o = &out[done];
    // Room for the record's headers and three more: a list of length 0 arrives with no
    // allocation behind it, so only a non-empty one is grown in place.
    size_t headers = in->headers.len;
    fjord_transform_types_header_t *list = headers > 0 ? realloc(in->headers.ptr, (headers + 3) * sizeof *list) : malloc(3 * sizeof *list);
    if (list == NULL) {
      ok = false;
      break;
    }
    char offset[24];
    decimal(in->offset, offset);
    size_t added = 0;
    added += make_header(&list[headers + added], "topic", batch->topic.ptr, batch->topic.len);
    added += make_header(&list[headers + added], "partition", (const uint8_t *) partition, strlen(partition));
    added += make_header(&list[headers + added], "offset", (const uint8_t *) offset, strlen(offset));
    // The key, value and headers move to the output; what is left of the input is freed below.
    o->key = in->key;
    o->value = in->value;
    o->headers = (fjord_transform_types_list_header_t) {list, headers + added};
    o->timestamp = (transform_option_s64_t) {true, in->timestamp};
    o->topic.is_some = false;
    in->key.is_some = false;
    in->value.is_some = false;
    in->headers = (fjord_transform_types_list_header_t) {NULL, 0};
    if (added < 3) {
      ok = false;
      done++;
      break;
    }
  }
  transform_input_batch_free(batch);
  if (!ok) {
    transform_list_output_record_t partial = {out, done};
    if (out != NULL) transform_list_output_record_free(&partial);
    set_error(&err->message, "lineage ran out of memory");
    err->record_index.is_some = false;
    return false;
  }
  *ret = (transform_list_output_record_t) {out, count};
  return true;
}
