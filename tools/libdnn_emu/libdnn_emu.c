/* libdnn_emu.c: an emulated RDK X5 libdnn.so for testing BPU bindings off-board.
 *
 * Written for rdk_classifier from the public hbDNN / hbSys API documentation only. It implements
 * the calls the vendor's Python bindings import, on a model container of our own (see
 * tools/libdnn_emu/README.md and container.py):
 *
 *   "RDKEMU01" | uint32 little-endian JSON length | JSON (tensor properties) | ONNX bytes
 *
 * hbDNNInfer reads the NV12 input from the input tensor's memory by its declared shape, converts
 * it to RGB (BT.601 limited range, chroma sampled per 2x2 block), normalizes it with the
 * container's mean/scale, runs the ONNX network through a Python runner in the calling process
 * (libdnn_emu_runner.py next to this library; the bindings are Python extensions, so there always
 * is an interpreter), quantizes the output as declared and writes it in the aligned layout. Every
 * byte of the aligned buffer that is not a valid element holds PAD_BYTE (a sentinel: reading it as
 * a score changes the answer). Every call is appended as one JSON line to the file named by the
 * environment variable LIBDNN_EMU_LOG (read at each call).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fenv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/hb_dnn.h"
#include "dnn/hb_sys.h"

#define EXPORT __attribute__((visibility("default")))
#define PAD_BYTE 0x47
#define MAX_TENSORS 8
#define MAX_MODELS 16
#define NAME_LEN 128

static const char VERSION[] = "libdnn-emu 1.0 (rdk_classifier emulator of the hbDNN API)";
static const char MAGIC[8] = {'R', 'D', 'K', 'E', 'M', 'U', '0', '1'};

/* ------------------------------------------------------------------------------------ log */

static void emu_log(const char *fmt, ...) {
  const char *path = getenv("LIBDNN_EMU_LOG");
  if (path == NULL || path[0] == '\0') return;
  FILE *f = fopen(path, "a");
  if (f == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

/* a string as a JSON string body (names come from our own container, but be safe) */
static const char *json_safe(const char *s, char *buf, size_t n) {
  size_t j = 0;
  for (size_t i = 0; s != NULL && s[i] != '\0' && j + 2 < n; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[j++] = (c == '"' || c == '\\' || c < 0x20) ? '_' : (char)c;
  }
  buf[j] = '\0';
  return buf;
}

/* ----------------------------------------------------------------------------- tiny JSON */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jval {
  jtype type;
  double num;
  char *str;           /* J_STR; key of an object member */
  struct jval *items;  /* J_ARR / J_OBJ members */
  char **keys;         /* J_OBJ */
  int count;
} jval;

typedef struct {
  const char *p, *end;
  int depth;
} jparser;

static void jskip(jparser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
    ps->p++;
}

static void jfree(jval *v) {
  if (v == NULL) return;
  free(v->str);
  for (int i = 0; i < v->count; i++) {
    jfree(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof(*v));
}

static int jparse_value(jparser *ps, jval *out);

static int jparse_string(jparser *ps, char **out) {
  if (ps->p >= ps->end || *ps->p != '"') return -1;
  ps->p++;
  const char *start = ps->p;
  while (ps->p < ps->end && *ps->p != '"') {
    if (*ps->p == '\\') return -1; /* our container writes no escapes */
    ps->p++;
  }
  if (ps->p >= ps->end) return -1;
  size_t n = (size_t)(ps->p - start);
  *out = malloc(n + 1);
  if (*out == NULL) return -1;
  memcpy(*out, start, n);
  (*out)[n] = '\0';
  ps->p++;
  return 0;
}

static int jappend(jval *v, jval *item, char *key) {
  jval *items = realloc(v->items, sizeof(jval) * (size_t)(v->count + 1));
  if (items == NULL) return -1;
  v->items = items;
  if (v->type == J_OBJ) {
    char **keys = realloc(v->keys, sizeof(char *) * (size_t)(v->count + 1));
    if (keys == NULL) return -1;
    v->keys = keys;
    v->keys[v->count] = key;
  }
  v->items[v->count++] = *item;
  return 0;
}

static int jparse_value(jparser *ps, jval *out) {
  memset(out, 0, sizeof(*out));
  if (++ps->depth > 32) return -1;
  jskip(ps);
  if (ps->p >= ps->end) return -1;
  char c = *ps->p;
  int rc = 0;
  if (c == '{' || c == '[') {
    out->type = c == '{' ? J_OBJ : J_ARR;
    char close = c == '{' ? '}' : ']';
    ps->p++;
    jskip(ps);
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
    } else {
      for (;;) {
        char *key = NULL;
        jval item;
        jskip(ps);
        if (out->type == J_OBJ) {
          if (jparse_string(ps, &key) != 0) { rc = -1; break; }
          jskip(ps);
          if (ps->p >= ps->end || *ps->p != ':') { free(key); rc = -1; break; }
          ps->p++;
        }
        if (jparse_value(ps, &item) != 0 || jappend(out, &item, key) != 0) {
          jfree(&item);
          free(key);
          rc = -1;
          break;
        }
        jskip(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == close) { ps->p++; break; }
        rc = -1;
        break;
      }
    }
  } else if (c == '"') {
    out->type = J_STR;
    rc = jparse_string(ps, &out->str);
  } else if (ps->end - ps->p >= 4 && strncmp(ps->p, "null", 4) == 0) {
    out->type = J_NULL;
    ps->p += 4;
  } else if (ps->end - ps->p >= 4 && strncmp(ps->p, "true", 4) == 0) {
    out->type = J_BOOL;
    out->num = 1;
    ps->p += 4;
  } else if (ps->end - ps->p >= 5 && strncmp(ps->p, "false", 5) == 0) {
    out->type = J_BOOL;
    ps->p += 5;
  } else {
    char buf[64];
    size_t n = 0;
    while (ps->p + n < ps->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", ps->p[n]))
      n++;
    if (n == 0) return -1;
    memcpy(buf, ps->p, n);
    buf[n] = '\0';
    char *endp;
    out->type = J_NUM;
    out->num = strtod(buf, &endp);
    if (endp != buf + n) rc = -1;
    ps->p += n;
  }
  ps->depth--;
  return rc;
}

static const jval *jget(const jval *obj, const char *key) {
  if (obj == NULL || obj->type != J_OBJ) return NULL;
  for (int i = 0; i < obj->count; i++)
    if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
  return NULL;
}

/* ------------------------------------------------------------------------- model state */

typedef struct {
  char name[NAME_LEN];
  hbDNNTensorProperties props;
} emu_tensor;

typedef struct emu_model {
  unsigned magic;
  char name[NAME_LEN];
  char path[4096];
  long long onnx_offset, onnx_size;
  int input_count, output_count;
  emu_tensor inputs[MAX_TENSORS], outputs[MAX_TENSORS];
  float mean[3], scale[3];
  int network_nhwc;  /* the ONNX takes NHWC (else NCHW) */
  int bpu_cores;     /* cores of the emulated chip (X5: 1) */
  int fail_infer;    /* fault injection: hbDNNInfer fails */
  long runner_id;    /* -1 until the Python runner has the network */
  struct emu_packed *owner;
} emu_model;

typedef struct emu_packed {
  unsigned magic;
  int count;
  emu_model *models[MAX_MODELS];
  const char *names[MAX_MODELS];
} emu_packed;

typedef struct {
  unsigned magic;
  emu_model *model;
  int status;
} emu_task;

#define MODEL_MAGIC 0x4d4f444cU
#define PACKED_MAGIC 0x5041434bU
#define TASK_MAGIC 0x5441534bU

static int type_from_name(const char *s) {
  static const char *names[] = {"Y", "NV12", "NV12_SEPARATE", "YUV444", "RGB", "BGR", "S4", "U4",
                                "S8", "U8", "F16", "S16", "U16", "F32", "S32", "U32", "F64",
                                "S64", "U64"};
  for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

static int type_size(int t) {
  switch (t) {
    case HB_DNN_TENSOR_TYPE_S8: case HB_DNN_TENSOR_TYPE_U8: return 1;
    case HB_DNN_TENSOR_TYPE_S16: case HB_DNN_TENSOR_TYPE_U16: case HB_DNN_TENSOR_TYPE_F16: return 2;
    case HB_DNN_TENSOR_TYPE_S32: case HB_DNN_TENSOR_TYPE_U32: case HB_DNN_TENSOR_TYPE_F32: return 4;
    case HB_DNN_TENSOR_TYPE_S64: case HB_DNN_TENSOR_TYPE_U64: case HB_DNN_TENSOR_TYPE_F64: return 8;
    default: return 1; /* image types: bytes */
  }
}

static int read_shape(const jval *arr, hbDNNTensorShape *shape) {
  memset(shape, 0, sizeof(*shape));
  if (arr == NULL || arr->type != J_ARR || arr->count < 1 || arr->count > HB_DNN_TENSOR_MAX_DIMENSIONS)
    return -1;
  for (int i = 0; i < arr->count; i++) {
    if (arr->items[i].type != J_NUM || arr->items[i].num < 1 || arr->items[i].num > 1e8) return -1;
    shape->dimensionSize[i] = (int32_t)arr->items[i].num;
  }
  shape->numDimensions = arr->count;
  return 0;
}

static double jnum(const jval *v, double fallback) {
  return (v != NULL && (v->type == J_NUM || v->type == J_BOOL)) ? v->num : fallback;
}

static int read_tensor(const jval *t, emu_tensor *out, char *why, size_t nwhy) {
  memset(out, 0, sizeof(*out));
  const jval *name = jget(t, "name"), *type = jget(t, "tensor_type"), *layout = jget(t, "layout");
  if (name == NULL || name->type != J_STR || type == NULL || type->type != J_STR) {
    snprintf(why, nwhy, "a tensor needs a name and a tensor_type");
    return -1;
  }
  snprintf(out->name, sizeof(out->name), "%s", name->str);
  hbDNNTensorProperties *p = &out->props;
  p->tensorType = type_from_name(type->str);
  if (p->tensorType < 0) {
    snprintf(why, nwhy, "tensor %s: unknown tensor_type %s", name->str, type->str);
    return -1;
  }
  p->tensorLayout = HB_DNN_LAYOUT_NONE;
  if (layout != NULL && layout->type == J_STR)
    p->tensorLayout = strcmp(layout->str, "NCHW") == 0 ? HB_DNN_LAYOUT_NCHW
                      : strcmp(layout->str, "NHWC") == 0 ? HB_DNN_LAYOUT_NHWC : HB_DNN_LAYOUT_NONE;
  if (read_shape(jget(t, "valid_shape"), &p->validShape) != 0 ||
      read_shape(jget(t, "aligned_shape"), &p->alignedShape) != 0 ||
      p->validShape.numDimensions != p->alignedShape.numDimensions) {
    snprintf(why, nwhy, "tensor %s: bad valid_shape / aligned_shape", name->str);
    return -1;
  }
  double elements = 1;
  for (int i = 0; i < p->validShape.numDimensions; i++) {
    if (p->alignedShape.dimensionSize[i] < p->validShape.dimensionSize[i]) {
      snprintf(why, nwhy, "tensor %s: aligned_shape smaller than valid_shape", name->str);
      return -1;
    }
    elements *= p->alignedShape.dimensionSize[i];
  }
  if (elements * type_size(p->tensorType) > 2147483647.0) {
    snprintf(why, nwhy, "tensor %s: more than 2 GiB", name->str);
    return -1;
  }
  const jval *stride = jget(t, "stride");
  if (stride != NULL && stride->type == J_ARR) {
    for (int i = 0; i < stride->count && i < HB_DNN_TENSOR_MAX_DIMENSIONS; i++)
      p->stride[i] = (int32_t)jnum(&stride->items[i], 0);
  }
  p->alignedByteSize = (int32_t)jnum(jget(t, "aligned_byte_size"), 0);
  const jval *qt = jget(t, "quanti_type");
  p->quantiType = (qt != NULL && qt->type == J_STR && strcmp(qt->str, "SCALE") == 0) ? SCALE : NONE;
  p->quantizeAxis = (int32_t)jnum(jget(t, "quantize_axis"), -1);
  const jval *scale = jget(t, "scale"), *zp = jget(t, "zero_point");
  if (scale != NULL && scale->type == J_ARR && scale->count > 0) {
    p->scale.scaleLen = scale->count;
    p->scale.scaleData = calloc((size_t)scale->count, sizeof(float));
    if (p->scale.scaleData == NULL) return -1;
    for (int i = 0; i < scale->count; i++) p->scale.scaleData[i] = (float)jnum(&scale->items[i], 0);
  }
  if (zp != NULL && zp->type == J_ARR && zp->count > 0) {
    p->scale.zeroPointLen = zp->count;
    p->scale.zeroPointData = calloc((size_t)zp->count, sizeof(int8_t));
    if (p->scale.zeroPointData == NULL) return -1;
    for (int i = 0; i < zp->count; i++) {
      double v = jnum(&zp->items[i], 0);
      if (v < -128 || v > 127) {
        snprintf(why, nwhy, "tensor %s: zero point %g outside int8", name->str, v);
        return -1;
      }
      p->scale.zeroPointData[i] = (int8_t)v;
    }
  }
  if (p->quantiType == SCALE && p->scale.scaleLen == 0) {
    snprintf(why, nwhy, "tensor %s: quanti_type SCALE without scale values", name->str);
    return -1;
  }
  return 0;
}

static void free_tensor(emu_tensor *t) {
  free(t->props.scale.scaleData);
  free(t->props.scale.zeroPointData);
  t->props.scale.scaleData = NULL;
  t->props.scale.zeroPointData = NULL;
}

static void release_network(emu_model *m);

static void free_model(emu_model *m) {
  if (m == NULL) return;
  release_network(m);
  for (int i = 0; i < m->input_count; i++) free_tensor(&m->inputs[i]);
  for (int i = 0; i < m->output_count; i++) free_tensor(&m->outputs[i]);
  m->magic = 0;
  free(m);
}

static emu_model *load_container(const char *path, int32_t *err, char *why, size_t nwhy) {
  *err = HB_DNN_INVALID_MODEL;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    *err = HB_DNN_CAN_NOT_OPEN_FILE;
    snprintf(why, nwhy, "cannot open: %s", strerror(errno));
    return NULL;
  }
  unsigned char head[12];
  if (fread(head, 1, 12, f) != 12 || memcmp(head, MAGIC, 8) != 0) {
    fclose(f);
    snprintf(why, nwhy, "not an emulator container (magic RDKEMU01 missing)");
    return NULL;
  }
  uint32_t jlen = (uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16 |
                  (uint32_t)head[11] << 24;
  if (jlen == 0 || jlen > (16u << 20)) {
    fclose(f);
    snprintf(why, nwhy, "bad JSON length %u", jlen);
    return NULL;
  }
  char *text = malloc(jlen);
  if (text == NULL || fread(text, 1, jlen, f) != jlen) {
    free(text);
    fclose(f);
    snprintf(why, nwhy, "truncated container");
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long total = ftell(f);
  fclose(f);
  jparser ps = {text, text + jlen, 0};
  jval root;
  if (jparse_value(&ps, &root) != 0 || root.type != J_OBJ) {
    jfree(&root);
    free(text);
    snprintf(why, nwhy, "container JSON does not parse");
    return NULL;
  }
  free(text);
  emu_model *m = calloc(1, sizeof(emu_model));
  if (m == NULL) {
    jfree(&root);
    *err = HB_DNN_OUT_OF_MEMORY;
    return NULL;
  }
  m->magic = MODEL_MAGIC;
  m->runner_id = -1;
  snprintf(m->path, sizeof(m->path), "%s", path);
  m->onnx_offset = 12 + (long long)jlen;
  m->onnx_size = total - m->onnx_offset;
  const jval *name = jget(&root, "model_name");
  snprintf(m->name, sizeof(m->name), "%s", (name && name->type == J_STR) ? name->str : "model");
  const jval *inputs = jget(&root, "inputs"), *outputs = jget(&root, "outputs");
  const jval *net = jget(&root, "network");
  /* one image input, one output: what a classification model has */
  int ok = inputs && inputs->type == J_ARR && outputs && outputs->type == J_ARR &&
           inputs->count == 1 && outputs->count == 1 && net && net->type == J_OBJ &&
           m->onnx_size > 0;
  if (!ok) snprintf(why, nwhy, "container needs one input, one output, network and an ONNX");
  for (int i = 0; ok && i < inputs->count; i++, m->input_count++)
    ok = read_tensor(&inputs->items[i], &m->inputs[i], why, nwhy) == 0;
  for (int i = 0; ok && i < outputs->count; i++, m->output_count++)
    ok = read_tensor(&outputs->items[i], &m->outputs[i], why, nwhy) == 0;
  if (ok) {
    const jval *mean = jget(net, "mean"), *scale = jget(net, "scale");
    ok = mean && mean->type == J_ARR && mean->count == 3 && scale && scale->type == J_ARR &&
         scale->count == 3;
    for (int c = 0; ok && c < 3; c++) {
      m->mean[c] = (float)jnum(&mean->items[c], 0);
      m->scale[c] = (float)jnum(&scale->items[c], 1);
    }
    const jval *layout = jget(net, "input_layout");
    m->network_nhwc = layout && layout->type == J_STR && strcmp(layout->str, "NHWC") == 0;
    m->bpu_cores = (int)jnum(jget(&root, "bpu_cores"), 1);
    const jval *faults = jget(&root, "faults");
    m->fail_infer = (int)jnum(jget(faults, "infer"), 0);
    if (!ok) snprintf(why, nwhy, "network needs mean and scale of 3 values");
  }
  jfree(&root);
  if (!ok) {
    free_model(m);
    return NULL;
  }
  *err = HB_DNN_SUCCESS;
  return m;
}

/* --------------------------------------------------------------- the Python-side runner */

/* The CPython C API, found in the calling process (a Python extension loaded this library).
   Declared here with void* for PyObject*: no Python header is needed to build the emulator. */
typedef struct {
  int ready;
  int (*GILState_Ensure)(void);
  void (*GILState_Release)(int);
  void *(*Import_ImportModule)(const char *);
  void *(*Object_CallMethod)(void *, const char *, const char *, ...);
  void *(*MemoryView_FromMemory)(char *, long, int);
  long (*Long_AsLong)(void *);
  void (*DecRef)(void *);
  void *(*Err_Occurred)(void);
  void (*Err_Fetch)(void **, void **, void **);
  void (*Err_Clear)(void);
  void *(*Object_Str)(void *);
  const char *(*Unicode_AsUTF8)(void *);
  void *(*Sys_GetObject)(const char *);
  int (*List_Insert)(void *, long, void *);
  void *(*Unicode_FromString)(const char *);
} py_api;

static py_api PY;
static char last_error[1024];

static int py_bind(void) {
  if (PY.ready) return 0;
#define BIND(field, sym) if ((*(void **)&PY.field = dlsym(RTLD_DEFAULT, sym)) == NULL) return -1
  BIND(GILState_Ensure, "PyGILState_Ensure");
  BIND(GILState_Release, "PyGILState_Release");
  BIND(Import_ImportModule, "PyImport_ImportModule");
  BIND(Object_CallMethod, "PyObject_CallMethod");
  BIND(MemoryView_FromMemory, "PyMemoryView_FromMemory");
  BIND(Long_AsLong, "PyLong_AsLong");
  BIND(DecRef, "Py_DecRef");
  BIND(Err_Occurred, "PyErr_Occurred");
  BIND(Err_Fetch, "PyErr_Fetch");
  BIND(Err_Clear, "PyErr_Clear");
  BIND(Object_Str, "PyObject_Str");
  BIND(Unicode_AsUTF8, "PyUnicode_AsUTF8");
  BIND(Sys_GetObject, "PySys_GetObject");
  BIND(List_Insert, "PyList_Insert");
  BIND(Unicode_FromString, "PyUnicode_FromString");
#undef BIND
  PY.ready = 1;
  return 0;
}

/* the pending Python exception as last_error, cleared */
static void py_take_error(const char *where) {
  void *type = NULL, *value = NULL, *tb = NULL;
  PY.Err_Fetch(&type, &value, &tb);
  const char *text = "unknown error";
  void *str = value ? PY.Object_Str(value) : NULL;
  if (str) text = PY.Unicode_AsUTF8(str);
  snprintf(last_error, sizeof(last_error), "%s: %s", where, text ? text : "?");
  if (PY.Err_Occurred()) PY.Err_Clear();
  if (str) PY.DecRef(str);
  if (type) PY.DecRef(type);
  if (value) PY.DecRef(value);
  if (tb) PY.DecRef(tb);
}

/* libdnn_emu_runner, imported from this library's own folder when not importable otherwise */
static void *py_runner(void) {
  void *mod = PY.Import_ImportModule("libdnn_emu_runner");
  if (mod != NULL) return mod;
  PY.Err_Clear();
  Dl_info info;
  if (dladdr((void *)&py_runner, &info) == 0 || info.dli_fname == NULL) return NULL;
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", info.dli_fname);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) return NULL;
  *slash = '\0';
  void *path = PY.Sys_GetObject("path"); /* borrowed */
  void *entry = PY.Unicode_FromString(dir);
  if (path == NULL || entry == NULL) return NULL;
  PY.List_Insert(path, 0, entry);
  PY.DecRef(entry);
  return PY.Import_ImportModule("libdnn_emu_runner");
}

/* run the network: in = normalized float image, out = n float scores; 0 or -1 (last_error) */
static int run_network(emu_model *m, float *in, int h, int w, float *out, long n_out) {
  long n_in = (long)h * w * 3;
  if (py_bind() != 0) {
    snprintf(last_error, sizeof(last_error), "no Python interpreter in this process");
    return -1;
  }
  int gil = PY.GILState_Ensure();
  int rc = -1;
  void *runner = py_runner();
  if (runner == NULL) {
    py_take_error("import libdnn_emu_runner");
    PY.GILState_Release(gil);
    return -1;
  }
  if (m->runner_id < 0) {
    void *id = PY.Object_CallMethod(runner, "load", "sLL", m->path, m->onnx_offset, m->onnx_size);
    if (id == NULL) {
      py_take_error("runner.load");
      goto done;
    }
    m->runner_id = PY.Long_AsLong(id);
    PY.DecRef(id);
  }
  void *vin = PY.MemoryView_FromMemory((char *)in, n_in * (long)sizeof(float), 0x100);
  void *vout = PY.MemoryView_FromMemory((char *)out, n_out * (long)sizeof(float), 0x200);
  if (vin && vout) {
    void *r = PY.Object_CallMethod(runner, "run", "lOOii", m->runner_id, vin, vout, h, w);
    if (r == NULL) {
      py_take_error("runner.run");
    } else {
      PY.DecRef(r);
      rc = 0;
    }
  } else {
    py_take_error("memoryview");
  }
  if (vin) PY.DecRef(vin);
  if (vout) PY.DecRef(vout);
done:
  PY.DecRef(runner);
  PY.GILState_Release(gil);
  return rc;
}

/* drop the runner's session of this model (nothing to do when it never ran) */
static void release_network(emu_model *m) {
  if (m->runner_id < 0 || py_bind() != 0) return;
  int gil = PY.GILState_Ensure();
  void *runner = py_runner();
  if (runner != NULL) {
    void *r = PY.Object_CallMethod(runner, "release", "l", m->runner_id);
    if (r == NULL) py_take_error("runner.release"); else PY.DecRef(r);
    PY.DecRef(runner);
  } else {
    py_take_error("import libdnn_emu_runner");
  }
  m->runner_id = -1;
  PY.GILState_Release(gil);
}

/* ------------------------------------------------------------------ pre and post processing */

static int clamp255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* NV12 (Y rows, then interleaved U/V rows at half height) -> normalized float image.
   BT.601 limited range: R = 1.164 (Y - 16) + 1.596 (V - 128), G = 1.164 (Y - 16) - 0.813 (V - 128)
   - 0.391 (U - 128), B = 1.164 (Y - 16) + 2.018 (U - 128), in 20-bit fixed point. */
static void nv12_to_network(const emu_model *m, const uint8_t *y_plane, const uint8_t *uv_plane,
                            int h, int w, int pitch, float *dst) {
  const int CY = 1220542, CVR = 1673527, CVG = -852492, CUG = -409993, CUB = 2116026;
  const int ROUND = 1 << 19;
  for (int r = 0; r < h; r++) {
    const uint8_t *yrow = y_plane + (size_t)r * pitch;
    const uint8_t *uvrow = uv_plane + (size_t)(r / 2) * pitch;
    for (int c = 0; c < w; c++) {
      int yy = yrow[c] - 16;
      int y = (yy < 0 ? 0 : yy) * CY;
      int u = uvrow[(c & ~1)] - 128, v = uvrow[(c & ~1) + 1] - 128;
      int rgb[3] = {clamp255((y + CVR * v + ROUND) >> 20),
                    clamp255((y + CVG * v + CUG * u + ROUND) >> 20),
                    clamp255((y + CUB * u + ROUND) >> 20)};
      for (int ch = 0; ch < 3; ch++) {
        float value = ((float)rgb[ch] - m->mean[ch]) * m->scale[ch];
        size_t at = m->network_nhwc ? ((size_t)r * w + c) * 3 + ch
                                    : (size_t)ch * h * w + (size_t)r * w + c;
        dst[at] = value;
      }
    }
  }
}

static int nv12_dims(const hbDNNTensorProperties *p, const hbDNNTensorShape *s, int *h, int *w) {
  if (s->numDimensions != 4) return -1;
  int nhwc = p->tensorLayout == HB_DNN_LAYOUT_NHWC;
  *h = s->dimensionSize[nhwc ? 1 : 2];
  *w = s->dimensionSize[nhwc ? 2 : 3];
  return (*h > 0 && *w > 0 && *h % 2 == 0 && *w % 2 == 0) ? 0 : -1;
}

static long long prod(const hbDNNTensorShape *s) {
  long long n = 1;
  for (int i = 0; i < s->numDimensions; i++) n *= s->dimensionSize[i];
  return n;
}

static long long clip(double v, double lo, double hi) {
  return (long long)(v < lo ? lo : v > hi ? hi : v);
}

/* one output: quantize as declared, write the valid elements into the aligned C-order layout */
static int write_output(const hbDNNTensor *t, const float *values, long long n) {
  const hbDNNTensorProperties *p = &t->properties;
  int size = type_size(p->tensorType);
  long long aligned_n = prod(&p->alignedShape);
  if (prod(&p->validShape) != n || (long long)t->sysMem[0].memSize < aligned_n * size ||
      t->sysMem[0].virAddr == NULL)
    return -1;
  uint8_t *base = t->sysMem[0].virAddr;
  memset(base, PAD_BYTE, (size_t)t->sysMem[0].memSize);
  int nd = p->validShape.numDimensions;
  long long astride[HB_DNN_TENSOR_MAX_DIMENSIONS];
  astride[nd - 1] = 1;
  for (int d = nd - 2; d >= 0; d--) astride[d] = astride[d + 1] * p->alignedShape.dimensionSize[d + 1];
  int saved_round = fegetround();
  fesetround(FE_TONEAREST);
  for (long long i = 0; i < n; i++) {
    long long rem = i, off = 0;
    int channel = 0;
    for (int d = nd - 1; d >= 0; d--) {
      long long coord = rem % p->validShape.dimensionSize[d];
      rem /= p->validShape.dimensionSize[d];
      off += coord * astride[d];
      if (d == p->quantizeAxis) channel = (int)coord;
    }
    double x = values[i];
    if (p->quantiType == SCALE) {
      int k = p->scale.scaleLen == 1 ? 0 : channel;
      if (k >= p->scale.scaleLen) k = 0;
      double zp = p->scale.zeroPointLen > k ? p->scale.zeroPointData[k] : 0;
      x = nearbyint(x / p->scale.scaleData[k] + zp);
    }
    uint8_t *dst = base + off * size;
    switch (p->tensorType) {
      case HB_DNN_TENSOR_TYPE_F32: { float v = (float)values[i]; memcpy(dst, &v, 4); break; }
      case HB_DNN_TENSOR_TYPE_S32: { int32_t v = (int32_t)clip(x, -2147483648.0, 2147483647.0); memcpy(dst, &v, 4); break; }
      case HB_DNN_TENSOR_TYPE_S16: { int16_t v = (int16_t)clip(x, -32768, 32767); memcpy(dst, &v, 2); break; }
      case HB_DNN_TENSOR_TYPE_S8: { int8_t v = (int8_t)clip(x, -128, 127); memcpy(dst, &v, 1); break; }
      default: fesetround(saved_round); return -1;
    }
  }
  fesetround(saved_round);
  return 0;
}

/* ---------------------------------------------------------------------------- the API */

EXPORT const char *hbDNNGetVersion(void) {
  emu_log("{\"call\": \"hbDNNGetVersion\"}");
  return VERSION;
}

EXPORT const char *hbDNNGetErrorDesc(int32_t code) {
  switch (code) {
    case HB_DNN_SUCCESS: return "success";
    case HB_DNN_INVALID_ARGUMENT: return "invalid argument";
    case HB_DNN_INVALID_MODEL: return "invalid model";
    case HB_DNN_INVALID_PACKED_DNN_HANDLE: return "invalid packed dnn handle";
    case HB_DNN_INVALID_DNN_HANDLE: return "invalid dnn handle";
    case HB_DNN_CAN_NOT_OPEN_FILE: return "can not open file";
    case HB_DNN_OUT_OF_MEMORY: return "out of memory";
    case HB_DNN_INVALID_TASK_HANDLE: return "invalid task handle";
    case HB_DNN_RUN_TASK_FAILED: return "run task failed";
    case HB_DNN_API_USE_ERROR: return "api use error";
    default: return "unknown error";
  }
}

EXPORT int32_t hbDNNInitializeFromFiles(hbPackedDNNHandle_t *packed, const char **files,
                                        int32_t count) {
  char why[512] = "", safe[4096], safe_why[512];
  if (packed == NULL || files == NULL || count < 1 || count > MAX_MODELS) {
    emu_log("{\"call\": \"hbDNNInitializeFromFiles\", \"ret\": %d}", HB_DNN_INVALID_ARGUMENT);
    return HB_DNN_INVALID_ARGUMENT;
  }
  emu_packed *pk = calloc(1, sizeof(emu_packed));
  if (pk == NULL) return HB_DNN_OUT_OF_MEMORY;
  pk->magic = PACKED_MAGIC;
  for (int i = 0; i < count; i++) {
    int32_t err = HB_DNN_INVALID_ARGUMENT;
    emu_model *m = files[i] ? load_container(files[i], &err, why, sizeof(why)) : NULL;
    emu_log("{\"call\": \"hbDNNInitializeFromFiles\", \"file\": \"%s\", \"ret\": %d, \"why\": \"%s\"}",
            json_safe(files[i], safe, sizeof(safe)), m ? 0 : err, json_safe(why, safe_why, sizeof(safe_why)));
    if (m == NULL) {
      for (int j = 0; j < pk->count; j++) free_model(pk->models[j]);
      free(pk);
      return files[i] ? err : HB_DNN_INVALID_ARGUMENT;
    }
    m->owner = pk;
    pk->models[pk->count] = m;
    pk->names[pk->count++] = m->name;
  }
  *packed = pk;
  return HB_DNN_SUCCESS;
}

static emu_packed *as_packed(hbPackedDNNHandle_t h) {
  emu_packed *pk = h;
  return (pk != NULL && pk->magic == PACKED_MAGIC) ? pk : NULL;
}

static emu_model *as_model(hbDNNHandle_t h) {
  emu_model *m = h;
  return (m != NULL && m->magic == MODEL_MAGIC) ? m : NULL;
}

EXPORT int32_t hbDNNGetModelNameList(const char ***names, int32_t *count, hbPackedDNNHandle_t h) {
  emu_packed *pk = as_packed(h);
  emu_log("{\"call\": \"hbDNNGetModelNameList\", \"ret\": %d}", pk ? 0 : HB_DNN_INVALID_PACKED_DNN_HANDLE);
  if (pk == NULL || names == NULL || count == NULL) return HB_DNN_INVALID_PACKED_DNN_HANDLE;
  *names = pk->names;
  *count = pk->count;
  return HB_DNN_SUCCESS;
}

EXPORT int32_t hbDNNGetModelHandle(hbDNNHandle_t *out, hbPackedDNNHandle_t h, const char *name) {
  emu_packed *pk = as_packed(h);
  char safe[NAME_LEN * 2];
  int32_t ret = HB_DNN_INVALID_PACKED_DNN_HANDLE;
  if (pk != NULL && out != NULL && name != NULL) {
    ret = HB_DNN_INVALID_ARGUMENT;
    for (int i = 0; i < pk->count; i++)
      if (strcmp(pk->models[i]->name, name) == 0) {
        *out = pk->models[i];
        ret = HB_DNN_SUCCESS;
      }
  }
  emu_log("{\"call\": \"hbDNNGetModelHandle\", \"model\": \"%s\", \"ret\": %d}",
          json_safe(name, safe, sizeof(safe)), ret);
  return ret;
}

EXPORT int32_t hbDNNRelease(hbPackedDNNHandle_t h) {
  emu_packed *pk = as_packed(h);
  emu_log("{\"call\": \"hbDNNRelease\", \"models\": %d, \"ret\": %d}", pk ? pk->count : 0,
          pk ? 0 : HB_DNN_INVALID_PACKED_DNN_HANDLE);
  if (pk == NULL) return HB_DNN_INVALID_PACKED_DNN_HANDLE;
  for (int i = 0; i < pk->count; i++) free_model(pk->models[i]);
  pk->magic = 0;
  free(pk);
  return HB_DNN_SUCCESS;
}

static int32_t get_count(int32_t *out, hbDNNHandle_t h, int outputs, const char *call) {
  emu_model *m = as_model(h);
  emu_log("{\"call\": \"%s\", \"ret\": %d}", call, m ? 0 : HB_DNN_INVALID_DNN_HANDLE);
  if (m == NULL || out == NULL) return HB_DNN_INVALID_DNN_HANDLE;
  *out = outputs ? m->output_count : m->input_count;
  return HB_DNN_SUCCESS;
}

static emu_tensor *get_tensor(hbDNNHandle_t h, int outputs, int32_t index, const char *call) {
  emu_model *m = as_model(h);
  emu_tensor *t = NULL;
  if (m != NULL && index >= 0 && index < (outputs ? m->output_count : m->input_count))
    t = outputs ? &m->outputs[index] : &m->inputs[index];
  emu_log("{\"call\": \"%s\", \"index\": %d, \"ret\": %d}", call, index,
          t ? 0 : HB_DNN_INVALID_ARGUMENT);
  return t;
}

EXPORT int32_t hbDNNGetInputCount(int32_t *n, hbDNNHandle_t h) {
  return get_count(n, h, 0, "hbDNNGetInputCount");
}

EXPORT int32_t hbDNNGetOutputCount(int32_t *n, hbDNNHandle_t h) {
  return get_count(n, h, 1, "hbDNNGetOutputCount");
}

EXPORT int32_t hbDNNGetInputName(const char **name, hbDNNHandle_t h, int32_t i) {
  emu_tensor *t = get_tensor(h, 0, i, "hbDNNGetInputName");
  if (t == NULL || name == NULL) return HB_DNN_INVALID_ARGUMENT;
  *name = t->name;
  return HB_DNN_SUCCESS;
}

EXPORT int32_t hbDNNGetOutputName(const char **name, hbDNNHandle_t h, int32_t i) {
  emu_tensor *t = get_tensor(h, 1, i, "hbDNNGetOutputName");
  if (t == NULL || name == NULL) return HB_DNN_INVALID_ARGUMENT;
  *name = t->name;
  return HB_DNN_SUCCESS;
}

EXPORT int32_t hbDNNGetInputTensorProperties(hbDNNTensorProperties *p, hbDNNHandle_t h, int32_t i) {
  emu_tensor *t = get_tensor(h, 0, i, "hbDNNGetInputTensorProperties");
  if (t == NULL || p == NULL) return HB_DNN_INVALID_ARGUMENT;
  *p = t->props;
  return HB_DNN_SUCCESS;
}

EXPORT int32_t hbDNNGetOutputTensorProperties(hbDNNTensorProperties *p, hbDNNHandle_t h, int32_t i) {
  emu_tensor *t = get_tensor(h, 1, i, "hbDNNGetOutputTensorProperties");
  if (t == NULL || p == NULL) return HB_DNN_INVALID_ARGUMENT;
  *p = t->props;
  return HB_DNN_SUCCESS;
}

/* the network input from the NV12 (or NV12_SEPARATE) input tensor; -1 with last_error */
static int read_input(const emu_model *m, const hbDNNTensor *in, float *dst) {
  const hbDNNTensorProperties *p = &in->properties;
  int h, w, ah, aw;
  if (p->tensorType != HB_DNN_IMG_TYPE_NV12 && p->tensorType != HB_DNN_IMG_TYPE_NV12_SEPARATE) {
    snprintf(last_error, sizeof(last_error), "input tensorType %d: the emulator takes NV12 only",
             p->tensorType);
    return -1;
  }
  if (nv12_dims(p, &p->validShape, &h, &w) != 0 || nv12_dims(p, &p->alignedShape, &ah, &aw) != 0 ||
      ah < h || aw < w) {
    snprintf(last_error, sizeof(last_error), "input shapes are not an even NV12 image");
    return -1;
  }
  const uint8_t *y = in->sysMem[0].virAddr, *uv;
  size_t y_size = (size_t)aw * ah, uv_size = y_size / 2;
  if (p->tensorType == HB_DNN_IMG_TYPE_NV12) {
    if (y == NULL || in->sysMem[0].memSize < y_size + uv_size) {
      snprintf(last_error, sizeof(last_error), "input memory %u bytes < NV12 %zu",
               in->sysMem[0].memSize, y_size + uv_size);
      return -1;
    }
    uv = y + y_size;
  } else {
    uv = in->sysMem[1].virAddr;
    if (y == NULL || uv == NULL || in->sysMem[0].memSize < y_size || in->sysMem[1].memSize < uv_size) {
      snprintf(last_error, sizeof(last_error), "NV12_SEPARATE input memory too small");
      return -1;
    }
  }
  nv12_to_network(m, y, uv, h, w, aw, dst);
  (void)m;
  return 0;
}

EXPORT int32_t hbDNNInfer(hbDNNTaskHandle_t *task, hbDNNTensor **output, const hbDNNTensor *input,
                          hbDNNHandle_t h, hbDNNInferCtrlParam *ctrl) {
  emu_model *m = as_model(h);
  int32_t ret = HB_DNN_SUCCESS;
  char safe[NAME_LEN * 2], why[1200];
  float *net_in = NULL, *net_out = NULL;
  last_error[0] = '\0';
  if (m == NULL) {
    ret = HB_DNN_INVALID_DNN_HANDLE;
  } else if (task == NULL || output == NULL || *output == NULL || input == NULL || ctrl == NULL) {
    ret = HB_DNN_INVALID_ARGUMENT;
    snprintf(last_error, sizeof(last_error), "null argument");
  } else if (ctrl->priority < HB_DNN_PRIORITY_LOWEST || ctrl->priority > HB_DNN_PRIORITY_HIGHEST) {
    ret = HB_DNN_INVALID_ARGUMENT;
    snprintf(last_error, sizeof(last_error), "priority %d outside 0..255", ctrl->priority);
  } else if (ctrl->bpuCoreId < 0 || ctrl->bpuCoreId >= (1 << m->bpu_cores)) {
    ret = HB_DNN_INVALID_ARGUMENT;
    snprintf(last_error, sizeof(last_error), "bpuCoreId %d: this chip has %d core(s)",
             ctrl->bpuCoreId, m->bpu_cores);
  } else if (m->fail_infer) {
    ret = HB_DNN_RUN_TASK_FAILED;
    snprintf(last_error, sizeof(last_error), "fault injected by the container");
  } else {
    int hh = 0, ww = 0;
    nv12_dims(&input[0].properties, &input[0].properties.validShape, &hh, &ww);
    long n_in = (long)hh * ww * 3;
    long long n_out = prod(&m->outputs[0].props.validShape);
    net_in = malloc(sizeof(float) * (size_t)(n_in > 0 ? n_in : 1));
    net_out = malloc(sizeof(float) * (size_t)n_out);
    if (net_in == NULL || net_out == NULL) {
      ret = HB_DNN_OUT_OF_MEMORY;
    } else if (read_input(m, &input[0], net_in) != 0) {
      ret = HB_DNN_INVALID_ARGUMENT;
    } else if (run_network(m, net_in, hh, ww, net_out, (long)n_out) != 0) {
      ret = HB_DNN_RUN_TASK_FAILED;
    } else if (write_output(&(*output)[0], net_out, n_out) != 0) {
      ret = HB_DNN_INVALID_ARGUMENT;
      snprintf(last_error, sizeof(last_error), "output tensor memory or shape does not fit");
    }
  }
  if (ret == HB_DNN_SUCCESS) {
    emu_task *t = calloc(1, sizeof(emu_task));
    if (t == NULL) {
      ret = HB_DNN_OUT_OF_MEMORY;
    } else {
      t->magic = TASK_MAGIC;
      t->model = m;
      *task = t;
    }
  }
  emu_log("{\"call\": \"hbDNNInfer\", \"model\": \"%s\", \"bpuCoreId\": %d, \"priority\": %d, "
          "\"customId\": %lld, \"input_bytes\": %u, \"ret\": %d, \"why\": \"%s\"}",
          m ? json_safe(m->name, safe, sizeof(safe)) : "", ctrl ? ctrl->bpuCoreId : -1,
          ctrl ? ctrl->priority : -1, ctrl ? (long long)ctrl->customId : -1LL,
          input ? input[0].sysMem[0].memSize : 0u, ret, json_safe(last_error, why, sizeof(why)));
  if (ret != HB_DNN_SUCCESS && last_error[0] != '\0')
    fprintf(stderr, "libdnn-emu: hbDNNInfer failed (%d): %s\n", ret, last_error);
  free(net_in);
  free(net_out);
  return ret;
}

EXPORT int32_t hbDNNWaitTaskDone(hbDNNTaskHandle_t h, int32_t timeout) {
  emu_task *t = h;
  int ok = t != NULL && t->magic == TASK_MAGIC;
  emu_log("{\"call\": \"hbDNNWaitTaskDone\", \"timeout\": %d, \"ret\": %d}", timeout,
          ok ? t->status : HB_DNN_INVALID_TASK_HANDLE);
  return ok ? t->status : HB_DNN_INVALID_TASK_HANDLE;
}

EXPORT int32_t hbDNNReleaseTask(hbDNNTaskHandle_t h) {
  emu_task *t = h;
  int ok = t != NULL && t->magic == TASK_MAGIC;
  emu_log("{\"call\": \"hbDNNReleaseTask\", \"ret\": %d}", ok ? 0 : HB_DNN_INVALID_TASK_HANDLE);
  if (!ok) return HB_DNN_INVALID_TASK_HANDLE;
  t->magic = 0;
  free(t);
  return HB_DNN_SUCCESS;
}

static int32_t alloc_mem(hbSysMem *mem, uint32_t size, const char *call) {
  void *p = NULL;
  int32_t ret = HB_DNN_SUCCESS;
  if (mem == NULL || size == 0) {
    ret = HB_DNN_INVALID_ARGUMENT;
  } else if (posix_memalign(&p, 64, size) != 0) {
    ret = HB_DNN_OUT_OF_MEMORY;
  } else {
    memset(p, 0, size);
    mem->virAddr = p;
    mem->phyAddr = (uint64_t)(uintptr_t)p;
    mem->memSize = size;
  }
  emu_log("{\"call\": \"%s\", \"size\": %u, \"addr\": %llu, \"ret\": %d}", call, size,
          (unsigned long long)(uintptr_t)p, ret);
  return ret;
}

EXPORT int32_t hbSysAllocMem(hbSysMem *mem, uint32_t size) {
  return alloc_mem(mem, size, "hbSysAllocMem");
}

EXPORT int32_t hbSysAllocCachedMem(hbSysMem *mem, uint32_t size) {
  return alloc_mem(mem, size, "hbSysAllocCachedMem");
}

EXPORT int32_t hbSysFlushMem(hbSysMem *mem, int32_t flag) {
  int ok = mem != NULL && mem->virAddr != NULL &&
           (flag == HB_SYS_MEM_CACHE_INVALIDATE || flag == HB_SYS_MEM_CACHE_CLEAN);
  emu_log("{\"call\": \"hbSysFlushMem\", \"flag\": \"%s\", \"addr\": %llu, \"size\": %u, \"ret\": %d}",
          flag == HB_SYS_MEM_CACHE_CLEAN ? "clean" : flag == HB_SYS_MEM_CACHE_INVALIDATE ? "invalidate" : "bad",
          mem ? (unsigned long long)(uintptr_t)mem->virAddr : 0ULL, mem ? mem->memSize : 0u,
          ok ? 0 : HB_DNN_INVALID_ARGUMENT);
  return ok ? HB_DNN_SUCCESS : HB_DNN_INVALID_ARGUMENT;
}

EXPORT int32_t hbSysFreeMem(hbSysMem *mem) {
  emu_log("{\"call\": \"hbSysFreeMem\", \"addr\": %llu, \"ret\": %d}",
          mem ? (unsigned long long)(uintptr_t)mem->virAddr : 0ULL, mem ? 0 : HB_DNN_INVALID_ARGUMENT);
  if (mem == NULL) return HB_DNN_INVALID_ARGUMENT;
  free(mem->virAddr);
  mem->virAddr = NULL;
  mem->memSize = 0;
  return HB_DNN_SUCCESS;
}
