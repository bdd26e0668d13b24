// lineage: a Fjord transform written in C. Each record passes through unchanged, with three
// headers added saying where it came from: <prefix>topic, <prefix>partition and
// <prefix>offset (prefix "source." unless the deployment sets `prefix`).
//
// It shows that any language that compiles to a WebAssembly component works: the bindings
// (transform.h, transform.c, transform_component_type.o) are generated from
// plugins/wit/transform.wit by `wit-bindgen c`; ./scripts/build-plugins compiles this with
// clang for wasm32-wasi (reactor, no WASI calls) and wraps it with `wasm-tools component new`.
//
// Batches are packed (every key, value and header of a batch in one byte buffer, records and
// headers pointing into it), so passing a record on is copying its spans. Ownership follows
// the component model's C bindings: the arguments belong to this code (it frees them or moves
// them into the answer), and the answer is freed after the host has read it, so every list in
// it is allocated with malloc.

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

// The answer's bytes: the input's, moved, with what the new headers need appended.
typedef struct {
  transform_list_u8_t bytes;
  size_t capacity;
} buffer_t;

// Appends `len` bytes to `buf` and says where they went.
static bool append(buffer_t *buf, const void *bytes, size_t len, fjord_transform_types_span_t *span) {
  if (buf->bytes.len + len > buf->capacity) {
    size_t want = buf->capacity * 2 > buf->bytes.len + len ? buf->capacity * 2 : buf->bytes.len + len + 64;
    uint8_t *grown = realloc(buf->bytes.ptr, want);
    if (grown == NULL) return false;
    buf->bytes.ptr = grown;
    buf->capacity = want;
  }
  memcpy(buf->bytes.ptr + buf->bytes.len, bytes, len);
  span->offset = (uint32_t) buf->bytes.len;
  span->len = (uint32_t) len;
  buf->bytes.len += len;
  return true;
}

// Appends `<prefix><name>`.
static bool append_name(buffer_t *buf, const char *name, fjord_transform_types_span_t *span) {
  size_t prefix_len = strlen(prefix), name_len = strlen(name);
  if (!append(buf, prefix, prefix_len, span)) return false;
  fjord_transform_types_span_t rest;
  if (!append(buf, name, name_len, &rest)) return false;
  span->len += rest.len;
  return true;
}

static fjord_transform_types_header_t header(fjord_transform_types_span_t key, fjord_transform_types_span_t value) {
  return (fjord_transform_types_header_t) {key, {true, value}};
}

bool exports_transform_process(transform_input_batch_t *batch, transform_output_batch_t *ret, transform_error_t *err) {
  size_t count = batch->records.len, old_headers = batch->headers.len;
  // The input's bytes become the answer's, so its records' spans stay valid. A list of
  // length 0 arrives with no allocation behind it: only a non-empty one is grown in place.
  buffer_t buf = {batch->data, batch->data.len};
  if (buf.bytes.len == 0) buf.bytes.ptr = NULL;
  batch->data = (transform_list_u8_t) {NULL, 0};
  fjord_transform_types_header_t *headers = malloc((old_headers + 3 * count + 1) * sizeof *headers);
  fjord_transform_types_output_record_t *out = malloc((count + 1) * sizeof *out);
  // The names, the topic and the partition are the same for every record: written once.
  char partition[24];
  decimal(batch->partition, partition);
  fjord_transform_types_span_t topic_name, partition_name, offset_name, topic_value, partition_value;
  bool ok = headers != NULL && out != NULL && append_name(&buf, "topic", &topic_name) && append_name(&buf, "partition", &partition_name) &&
            append_name(&buf, "offset", &offset_name) && append(&buf, batch->topic.ptr, batch->topic.len, &topic_value) &&
            append(&buf, partition, strlen(partition), &partition_value);
  size_t used = 0;
  for (size_t i = 0; ok && i < count; i++) {
    fjord_transform_types_input_record_t *in = &batch->records.ptr[i];
    char offset[24];
    decimal(in->offset, offset);
    fjord_transform_types_span_t offset_value;
    if (!append(&buf, offset, strlen(offset), &offset_value)) {
      ok = false;
      break;
    }
    size_t first = used;
    for (uint32_t h = 0; h < in->header_count && in->first_header + h < old_headers; h++) {
      headers[used++] = batch->headers.ptr[in->first_header + h];
    }
    headers[used++] = header(topic_name, topic_value);
    headers[used++] = header(partition_name, partition_value);
    headers[used++] = header(offset_name, offset_value);
    out[i] = (fjord_transform_types_output_record_t) {
        .key = in->key,
        .value = in->value,
        .first_header = (uint32_t) first,
        .header_count = (uint32_t) (used - first),
        .timestamp = {true, in->timestamp},
        .topic = {false, 0},
    };
  }
  transform_input_batch_free(batch);
  if (!ok) {
    free(buf.bytes.ptr);
    free(headers);
    free(out);
    set_error(&err->message, "lineage ran out of memory");
    err->record_index.is_some = false;
    return false;
  }
  *ret = (transform_output_batch_t) {
      .data = buf.bytes,
      .headers = {headers, used},
      .topics = {NULL, 0},
      .records = {out, count},
  };
  return true;
}
