/* Headers and small static inline shims for what Swift cannot call
 * directly (variadic print callbacks, raw syscalls glibc hides behind
 * _GNU_SOURCE). Kept to plumbing: what needs decisions is in BPFCore. */
#ifndef BPFSWIFT_CLIBBPF_SHIM_H
#define BPFSWIFT_CLIBBPF_SHIM_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/file.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
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

/* libbpf's print callback is variadic (va_list): the two callbacks live
 * here. Since the last clear, the first warning is kept (libbpf warns the
 * cause first, then "failed to load object"), except notes of a step libbpf
 * retries another way ("... Retrying without BTF."), and so is the end of the
 * first verifier log it prints, where the verifier says why it refused;
 * BPFCore picks that line out. With -d everything also goes to stderr, as
 * bpftool -d does. */
#define BPFSWIFT_WARNING_SIZE 512
static inline char *bpfswift_warning_buffer(void)
{
    static char buf[BPFSWIFT_WARNING_SIZE];
    return buf;
}
static inline char *bpfswift_load_log_buffer(void)
{
    static char buf[BPFSWIFT_WARNING_SIZE];
    return buf;
}

static inline void bpfswift_keep_warning(const char *fmt, va_list args)
{
    char *first = bpfswift_warning_buffer(), *log = bpfswift_load_log_buffer();
    if (first[0] != '\0' && log[0] != '\0')
        return;
    va_list sizing;
    va_copy(sizing, args);
    int n = vsnprintf(NULL, 0, fmt, sizing);
    va_end(sizing);
    if (n < 0)
        return;
    char *text = (char *)malloc((size_t)n + 1);
    if (text == NULL)
        return;
    vsnprintf(text, (size_t)n + 1, fmt, args);
    if (strstr(text, "LOAD LOG --") != NULL) {
        if (log[0] == '\0') {
            /* The end of the log: the verifier's reason is near it. */
            size_t keep = (size_t)n < BPFSWIFT_WARNING_SIZE - 1 ? (size_t)n : BPFSWIFT_WARNING_SIZE - 1;
            memcpy(log, text + n - keep, keep);
            log[keep] = '\0';
        }
    } else if (first[0] == '\0' && strstr(text, "etrying") == NULL) {
        snprintf(first, BPFSWIFT_WARNING_SIZE, "%s", text);
    }
    free(text);
}

static inline int bpfswift_print_quiet(enum libbpf_print_level level,
                                       const char *fmt, va_list args)
{
    if (level == LIBBPF_WARN)
        bpfswift_keep_warning(fmt, args);
    return 0;
}

static inline int bpfswift_print_debug(enum libbpf_print_level level,
                                       const char *fmt, va_list args)
{
    if (level == LIBBPF_WARN) {
        va_list copy;
        va_copy(copy, args);
        bpfswift_keep_warning(fmt, copy);
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
    return bpfswift_warning_buffer();
}

static inline const char *bpfswift_last_load_log(void)
{
    return bpfswift_load_log_buffer();
}

static inline void bpfswift_clear_last_warning(void)
{
    bpfswift_warning_buffer()[0] = '\0';
    bpfswift_load_log_buffer()[0] = '\0';
}

static inline int bpfswift_renameat2(int olddirfd, const char *oldpath,
                                     int newdirfd, const char *newpath,
                                     unsigned int flags)
{
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

static inline unsigned long bpfswift_bpf_fs_magic(void) { return BPF_FS_MAGIC; }

/* Names the calling thread (prctl is variadic: Swift cannot call it). */
static inline int bpfswift_name_thread(const char *name)
{
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

#endif
