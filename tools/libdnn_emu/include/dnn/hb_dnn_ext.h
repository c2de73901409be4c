/* hb_dnn_ext.h: the extension header of the RDK X5 hbDNN C API, written for rdk_classifier's libdnn
 * emulator from the public API documentation. The emulator provides none of the extension calls;
 * the header exists because bindings include it. Declarations only; no vendor code. */
#ifndef RDK_EMU_HB_DNN_EXT_H_
#define RDK_EMU_HB_DNN_EXT_H_

#include "hb_dnn.h"

#endif /* RDK_EMU_HB_DNN_EXT_H_ */
