// The record bootstrap.bpf.c sends through its ring buffer. The skeleton's
// Types.event has its C layout (padding included, were there any), so a
// record's bytes are the Swift value.
#ifndef BOOTSTRAP_H
#define BOOTSTRAP_H

#define COMM_LEN 16
#define FILENAME_LEN 128

struct event {
	__u64 duration_ns; // exit: time since exec (0 if the exec was not seen)
	__u32 pid;
	__u32 ppid;
	__u32 exit_code;   // exit: the status the parent's wait would see
	__u32 is_exit;     // 0: an exec, 1: an exit
	char comm[COMM_LEN];
	char filename[FILENAME_LEN]; // exec: the file executed
};

#endif
