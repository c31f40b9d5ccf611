// The floor of `-j prog show` with metadata: only the kernel work any tool
// must ask for, and nothing printed. For each program: the next id, an fd,
// its info with the map ids, its fdinfo (memlock). For each of its maps: an
// fd and the map's info. For each metadata map (.rodata: an array of one
// entry with BTF), its value once, and its BTF (info, then the data) once.
// scripts/bench times bpfswift against it in the
// prog_show_600_distinct_json case.
//   cc -O2 -o prog_floor prog_floor.c -lbpf
#include <bpf/bpf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_IDS (1u << 20)

static uint8_t value_read[MAX_IDS], btf_read[MAX_IDS];
static char scratch[1 << 16];

static int is_metadata_map(const struct bpf_map_info *m)
{
	const char *dot = strstr(m->name, ".rodata");
	return m->type == BPF_MAP_TYPE_ARRAY && m->key_size == 4 && m->max_entries == 1 &&
	       m->btf_value_type_id != 0 && dot != NULL;
}

static void read_btf(uint32_t id)
{
	int fd = bpf_btf_get_fd_by_id(id);
	if (fd < 0)
		return;
	struct bpf_btf_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, len);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.btf_size > 0) {
		void *data = malloc(info.btf_size);
		uint32_t size = info.btf_size;
		memset(&info, 0, sizeof(info));
		info.btf = (uint64_t)(uintptr_t)data;
		info.btf_size = size;
		len = sizeof(info);
		bpf_obj_get_info_by_fd(fd, &info, &len);
		free(data);
	}
	close(fd);
}

static void visit_map(uint32_t map_id)
{
	int fd = bpf_map_get_fd_by_id(map_id);
	if (fd < 0)
		return;
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, len);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && is_metadata_map(&info) &&
	    map_id < MAX_IDS && !value_read[map_id] && info.value_size <= sizeof(scratch)) {
		uint32_t key = 0;
		value_read[map_id] = 1;
		bpf_map_lookup_elem(fd, &key, scratch);
		if (info.btf_id < MAX_IDS && !btf_read[info.btf_id]) {
			btf_read[info.btf_id] = 1;
			read_btf(info.btf_id);
		}
	}
	close(fd);
}

int main(void)
{
	uint32_t id = 0, programs = 0;
	while (bpf_prog_get_next_id(id, &id) == 0) {
		int fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			continue;
		uint32_t maps[64];
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		memset(&info, 0, len);
		info.nr_map_ids = 64;
		info.map_ids = (uint64_t)(uintptr_t)maps;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
			int f = open(path, O_RDONLY | O_CLOEXEC);
			if (f >= 0) {
				if (read(f, scratch, sizeof(scratch)) < 0)
					perror("read fdinfo");
				close(f);
			}
			for (uint32_t i = 0; i < info.nr_map_ids && i < 64; i++)
				visit_map(maps[i]);
			programs++;
		}
		close(fd);
	}
	fprintf(stderr, "%u programs\n", programs);
	return 0;
}
