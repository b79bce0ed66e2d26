/*
 * modelfile.h - what the model-file reader (load.c) and writer (save.c) share: the
 * format's limits and the byte-order check. The format itself is described in gru.h
 * (a safetensors file with pygru's metadata); pygru/modelfile.py writes the same.
 */
#ifndef GRU_MODELFILE_H
#define GRU_MODELFILE_H

#include <stdint.h>
#include <string.h>

/* A GRU's header is a few hundred bytes per tensor; 1 MiB holds thousands. */
#define MODELFILE_MAX_HEADER ((uint64_t)1024 * 1024)

/* The file is little-endian; this build reads and writes it on such hosts only. */
static inline int host_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

#endif /* GRU_MODELFILE_H */
