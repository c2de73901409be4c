/* hb_sys.h: the system-memory part of the RDK X5 hbDNN C API, written for rdk_classifier's libdnn
 * emulator from the public API documentation (D-Robotics rdk_doc "Data Types and Data Structures"
 * and "API" pages of the BPU C/C++ SDK). Declarations only; no vendor code. */
#ifndef RDK_EMU_HB_SYS_H_
#define RDK_EMU_HB_SYS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* a block of BPU-visible memory: physical address, the CPU's address, its size in bytes */
typedef struct {
  uint64_t phyAddr;
  void *virAddr;
  uint32_t memSize;
} hbSysMem;

/* hbSysFlushMem flags: make the CPU see what the BPU wrote / make the BPU see what the CPU wrote */
typedef enum {
  HB_SYS_MEM_CACHE_INVALIDATE = 1,
  HB_SYS_MEM_CACHE_CLEAN = 2
} hbSysMemFlushFlag;

int32_t hbSysAllocMem(hbSysMem *mem, uint32_t size);
int32_t hbSysAllocCachedMem(hbSysMem *mem, uint32_t size);
int32_t hbSysFlushMem(hbSysMem *mem, int32_t flag);
int32_t hbSysFreeMem(hbSysMem *mem);

#ifdef __cplusplus
}
#endif

#endif /* RDK_EMU_HB_SYS_H_ */
