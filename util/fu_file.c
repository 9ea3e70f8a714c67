/*
 * fu_file.c: small file helpers shared by the tools (see fu_file.h).
 */
#include "fu_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int fu_write_file_atomic(const char *path, const char *text)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    int bad = fputs(text, f) < 0;
    if (fclose(f) != 0 || bad) {
        int e = errno ? errno : EIO;
        remove(tmp);
        return -e;
    }
    return rename(tmp, path) == 0 ? 0 : -errno;
}
