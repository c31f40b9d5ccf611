/*
 * Linked only into the fully static release binary (scripts/build-release),
 * and only when the distribution's libelf.a needs it.
 *
 * elfutils 0.191 moved libelf's tsearch trees behind small eu_* wrappers
 * that live in elfutils' internal libeu. libelf.so carries them inside, but
 * Debian's libelf.a (elfutils 0.191+) references them without shipping
 * libeu.a, so a static link of libelf fails with "undefined reference to
 * eu_search_tree_init". These definitions satisfy those references.
 *
 * The contract libelf relies on: the tree is a struct whose first member is
 * the tsearch(3) root pointer (a lock may follow it in thread-safe builds).
 * We only ever touch that first member, so the struct's full layout does not
 * matter. bpfswift calls libelf from one thread at a time, so no lock is
 * taken.
 */
#define _GNU_SOURCE
#include <search.h>
#include <stddef.h>

struct eu_tree_head {
    void *root;
};

typedef int (*eu_compare)(const void *, const void *);

static void eu_keep_node(void *node) { (void)node; }

void eu_search_tree_init(struct eu_tree_head *tree)
{
    tree->root = NULL;
}

void eu_search_tree_fini(struct eu_tree_head *tree, void (*free_node)(void *))
{
    if (tree->root != NULL)
        tdestroy(tree->root, free_node != NULL ? free_node : eu_keep_node);
    tree->root = NULL;
}

void eu_tdestroy(struct eu_tree_head *tree, void (*free_node)(void *))
{
    eu_search_tree_fini(tree, free_node);
}

void *eu_tsearch(const void *key, struct eu_tree_head *tree, eu_compare compare)
{
    return tsearch(key, &tree->root, compare);
}

void *eu_tfind(const void *key, struct eu_tree_head *tree, eu_compare compare)
{
    return tfind(key, &tree->root, compare);
}

void *eu_tdelete(const void *key, struct eu_tree_head *tree, eu_compare compare)
{
    return tdelete(key, &tree->root, compare);
}
