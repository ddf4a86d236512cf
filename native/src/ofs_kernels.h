/*
 * Hardware kernels and CPU probing.  Each architecture contributes its
 * implementation-list entries through the OFS_*_HW_IMPLS macros, so the
 * dispatcher compiles unchanged on every target; on other targets the lists
 * hold only the portable entry.
 */
#ifndef OFS_KERNELS_H
#define OFS_KERNELS_H

#include "ofs_internal.h"

/* Best tier this CPU (and OS) supports; 0 when only portable code runs. */
int ofs_cpu_tier(void);

#define OFS_CRC16_HW_IMPLS
#define OFS_CRC32C_HW_IMPLS
#define OFS_CRC32_HW_IMPLS
#define OFS_VOTE_HW_IMPLS

#endif
