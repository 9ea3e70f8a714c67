/*
 * trace.c: opens a trace file by format name, or by sniffing its first line.
 */
#include "ft_workload.h"

#include <assert.h>

int ft_trace_open(const ft_trace_opts *o, ft_source **out, char **err)
{
    assert(o && out);
    return ft_azure_open(o->path, o->max_requests, out, err);
}
