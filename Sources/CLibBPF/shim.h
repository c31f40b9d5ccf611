/* Headers and small static inline shims for what Swift cannot call
 * directly (variadic print callbacks, raw syscalls glibc hides behind
 * _GNU_SOURCE). No logic lives here. */
#ifndef BPFSWIFT_CLIBBPF_SHIM_H
#define BPFSWIFT_CLIBBPF_SHIM_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/file.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf_version.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* libbpf's print callback is variadic (va_list): Swift cannot implement
 * one, so the two callbacks live here. In quiet mode warnings are kept
 * (the last one) so that an error can say what libbpf complained about;
 * with -d everything goes to stderr as bpftool -d does. */
static inline char *bpfswift_warning_buffer(void)
{
    static char buf[512];
    return buf;
}
#define bpfswift_last_libbpf_warning bpfswift_warning_buffer()

static inline int bpfswift_print_quiet(enum libbpf_print_level level,
                                       const char *fmt, va_list args)
{
    if (level == LIBBPF_WARN) {
        vsnprintf(bpfswift_last_libbpf_warning,
                  512, fmt, args);
    }
    return 0;
}

static inline int bpfswift_print_debug(enum libbpf_print_level level,
                                       const char *fmt, va_list args)
{
    if (level == LIBBPF_WARN) {
        va_list copy;
        va_copy(copy, args);
        vsnprintf(bpfswift_last_libbpf_warning,
                  512, fmt, copy);
        va_end(copy);
    }
    return vfprintf(stderr, fmt, args);
}

static inline void bpfswift_set_libbpf_debug(int debug)
{
    libbpf_set_print(debug ? bpfswift_print_debug : bpfswift_print_quiet);
}

static inline const char *bpfswift_last_warning(void)
{
    return bpfswift_last_libbpf_warning;
}

static inline void bpfswift_clear_last_warning(void)
{
    bpfswift_last_libbpf_warning[0] = '\0';
}

static inline int bpfswift_renameat2(int olddirfd, const char *oldpath,
                                     int newdirfd, const char *newpath,
                                     unsigned int flags)
{
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

static inline unsigned long bpfswift_bpf_fs_magic(void) { return BPF_FS_MAGIC; }

#endif
