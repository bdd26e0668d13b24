// lineage: a Fjord transform written in C. Each record passes through unchanged, with three
// headers added saying where it came from: <prefix>topic, <prefix>partition and
// <prefix>offset (prefix "source." unless the deployment sets `prefix`).
//
// It shows that any language that compiles to a WebAssembly component works: the bindings
// (transform.h, transform.c, transform_component_type.o) are generated from
// plugins/wit/transform.wit by `wit-bindgen c`; ./scripts/build-plugins compiles this with
// clang for wasm32-wasi (reactor, no WASI calls) and wraps it with `wasm-tools component new`.
//
// Batches are columnar: a list of lengths per field, and every key, value and header of a
// batch in one byte buffer, record after record (key, value, then each header's name and
// value; a length of -1 is null). Passing a record on is copying its run of bytes and its
// lengths. Ownership follows the component model's C bindings: the arguments belong to this
// code (it frees them or moves them into the answer), and the answer is freed after the host
// has read it, so every list in it is allocated with malloc.

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

// A growing byte buffer.
typedef struct {
  uint8_t *ptr;
  size_t len, capacity;
} buffer_t;

static bool append(buffer_t *buf, const void *bytes, size_t len) {
  if (buf->len + len > buf->capacity) {
    size_t want = buf->capacity * 2 > buf->len + len ? buf->capacity * 2 : buf->len + len + 64;
    uint8_t *grown = realloc(buf->ptr, want);
    if (grown == NULL) return false;
    buf->ptr = grown;
    buf->capacity = want;
  }
  if (len > 0) memcpy(buf->ptr + buf->len, bytes, len);
  buf->len += len;
  return true;
}

// The bytes a length stands for: none for null (-1).
static size_t span(int32_t length) { return length > 0 ? (size_t) length : 0; }

static bool fail(transform_error_t *err, const char *message) {
  set_error(&err->message, message);
  err->record_index.is_some = false;
  return false;
}

bool exports_transform_process(transform_input_batch_t *batch, transform_output_batch_t *ret, transform_error_t *err) {
  fjord_transform_types_contents_t *in = &batch->contents;
  size_t count = batch->offsets.len, old_headers = in->header_name_lengths.len;
  bool ok = in->key_lengths.len == count && in->value_lengths.len == count && in->header_counts.len == count && in->header_value_lengths.len == old_headers;
  char partition[24];
  decimal(batch->partition, partition);
  size_t prefix_len = strlen(prefix), added = 3 * count;
  // Room for the input's bytes and the lineage headers of every record, so it rarely grows.
  size_t room = in->data.len + count * (3 * prefix_len + 20 + batch->topic.len + strlen(partition) + 20) + 1;
  buffer_t data = {malloc(room), 0, room};
  ok = ok && data.ptr != NULL;
  int32_t *key_lengths = malloc((count + 1) * sizeof *key_lengths), *value_lengths = malloc((count + 1) * sizeof *value_lengths);
  uint32_t *header_counts = malloc((count + 1) * sizeof *header_counts);
  uint32_t *name_lengths = malloc((old_headers + added + 1) * sizeof *name_lengths);
  int32_t *header_value_lengths = malloc((old_headers + added + 1) * sizeof *header_value_lengths);
  int64_t *timestamps = malloc((count + 1) * sizeof *timestamps);
  int32_t *targets = malloc((count + 1) * sizeof *targets);
  ok = ok && key_lengths && value_lengths && header_counts && name_lengths && header_value_lengths && timestamps && targets;
  const char *names[3] = {"topic", "partition", "offset"};
  size_t at = 0, header = 0, used = 0;
  for (size_t i = 0; ok && i < count; i++) {
    // The record's own bytes and headers, as they came.
    size_t own = in->header_counts.ptr[i];
    if (header + own > old_headers) {
      ok = false;
      break;
    }
    size_t bytes = span(in->key_lengths.ptr[i]) + span(in->value_lengths.ptr[i]);
    for (size_t h = header; h < header + own; h++) {
      bytes += in->header_name_lengths.ptr[h] + span(in->header_value_lengths.ptr[h]);
      name_lengths[used] = in->header_name_lengths.ptr[h];
      header_value_lengths[used++] = in->header_value_lengths.ptr[h];
    }
    if (at + bytes > in->data.len || !append(&data, in->data.ptr + at, bytes)) {
      ok = false;
      break;
    }
    at += bytes;
    header += own;
    // Then where it came from.
    char offset[24];
    decimal(batch->offsets.ptr[i], offset);
    const char *values[3] = {NULL, partition, offset};
    size_t value_lens[3] = {batch->topic.len, strlen(partition), strlen(offset)};
    for (int h = 0; ok && h < 3; h++) {
      size_t name_len = strlen(names[h]);
      ok = append(&data, prefix, prefix_len) && append(&data, names[h], name_len) &&
           append(&data, h == 0 ? (const void *) batch->topic.ptr : values[h], value_lens[h]);
      name_lengths[used] = (uint32_t) (prefix_len + name_len);
      header_value_lengths[used++] = (int32_t) value_lens[h];
    }
    key_lengths[i] = in->key_lengths.ptr[i];
    value_lengths[i] = in->value_lengths.ptr[i];
    header_counts[i] = (uint32_t) (own + 3);
    timestamps[i] = batch->timestamps.ptr[i];
    targets[i] = -1;
  }
  transform_input_batch_free(batch);
  if (!ok) {
    free(data.ptr);
    free(key_lengths);
    free(value_lengths);
    free(header_counts);
    free(name_lengths);
    free(header_value_lengths);
    free(timestamps);
    free(targets);
    return fail(err, "lineage ran out of memory or was given a batch whose lengths do not add up");
  }
  *ret = (transform_output_batch_t) {
      .contents =
          {
              .key_lengths = {key_lengths, count},
              .value_lengths = {value_lengths, count},
              .header_counts = {header_counts, count},
              .header_name_lengths = {name_lengths, used},
              .header_value_lengths = {header_value_lengths, used},
              .data = {data.ptr, data.len},
          },
      .timestamps = {timestamps, count},
      .targets = {targets, count},
      .topics = {NULL, 0},
  };
  return true;
}
