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
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <linux/version.h>
#include <linux/openat2.h>
#include <linux/stat.h>
#include <errno.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf_version.h>

/* The kernel's UAPI headers (linux-libc-dev) must describe the link info of
 * every link type bpfswift shows: the sockmap link and kprobe sessions are
 * Linux 6.10's. Older headers (Debian 12's 6.1) would fail with a screen of
 * Swift errors; this says it in one line. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
#error "bpfswift needs the kernel UAPI headers of Linux 6.10 or newer (linux/bpf.h; on Debian 12 linux-libc-dev from bookworm-backports, which scripts/setup installs)"
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef O_PATH
#define O_PATH 010000000
#endif
/* O_PATH for Swift (glibc shows it only with _GNU_SOURCE). */
static inline int bpfswift_o_path(void) { return O_PATH; }

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


/* openat2(2): resolve inside a directory fd (RESOLVE_BENEATH,
 * RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV); glibc has no wrapper. */
static inline int bpfswift_openat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(unsigned int)flags;
    how.resolve = resolve;
    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    /* Without openat2 (kernels before 5.6, valgrind): one plain name opened
     * O_NOFOLLOW relative to dirfd is already beneath it and never through a
     * symlink; the callers compare the mount id of what they got, which is
     * what RESOLVE_NO_XDEV would have refused. Anything with a '/' fails. */
    if (fd < 0 && errno == ENOSYS && (flags & O_NOFOLLOW)) {
        if (strchr(path, '/') != NULL) {
            errno = EINVAL;
            return -1;
        }
        return openat(dirfd, path, flags);
    }
    return fd;
}
static inline unsigned long long bpfswift_resolve_in_tree(void)
{
    return RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;
}

/* The mount id of an open file (statx STATX_MNT_ID): bind mounts of one
 * bpffs share st_dev but not their mount id. -1 with errno on failure. */
static inline int bpfswift_mount_id(int fd, unsigned long long *id)
{
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) != 0)
        return -1;
    if (!(stx.stx_mask & STATX_MNT_ID)) {
        errno = ENOSYS;
        return -1;
    }
    *id = stx.stx_mnt_id;
    return 0;
}

/* One statx(2) for what an open directory's checks need: device, inode,
 * owner, mode and mount id (fstat plus a second statx for the mount id was
 * two syscalls per directory of a tree). -1 with errno ENOSYS where the
 * kernel gives no mount id: the caller falls back to fstat and fdinfo. */
static inline int bpfswift_dir_stat(int fd, unsigned long long *mnt, unsigned long long *dev,
                                    unsigned long long *ino, unsigned int *uid, unsigned int *mode)
{
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
                STATX_TYPE | STATX_MODE | STATX_UID | STATX_INO | STATX_MNT_ID, &stx) != 0)
        return -1;
    const unsigned int need = STATX_TYPE | STATX_MODE | STATX_UID | STATX_INO | STATX_MNT_ID;
    if ((stx.stx_mask & need) != need) {
        errno = ENOSYS;
        return -1;
    }
    *mnt = stx.stx_mnt_id;
    /* st_dev's encoding (glibc's makedev), so that it compares with fstatat's. */
    *dev = ((unsigned long long)(stx.stx_dev_major & 0xfffu) << 8) | ((unsigned long long)(stx.stx_dev_major & ~0xfffu) << 32)
         | (stx.stx_dev_minor & 0xffu) | ((unsigned long long)(stx.stx_dev_minor & ~0xffu) << 12);
    *ino = stx.stx_ino;
    *uid = stx.stx_uid;
    *mode = stx.stx_mode;
    return 0;
}

/* BPF_OBJ_PIN / BPF_OBJ_GET relative to a directory fd (BPF_F_PATH_FD,
 * kernel 6.5, libbpf 1.3). -EOPNOTSUPP when this libbpf cannot pass it. */
static inline int bpfswift_obj_pin_at(int fd, int dirfd, const char *name)
{
#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 3)
    LIBBPF_OPTS(bpf_obj_pin_opts, o, .file_flags = BPF_F_PATH_FD, .path_fd = dirfd);
    return bpf_obj_pin_opts(fd, name, &o);
#else
    (void)fd; (void)dirfd; (void)name;
    return -EOPNOTSUPP;
#endif
}
static inline int bpfswift_obj_get_at(int dirfd, const char *name)
{
#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 3)
    LIBBPF_OPTS(bpf_obj_get_opts, o, .file_flags = BPF_F_PATH_FD, .path_fd = dirfd);
    return bpf_obj_get_opts(name, &o);
#else
    (void)dirfd; (void)name;
    return -EOPNOTSUPP;
#endif
}

static inline unsigned long bpfswift_bpf_fs_magic(void) { return BPF_FS_MAGIC; }

/* libbpf versions. bpfswift builds against libbpf 1.1 (Debian 12's) and
 * newer. What a newer libbpf added is bridged here, in one place:
 *  - a function that only got a new name is defined under that name for an
 *    older libbpf (bpf_*_get_info_by_fd, 1.2), so call sites use today's API
 *    and the block goes when the minimum rises;
 *  - a function whose type changed has a bpfswift_ wrapper of one type;
 *  - an option an older libbpf lacks has a bpfswift_ setter that returns
 *    -EOPNOTSUPP there; BPFCore checks bpfswift_libbpf_at_least() first and
 *    names the version the feature needs. */
#define BPFSWIFT_LIBBPF_AT_LEAST(major, minor) \
    (LIBBPF_MAJOR_VERSION > (major) || \
     (LIBBPF_MAJOR_VERSION == (major) && LIBBPF_MINOR_VERSION >= (minor)))

/* The libbpf bpfswift was compiled against (headers and library come from
 * one package, and a newer library keeps the older ABI). */
static inline int bpfswift_libbpf_major(void) { return LIBBPF_MAJOR_VERSION; }
static inline int bpfswift_libbpf_minor(void) { return LIBBPF_MINOR_VERSION; }
static inline int bpfswift_libbpf_at_least(int major, int minor)
{
    return LIBBPF_MAJOR_VERSION > major ||
           (LIBBPF_MAJOR_VERSION == major && LIBBPF_MINOR_VERSION >= minor);
}

#if !BPFSWIFT_LIBBPF_AT_LEAST(1, 2)
/* libbpf 1.2 added typed names for bpf_obj_get_info_by_fd. */
static inline int bpf_prog_get_info_by_fd(int prog_fd, struct bpf_prog_info *info, __u32 *info_len)
{
    return bpf_obj_get_info_by_fd(prog_fd, info, info_len);
}
static inline int bpf_map_get_info_by_fd(int map_fd, struct bpf_map_info *info, __u32 *info_len)
{
    return bpf_obj_get_info_by_fd(map_fd, info, info_len);
}
static inline int bpf_btf_get_info_by_fd(int btf_fd, struct bpf_btf_info *info, __u32 *info_len)
{
    return bpf_obj_get_info_by_fd(btf_fd, info, info_len);
}
static inline int bpf_link_get_info_by_fd(int link_fd, struct bpf_link_info *info, __u32 *info_len)
{
    return bpf_obj_get_info_by_fd(link_fd, info, info_len);
}
#endif

/* Before libbpf 1.3 the initial value came back const (it always was
 * libbpf's own writable copy of the section). */
static inline void *bpfswift_map_initial_value(struct bpf_map *map, size_t *psize)
{
    return (void *)bpf_map__initial_value(map, psize);
}

/* The netfilter link's options arrived in libbpf 1.3. */
static inline int bpfswift_link_create_opts_set_netfilter(struct bpf_link_create_opts *opts,
                                                          __u32 pf, __u32 hooknum,
                                                          __s32 priority, __u32 flags)
{
#if BPFSWIFT_LIBBPF_AT_LEAST(1, 3)
    opts->netfilter.pf = pf;
    opts->netfilter.hooknum = hooknum;
    opts->netfilter.priority = priority;
    opts->netfilter.flags = flags;
    return 0;
#else
    (void)opts; (void)pf; (void)hooknum; (void)priority; (void)flags;
    return -EOPNOTSUPP;
#endif
}

/* tcx (libbpf 1.3): bpf_program__attach_tcx, and the link ids and flags
 * of bpf_prog_query_opts. Older: NULL / -EOPNOTSUPP (BPFCore names the
 * version first). */
static inline struct bpf_link *bpfswift_program_attach_tcx(struct bpf_program *prog, int ifindex)
{
#if BPFSWIFT_LIBBPF_AT_LEAST(1, 3)
    return bpf_program__attach_tcx(prog, ifindex, NULL);
#else
    (void)prog; (void)ifindex;
    errno = EOPNOTSUPP;
    return NULL;
#endif
}

static inline int bpfswift_prog_query_multi(int target, enum bpf_attach_type type,
                                            __u32 *prog_ids, __u32 *prog_flags,
                                            __u32 *link_ids, __u32 *link_flags, __u32 *count)
{
#if BPFSWIFT_LIBBPF_AT_LEAST(1, 3)
    LIBBPF_OPTS(bpf_prog_query_opts, o,
        .prog_ids = prog_ids, .prog_attach_flags = prog_flags,
        .link_ids = link_ids, .link_attach_flags = link_flags, .count = *count);
    int r = bpf_prog_query_opts(target, type, &o);
    if (r == 0) *count = o.count;
    return r;
#else
    (void)target; (void)type; (void)prog_ids; (void)prog_flags; (void)link_ids; (void)link_flags; (void)count;
    return -EOPNOTSUPP;
#endif
}

/* Names the calling thread (prctl is variadic: Swift cannot call it). */
static inline int bpfswift_name_thread(const char *name)
{
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

/* feature probe: the capability syscalls (glibc declares no capget or
 * capset without libcap), and helper names from the kernel UAPI header's
 * own list (BPF_FUNC_name = id), as "bpf_name". */
#include <linux/capability.h>
#include <zlib.h>
static inline int bpfswift_capget(struct __user_cap_header_struct *h, struct __user_cap_data_struct *d)
{
    return (int)syscall(SYS_capget, h, d);
}
static inline int bpfswift_capset(struct __user_cap_header_struct *h, struct __user_cap_data_struct *d)
{
    return (int)syscall(SYS_capset, h, d);
}
#define BPFSWIFT_HELPER_CASE(name, id) case id: return "bpf_" #name;
static inline const char *bpfswift_helper_name(unsigned int id)
{
    switch (id) {
    ___BPF_FUNC_MAPPER(BPFSWIFT_HELPER_CASE)
    default: return NULL;
    }
}
#undef BPFSWIFT_HELPER_CASE

/* SHA-256's round constants (FIPS 180-4), for both the SHA-instruction
 * rounds below and BPFCore's portable Swift rounds. */
static const unsigned int bpfswift_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* SHA-256 of whole 64-byte blocks with the x86 SHA extensions
 * (SHA256RNDS2/MSG1/MSG2), for the object file digest `object pin` records:
 * about 2 cycles a byte where the portable Swift rounds take ~20 (5M of the
 * 5.5M user-space instructions of pinning the 100-program bench object).
 * bpfswift_sha256_hw() says whether this CPU has them (0 elsewhere, and on
 * other architectures: the Swift code is then used). `state` is a..h. */
#if defined(__x86_64__) && defined(__clang__)
typedef unsigned int bpfswift_v4su __attribute__((vector_size(16)));
typedef int bpfswift_v4si __attribute__((vector_size(16)));
typedef unsigned char bpfswift_v16qu __attribute__((vector_size(16)));

/* glibc (2.33+) has already asked the CPU at start-up: reading its answer
 * costs nothing, where each CPUID instruction is a VM exit (~7 us on the
 * project's VM, three of them were 1% of a short `object pin --attach`). */
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#endif

static inline int bpfswift_sha256_hw(void)
{
    static int known = -1;  /* racy on purpose: every thread computes the same value */
    if (known >= 0)
        return known;
    int ok = 0;
#if defined(CPU_FEATURE_ACTIVE)
    ok = CPU_FEATURE_ACTIVE(SHA) && CPU_FEATURE_ACTIVE(SSSE3) && CPU_FEATURE_ACTIVE(SSE4_1);
#else
    unsigned int a, b, c, d, max;
    __asm__ volatile("cpuid" : "=a"(max), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (max >= 7) {
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
        int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
        ok = ssse3 && sse41 && ((b >> 29) & 1);
    }
#endif
    known = ok;
    return ok;
}

__attribute__((target("sha,ssse3,sse4.1")))
static inline void bpfswift_sha256_hw_blocks(unsigned int state[8], const unsigned char *data, size_t blocks)
{
    bpfswift_v4su abcd, efgh, w[4];
    memcpy(&abcd, state, 16);
    memcpy(&efgh, state + 4, 16);
    /* The instructions keep the state as lanes (F,E,B,A) and (H,G,D,C), lane 0 first. */
    bpfswift_v4su abef = __builtin_shufflevector(efgh, abcd, 1, 0, 5, 4);
    bpfswift_v4su cdgh = __builtin_shufflevector(efgh, abcd, 3, 2, 7, 6);
    for (size_t n = 0; n < blocks; n++, data += 64) {
        bpfswift_v4su abef0 = abef, cdgh0 = cdgh;
        for (int i = 0; i < 16; i++) {
            bpfswift_v4su m;
            if (i < 4) {
                bpfswift_v16qu raw;
                memcpy(&raw, data + 16 * i, 16);
                /* big-endian words */
                m = (bpfswift_v4su)__builtin_shufflevector(raw, raw, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
            } else {
                /* w[t..t+3] from w[t-16..t-13] (slot i&3), w[t-12] (i+1), w[t-7..t-4] (i+2, i+3), w[t-2], w[t-1] (i+3) */
                bpfswift_v4su w16 = w[i & 3], w12 = w[(i + 1) & 3], w8 = w[(i + 2) & 3], w4 = w[(i + 3) & 3];
                bpfswift_v4su s = (bpfswift_v4su)__builtin_ia32_sha256msg1((bpfswift_v4si)w16, (bpfswift_v4si)w12);
                s += __builtin_shufflevector(w8, w4, 1, 2, 3, 4);
                m = (bpfswift_v4su)__builtin_ia32_sha256msg2((bpfswift_v4si)s, (bpfswift_v4si)w4);
            }
            w[i & 3] = m;
            bpfswift_v4su kw;
            memcpy(&kw, bpfswift_sha256_k + 4 * i, 16);
            kw += m;
            /* Two rounds with lanes 0-1 of kw, two with lanes 2-3: the new
             * (A,B,E,F) each time, the old one becoming (C,D,G,H). */
            cdgh = (bpfswift_v4su)__builtin_ia32_sha256rnds2((bpfswift_v4si)cdgh, (bpfswift_v4si)abef, (bpfswift_v4si)kw);
            kw = __builtin_shufflevector(kw, kw, 2, 3, 0, 1);
            abef = (bpfswift_v4su)__builtin_ia32_sha256rnds2((bpfswift_v4si)abef, (bpfswift_v4si)cdgh, (bpfswift_v4si)kw);
        }
        abef += abef0;
        cdgh += cdgh0;
    }
    abcd = __builtin_shufflevector(abef, cdgh, 3, 2, 7, 6);
    efgh = __builtin_shufflevector(abef, cdgh, 1, 0, 5, 4);
    memcpy(state, &abcd, 16);
    memcpy(state + 4, &efgh, 16);
}
#else
static inline int bpfswift_sha256_hw(void) { return 0; }
static inline void bpfswift_sha256_hw_blocks(unsigned int state[8], const unsigned char *data, size_t blocks)
{
    (void)state; (void)data; (void)blocks;
}
#endif

#endif
