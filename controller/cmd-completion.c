/*
 * virtbus completion bash|zsh: a shell completion script written from the
 * command tables and the schema, so that it never drifts from them; and
 * virtbus completion nodes, the words the script asks for as it runs
 * (node names from the caches of earlier commands, @groups from the
 * configuration), read from files: completing never waits for a broker;
 * and virtbus completion names CLASS, the object names that listings
 * (list, pools ...) left in the names cache, which this file keeps.
 */
#include "controller/ctl.h"
#include "controller/lib/cache_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codec.h"

/* Option words, space-separated, for one command or for all of them.
 * A few dozen: the linear dedupe in add_word is fine there, not for
 * node names (print_nodes sorts). */
struct words {
    qmf_value *all;         /* every option word */
    qmf_value *valued;      /* those that take the next word */
};

static void
add_word(qmf_value *list, const char *word)
{
    size_t i;

    for (i = 0; i < qmf_list_len(list); i++)
        if (strcmp(qmf_as_string(qmf_list_at(list, i)), word) == 0)
            return;
    qmf_list_append(list, qmf_string(word));
}

static void
collect_option(void *opaque, char short_name, const char *name, const char *arg,
               const char *help)
{
    struct words *w = opaque;
    char word[64];

    (void)help;
    snprintf(word, sizeof(word), "--%s", name);
    add_word(w->all, word);
    if (arg != NULL)
        add_word(w->valued, word);
    if (short_name != 0) {
        snprintf(word, sizeof(word), "-%c", short_name);
        add_word(w->all, word);
        if (arg != NULL)
            add_word(w->valued, word);
    }
}

static void
print_words(const qmf_value *list)
{
    size_t i;

    for (i = 0; i < qmf_list_len(list); i++)
        printf("%s%s", i ? " " : "", qmf_as_string(qmf_list_at(list, i)));
}


static void
print_bash(const struct schema *schema)
{
    const struct ctl_cmd_section *s;
    const struct ctl_cmd_entry *e;
    struct words all = { qmf_list(), qmf_list() };
    size_t i, j, k;

    printf("# bash completion for virtbus, written by `virtbus completion bash`\n"
           "# from its command tables and the schema.  Node names come from\n"
           "# `virtbus completion nodes`: the caches of earlier commands.\n\n");
    printf("_virtbus_commands='");
    for (s = ctl_sections, i = 0; s->entries; s++)
        for (e = s->entries; e->name; e++)
            printf("%s%s", i++ ? " " : "", e->name);
    printf("'\n_virtbus_classes='");
    for (i = 0, j = 0; i < schema->nclasses; i++)
        if (schema->classes[i].kind != SCHEMA_EVENT)
            printf("%s%s", j++ ? " " : "", schema->classes[i].name);
    printf("'\n\n_virtbus_options() {\n    case $1 in\n");
    for (s = ctl_sections; s->entries; s++)
        for (e = s->entries; e->name; e++) {
            struct words w = { qmf_list(), qmf_list() };

            ctl_options_each(e, collect_option, &w);
            ctl_options_each(e, collect_option, &all);
            printf("    %s) echo '", e->name);
            print_words(w.all);
            printf("' ;;\n");
            qmf_free(w.all);
            qmf_free(w.valued);
        }
    printf("    esac\n}\n\n");
    /* The class whose names a verb's Nth positional takes (N from 0). */
    printf("_virtbus_class() {\n    case $1 in\n");
    for (s = ctl_sections; s->entries; s++)
        for (e = s->entries; e->name; e++) {
            if (e->verb == NULL || (e->verb->flags & CTL_VERB_NODE))
                continue;
            if (e->verb->flags & CTL_VERB_ONE)
                printf("    %s) (($2 == 0)) && echo %s ;;\n", e->name, e->verb->class_name);
            else
                printf("    %s) echo %s ;;\n", e->name, e->verb->class_name);
        }
    printf("    esac\n}\n\n_virtbus_valued='");
    print_words(all.valued);
    printf("'\n\n_virtbus_methods() {\n    case $1 in\n");
    for (i = 0; i < schema->nclasses; i++) {
        const struct schema_class *c = &schema->classes[i];

        if (c->nmethods == 0)
            continue;
        printf("    %s) echo '", c->name);
        for (j = 0; j < c->nmethods; j++)
            printf("%s%s", j ? " " : "", c->methods[j].name);
        printf("' ;;\n");
    }
    printf("    esac\n}\n\n_virtbus_arguments() {\n    case $1.$2 in\n");
    for (i = 0; i < schema->nclasses; i++) {
        const struct schema_class *c = &schema->classes[i];

        for (j = 0; j < c->nmethods; j++) {
            const struct schema_method *m = &c->methods[j];
            bool any = false;

            for (k = 0; k < m->nargs; k++) {
                if (!(m->args[k].dir & SCHEMA_DIR_IN))
                    continue;
                printf(any ? " %s=" : "    %s.%s) echo '%s=", any ? m->args[k].name : c->name,
                       m->name, m->args[k].name);
                any = true;
            }
            if (any)
                printf("' ;;\n");
        }
    }
    printf("    esac\n}\n\n");
    /* Why a hand-rolled loop and no _init_completion: bash-completion is
     * not always installed, and COMP_WORDS is all this needs. */
    printf("%s",
        "_virtbus() {\n"
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
        "    local cmd='' i w skip=0 pos=()\n"
        "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "        w=${COMP_WORDS[i]}\n"
        "        if ((skip)); then skip=0; continue; fi\n"
        "        case \" $_virtbus_valued \" in *\" $w \"*) skip=1; continue ;; esac\n"
        "        case $w in -*) continue ;; esac\n"
        "        if [[ -z $cmd ]]; then cmd=$w; else pos+=(\"$w\"); fi\n"
        "    done\n"
        "    case $prev in\n"
        "    -n|--node)\n"
        "        COMPREPLY=($(compgen -W \"$(virtbus completion nodes 2>/dev/null)\" -- \"$cur\"))\n"
        "        return ;;\n"
        "    esac\n"
        "    case \" $_virtbus_valued \" in *\" $prev \"*) return ;; esac\n"
        "    if [[ $cur == -* ]]; then\n"
        "        COMPREPLY=($(compgen -W \"$(_virtbus_options \"${cmd:-help}\")\" -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    if [[ -z $cmd ]]; then\n"
        "        COMPREPLY=($(compgen -W \"$_virtbus_commands\" -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    case $cmd in\n"
        "    help)\n"
        "        ((${#pos[@]} == 0)) && COMPREPLY=($(compgen -W \"$_virtbus_commands call\" -- \"$cur\")) ;;\n"
        "    call)\n"
        "        case ${#pos[@]} in\n"
        "        0) COMPREPLY=($(compgen -W \"$_virtbus_classes\" -- \"$cur\")) ;;\n"
        "        1) COMPREPLY=($(compgen -W \"$(virtbus completion names \"${pos[0]}\" 2>/dev/null)\" -- \"$cur\")) ;;\n"
        "        2) COMPREPLY=($(compgen -W \"$(_virtbus_methods \"${pos[0]}\")\" -- \"$cur\")) ;;\n"
        "        *) compopt -o nospace 2>/dev/null\n"
        "           COMPREPLY=($(compgen -W \"$(_virtbus_arguments \"${pos[0]}\" \"${pos[2]}\")\" -- \"$cur\")) ;;\n"
        "        esac ;;\n"
        "    show)\n"
        "        case ${#pos[@]} in\n"
        "        0) COMPREPLY=($(compgen -W \"$_virtbus_classes\" -- \"$cur\")) ;;\n"
        "        1) COMPREPLY=($(compgen -W \"$(virtbus completion names \"${pos[0]}\" 2>/dev/null)\" -- \"$cur\")) ;;\n"
        "        esac ;;\n"
        "    *)\n"
        "        local cls\n"
        "        cls=$(_virtbus_class \"$cmd\" ${#pos[@]})\n"
        "        if [[ -n $cls ]]; then\n"
        "            COMPREPLY=($(compgen -W \"$(virtbus completion names \"$cls\" 2>/dev/null)\" -- \"$cur\"))\n"
        "        else\n"
        "            COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        "        fi ;;\n"
        "    esac\n"
        "}\n");
    printf("complete -F _virtbus virtbus\n");
    qmf_free(all.all);
    qmf_free(all.valued);
}

/* The node names a cache file holds (controller/lib/cache_file.h): each
 * line's agent, by the node its values name. */
static void
nodes_of_cache(const char *path, qmf_value *out)
{
    struct cache_file_reader r;
    qmf_value *head, *line;

    /* A cache not written yet is no error: there is nothing to offer. */
    if (path == NULL || (head = cache_file_open(&r, path)) == NULL)
        return;
    qmf_free(head);
    while (cache_file_next(&r, &line)) {
        const char *node = qmf_map_get_string(qmf_map_get(line, "values"), "node");

        if (node != NULL)
            qmf_list_append(out, qmf_string(node));
        qmf_free(line);
    }
    cache_file_close(&r);
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(qmf_as_string(*(qmf_value *const *)a), qmf_as_string(*(qmf_value *const *)b));
}

/* A list of strings sorted, then printed once each: n log n, not n². */
static void
print_sorted_once(qmf_value *words)
{
    size_t i;

    qmf_list_sort(words, compare_strings);
    for (i = 0; i < qmf_list_len(words); i++)
        if (i == 0 || strcmp(qmf_as_string(qmf_list_at(words, i - 1)),
                             qmf_as_string(qmf_list_at(words, i))) != 0)
            printf("%s\n", qmf_as_string(qmf_list_at(words, i)));
}

/* Each node in both caches (and in presence once per instance): sorted,
 * then printed once, so that 10,000 nodes cost n log n, not n². */
static void
print_nodes(struct ctl_ctx *ctx)
{
    const qmf_value *groups = ctx->config.node_groups;
    qmf_value *words = qmf_list();
    char *path, window[32];
    size_t i;

    for (i = 0; groups != NULL && i < qmf_map_len(groups); i++)
        qmf_list_append(words, qmf_stringf("@%s", qmf_map_at(groups, i)->key));
    snprintf(window, sizeof(window), "-%us", ctx->presence_window_s);
    path = ctl_cache_path(ctx, "presence", window);
    nodes_of_cache(path, words);
    free(path);
    path = ctl_cache_path(ctx, "fleet", "");
    nodes_of_cache(path, words);
    free(path);
    print_sorted_once(words);
    qmf_free(words);
}

static qmf_value *
read_names(const char *path)
{
    qmf_value *doc = NULL;
    qmf_error err;
    char *text;

    if (path && (text = ctl_read_file(path, &err)) != NULL) {
        doc = qmf_from_json(text, strlen(text), &err);
        free(text);
    }
    if (doc == NULL || doc->kind != QMF_MAP) {
        qmf_free(doc);
        doc = qmf_map();
    }
    return doc;
}

void
ctl_names_remember(struct ctl_ctx *ctx, const char *class_name,
                   const struct virtbus_results *res, bool partial)
{
    char *path = ctl_cache_path(ctx, "names", ""), *text, *tmp;
    qmf_value *doc = read_names(path), *per_node;
    size_t i, j, k, len;
    int fd;

    if (path == NULL) {
        qmf_free(doc);
        return;
    }
    per_node = qmf_map_get(doc, class_name);
    if (per_node == NULL || per_node->kind != QMF_MAP)
        per_node = qmf_map_set(doc, class_name, qmf_map());
    for (i = 0; i < res->n; i++) {
        const struct virtbus_result *r = &res->items[i];
        qmf_value *names;

        if (r->status != VIRTBUS_OK)
            continue;       /* what it had before is still the best guess */
        names = partial ? qmf_map_get(per_node, r->node) : NULL;
        if (names == NULL || names->kind != QMF_LIST)
            names = qmf_map_set(per_node, r->node, qmf_list());
        for (j = 0; j < qmf_list_len(r->value); j++) {
            const char *name = ctl_object_label(qmf_list_at(r->value, j));
            bool known = false;

            for (k = 0; partial && k < qmf_list_len(names) && !known; k++)
                known = strcmp(qmf_as_string(qmf_list_at(names, k)), name) == 0;
            if (!known)
                qmf_list_append(names, qmf_string(name));
        }
    }
    text = qmf_to_json(doc, &len);
    tmp = qmf_xasprintf("%s.%ld.tmp", path, (long)getpid());
    /* A cache for completion: failing to write it is no error. */
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
        bool ok = write(fd, text, len) == (ssize_t)len;

        if (close(fd) != 0 || !ok || rename(tmp, path) != 0)
            unlink(tmp);
    }
    free(tmp);
    free(text);
    free(path);
    qmf_free(doc);
}

/* The names of a class (any case) on every node the cache knows, sorted,
 * each once. */
static void
print_names(struct ctl_ctx *ctx, const char *class_name)
{
    char *path = ctl_cache_path(ctx, "names", "");
    qmf_value *doc = read_names(path), *words = qmf_list();
    const qmf_value *per_node = NULL;
    size_t i, j;

    for (i = 0; i < qmf_map_len(doc); i++)
        if (strcasecmp(qmf_map_at(doc, i)->key, class_name) == 0)
            per_node = qmf_map_at(doc, i)->value;
    for (i = 0; per_node && per_node->kind == QMF_MAP && i < qmf_map_len(per_node); i++) {
        const qmf_value *names = qmf_map_at(per_node, i)->value;

        for (j = 0; names->kind == QMF_LIST && j < qmf_list_len(names); j++)
            if (qmf_list_at(names, j)->kind == QMF_STRING)
                qmf_list_append(words, qmf_dup(qmf_list_at(names, j)));
    }
    print_sorted_once(words);
    qmf_free(words);
    qmf_free(doc);
    free(path);
}

static int
completion_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    if (a->argc == 2 && strcmp(a->argv[0], "names") == 0) {
        print_names(ctx, a->argv[1]);
        return CTL_EXIT_OK;
    }
    if (a->argc != 1)
        return ctl_usage(e, "one of bash, zsh, nodes or names CLASS");
    if (strcmp(a->argv[0], "bash") == 0) {
        print_bash(ctx->schema);
    } else if (strcmp(a->argv[0], "zsh") == 0) {
        /* zsh runs bash's completion functions through bashcompinit. */
        printf("autoload -U +X bashcompinit && bashcompinit\n");
        print_bash(ctx->schema);
    } else if (strcmp(a->argv[0], "nodes") == 0) {
        print_nodes(ctx);
    } else {
        return ctl_usage(e, "'%s' is none of bash, zsh, nodes or names CLASS", a->argv[0]);
    }
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmds_completion[] = {
    { .name = "completion", .usage = "bash | zsh | nodes | names CLASS",
      .summary = "a shell completion script, or the node or object names it completes",
      .exec = completion_exec },
    { 0 },
};
