// lwIP architecture glue for Linux hosts (user space, single-threaded).
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS  // use the libc htons & co.
#define LWIP_RAND() ((u32_t)random())
#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
    fprintf(stderr, x);       \
  } while (0)
// An lwIP assertion means corrupted stack state: stop rather than continue undefined.
#define LWIP_PLATFORM_ASSERT(x)                                                 \
  do {                                                                          \
    fprintf(stderr, "lwIP assertion \"%s\" at %s:%d\n", x, __FILE__, __LINE__); \
    abort();                                                                    \
  } while (0)

typedef int sys_prot_t;
