/*
 * atomic_file.h - replacing a file atomically and leaving nothing behind: the file
 * mechanics of gru_save (save.c), with the rules of pygru/_files.py write_atomic (see
 * atomic_file.c and docs/RELIABILITY.md "Files pygru writes"). Not installed.
 *
 *     atomic_file *af;
 *     if (atomic_file_open(path, &af) == GRU_OK) {
 *         st = atomic_file_write(af, buf, n);          (any number of times)
 *         st = st ? (atomic_file_abort(af), st) : atomic_file_commit(af);
 *     }
 *
 * Until atomic_file_commit succeeds, the file at path (or at the end of its symbolic
 * links) is untouched; whatever happens, no temporary file remains.
 */
#ifndef GRU_ATOMIC_FILE_H
#define GRU_ATOMIC_FILE_H

#include <stddef.h>
#include "gru.h"

typedef struct atomic_file atomic_file;

/* Resolves path (symbolic links followed), refuses what is not a regular file, removes
 * the temporaries that killed saves of the same target left, and opens a new empty
 * file that will replace the target. GRU_ERR_IO (nothing written, nothing left) or
 * GRU_ERR_NO_MEMORY on failure; *out is then NULL. */
gru_status atomic_file_open(const char *path, atomic_file **out);

/* Appends n bytes to the new file. GRU_ERR_IO on failure (then call atomic_file_abort). */
gru_status atomic_file_write(atomic_file *af, const void *buf, size_t n);

/* Flushes the new file to disk and puts it in place of the target with one rename, then
 * flushes the folder. Frees af in every case; on failure (GRU_ERR_IO) the target is
 * unchanged and the new file removed. */
gru_status atomic_file_commit(atomic_file *af);

/* Forgets the new file (removed) and frees af; the target is unchanged. NULL is a no-op. */
void atomic_file_abort(atomic_file *af);

#endif /* GRU_ATOMIC_FILE_H */
