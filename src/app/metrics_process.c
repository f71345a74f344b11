/* app/metrics_process.c — the process's own figures for GET /metrics under the names
 * Prometheus client libraries use (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds), so stock dashboards and alerts work: read from /proc/self
 * on Linux (base/port.h), from getrusage/getrlimit elsewhere (CPU time, peak resident
 * size and the open-file limit only).
 * Must not: allocate beyond the output, or fail the page: a figure it cannot read is
 * left out. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app/app_int.h"
#include "base/port.h"
#include "base/utc.h"

static void figure(sbuf_t *b, const char *name, const char *type, const char *help, double v)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

#if PORT_LINUX
/* Fields 14-15 (utime, stime, in ticks), 22 (starttime, ticks after boot), 23 (vsize),
 * 24 (rss, pages) of /proc/self/stat; false if unreadable. */
static bool read_stat(double *cpu_s, double *start_s, double *vsize, double *rss)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return false;
    char line[1024];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL; /* the command name may hold blanks */
    unsigned long utime, stime, vs;
    unsigned long long start;
    long pages;
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                     "%*d %*d %llu %lu %ld",
                     &utime, &stime, &start, &vs, &pages) != 5)
        return false;
    double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    *cpu_s = (double)(utime + stime) / tick;
    *vsize = (double)vs;
    *rss = (double)pages * page;
    /* boot time from /proc/stat's btime */
    f = fopen("/proc/stat", "r");
    double btime = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0)
            btime = (double)strtoll(line + 6, NULL, 10);
    if (f)
        fclose(f);
    *start_s = btime >= 0 ? btime + (double)start / tick : -1;
    return true;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}
#endif

void app_process_metrics(sbuf_t *b)
{
#if PORT_LINUX
    double cpu, start, vsize, rss;
    if (read_stat(&cpu, &start, &vsize, &rss)) {
        figure(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent.", cpu);
        figure(b, "process_resident_memory_bytes", "gauge", "Resident memory size.", rss);
        figure(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size.", vsize);
        if (start >= 0)
            figure(b, "process_start_time_seconds", "gauge",
                   "Start time of the process since the Unix epoch.", start);
    }
    long fds = open_fds();
    if (fds >= 0)
        figure(b, "process_open_fds", "gauge", "Open file descriptors.", (double)fds);
#else
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        figure(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent.",
               (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    }
#endif
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        figure(b, "process_max_fds", "gauge", "Limit of open file descriptors.",
               (double)rl.rlim_cur);
}
