/*
 * fu_file.h: small file helpers shared by the tools (libfsutil, a leaf).
 */
#ifndef FU_FILE_H
#define FU_FILE_H

/*
 * Writes `text` to `path` atomically: to "path.tmp" first, then renamed over `path`,
 * so a reader polling for the file (a test waiting for a server's port) never sees it
 * half-written. Returns 0 or a negative errno; on failure `path` is untouched.
 */
int fu_write_file_atomic(const char *path, const char *text);

#endif
