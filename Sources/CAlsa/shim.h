// libasound2 (ALSA) for Swift: `apt-get install libasound2-dev` (pkg-config alsa).
#ifndef VENTRIQ_CALSA_SHIM_H
#define VENTRIQ_CALSA_SHIM_H
#include <alsa/asoundlib.h>
#endif
