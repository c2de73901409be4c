/* hb_dnn.h: the model part of the RDK X5 hbDNN C API, written for rdk_classifier's libdnn emulator
 * from the public API documentation (D-Robotics rdk_doc, "BPU SDK API": data types and data
 * structures, model loading, model information, inference task). Declarations only; no vendor code.
 * Field order follows the documented structures; tools/libdnn_emu/README.md says which parts of
 * the layout are read from the documentation and which could not be checked against a board. */
#ifndef RDK_EMU_HB_DNN_H_
#define RDK_EMU_HB_DNN_H_

#include <stdbool.h>
#include <stdint.h>

#include "hb_sys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HB_DNN_TENSOR_MAX_DIMENSIONS 8

typedef void *hbPackedDNNHandle_t; /* a model file (one or more models) */
typedef void *hbDNNHandle_t;       /* one model */
typedef void *hbDNNTaskHandle_t;   /* one inference task */

typedef enum {
  HB_DNN_LAYOUT_NHWC = 0,
  HB_DNN_LAYOUT_NCHW = 2,
  HB_DNN_LAYOUT_NONE = 255
} hbDNNTensorLayout;

typedef enum {
  HB_DNN_IMG_TYPE_Y,
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_IMG_TYPE_YUV444,
  HB_DNN_IMG_TYPE_RGB,
  HB_DNN_IMG_TYPE_BGR,
  HB_DNN_TENSOR_TYPE_S4,
  HB_DNN_TENSOR_TYPE_U4,
  HB_DNN_TENSOR_TYPE_S8,
  HB_DNN_TENSOR_TYPE_U8,
  HB_DNN_TENSOR_TYPE_F16,
  HB_DNN_TENSOR_TYPE_S16,
  HB_DNN_TENSOR_TYPE_U16,
  HB_DNN_TENSOR_TYPE_F32,
  HB_DNN_TENSOR_TYPE_S32,
  HB_DNN_TENSOR_TYPE_U32,
  HB_DNN_TENSOR_TYPE_F64,
  HB_DNN_TENSOR_TYPE_S64,
  HB_DNN_TENSOR_TYPE_U64,
  HB_DNN_TENSOR_TYPE_MAX
} hbDNNDataType;

typedef struct {
  int32_t dimensionSize[HB_DNN_TENSOR_MAX_DIMENSIONS];
  int32_t numDimensions;
} hbDNNTensorShape;

/* dequantize: value / (1 << shift) */
typedef struct {
  int32_t shiftLen;
  uint8_t *shiftData;
} hbDNNQuantiShift;

/* dequantize: (value - zeroPoint) * scale, per tensor (len 1) or along quantizeAxis */
typedef struct {
  int32_t scaleLen;
  float *scaleData;
  int32_t zeroPointLen;
  int8_t *zeroPointData;
} hbDNNQuantiScale;

typedef enum {
  NONE,
  SHIFT,
  SCALE
} hbDNNQuantiType;

typedef struct {
  hbDNNTensorShape validShape;
  hbDNNTensorShape alignedShape;
  int32_t tensorLayout;
  int32_t tensorType;
  hbDNNQuantiShift shift;
  hbDNNQuantiScale scale;
  hbDNNQuantiType quantiType;
  int32_t quantizeAxis;
  int32_t alignedByteSize;
  int32_t stride[HB_DNN_TENSOR_MAX_DIMENSIONS];
} hbDNNTensorProperties;

typedef struct {
  hbSysMem sysMem[4];
  hbDNNTensorProperties properties;
} hbDNNTensor;

/* bpuCoreId is a mask: 0 = any core, HB_BPU_CORE_0 = core 0, ... */
typedef enum {
  HB_BPU_CORE_ANY = 0,
  HB_BPU_CORE_0 = (1 << 0),
  HB_BPU_CORE_1 = (1 << 1)
} hbBPUCore;

typedef enum {
  HB_DSP_CORE_ANY = 0,
  HB_DSP_CORE_0 = (1 << 0),
  HB_DSP_CORE_1 = (1 << 1)
} hbDSPCore;

typedef enum {
  HB_DNN_PRIORITY_LOWEST = 0,
  HB_DNN_PRIORITY_HIGHEST = 255,
  HB_DNN_PRIORITY_PREEMP = HB_DNN_PRIORITY_HIGHEST
} hbDNNTaskPriority;

typedef struct {
  int32_t bpuCoreId;
  int32_t dspCoreId;
  int32_t priority;
  int32_t more;
  int64_t customId;
  int32_t reserved1;
  int32_t reserved2;
} hbDNNInferCtrlParam;

#define HB_DNN_INITIALIZE_INFER_CTRL_PARAM(param) \
  {                                               \
    (param)->bpuCoreId = HB_BPU_CORE_ANY;         \
    (param)->dspCoreId = HB_DSP_CORE_ANY;         \
    (param)->priority = HB_DNN_PRIORITY_LOWEST;   \
    (param)->more = false;                        \
    (param)->customId = 0;                        \
    (param)->reserved1 = 0;                       \
    (param)->reserved2 = 0;                       \
  }

/* error codes (hbDNNGetErrorDesc describes them) */
#define HB_DNN_SUCCESS 0
#define HB_DNN_INVALID_ARGUMENT (-6000001)
#define HB_DNN_INVALID_MODEL (-6000002)
#define HB_DNN_MODEL_NUMBER_EXCEED_LIMIT (-6000003)
#define HB_DNN_INVALID_PACKED_DNN_HANDLE (-6000004)
#define HB_DNN_INVALID_DNN_HANDLE (-6000005)
#define HB_DNN_CAN_NOT_OPEN_FILE (-6000006)
#define HB_DNN_OUT_OF_MEMORY (-6000007)
#define HB_DNN_TIMEOUT (-6000008)
#define HB_DNN_TASK_NUM_EXCEED_LIMIT (-6000009)
#define HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT (-6000010)
#define HB_DNN_INVALID_TASK_HANDLE (-6000011)
#define HB_DNN_RUN_TASK_FAILED (-6000012)
#define HB_DNN_MODEL_IS_RUNNING (-6000013)
#define HB_DNN_INCOMPATIBLE_MODEL (-6000014)
#define HB_DNN_API_USE_ERROR (-6000015)

const char *hbDNNGetVersion(void);
const char *hbDNNGetErrorDesc(int32_t errorCode);

int32_t hbDNNInitializeFromFiles(hbPackedDNNHandle_t *packedDNNHandle, const char **modelFileNames,
                                 int32_t modelFileCount);
int32_t hbDNNGetModelNameList(const char ***modelNameList, int32_t *modelNameCount,
                              hbPackedDNNHandle_t packedDNNHandle);
int32_t hbDNNGetModelHandle(hbDNNHandle_t *dnnHandle, hbPackedDNNHandle_t packedDNNHandle,
                            const char *modelName);
int32_t hbDNNRelease(hbPackedDNNHandle_t packedDNNHandle);

int32_t hbDNNGetInputCount(int32_t *inputCount, hbDNNHandle_t dnnHandle);
int32_t hbDNNGetInputName(const char **name, hbDNNHandle_t dnnHandle, int32_t inputIndex);
int32_t hbDNNGetInputTensorProperties(hbDNNTensorProperties *properties, hbDNNHandle_t dnnHandle,
                                      int32_t inputIndex);
int32_t hbDNNGetOutputCount(int32_t *outputCount, hbDNNHandle_t dnnHandle);
int32_t hbDNNGetOutputName(const char **name, hbDNNHandle_t dnnHandle, int32_t outputIndex);
int32_t hbDNNGetOutputTensorProperties(hbDNNTensorProperties *properties, hbDNNHandle_t dnnHandle,
                                       int32_t outputIndex);

int32_t hbDNNInfer(hbDNNTaskHandle_t *taskHandle, hbDNNTensor **output, const hbDNNTensor *input,
                   hbDNNHandle_t dnnHandle, hbDNNInferCtrlParam *inferCtrlParam);
int32_t hbDNNWaitTaskDone(hbDNNTaskHandle_t taskHandle, int32_t timeout);
int32_t hbDNNReleaseTask(hbDNNTaskHandle_t taskHandle);

#ifdef __cplusplus
}
#endif

#endif /* RDK_EMU_HB_DNN_H_ */
