/*
 * Host paths: the files on the hypervisor host that method arguments name,
 * either directly (Domain.save's filename) or inside XML documents (a
 * domain's disks), are accepted only under the agent's allowed_paths,
 * after `..` and symbolic links are resolved (docs/SECURITY.md, "Host
 * paths").  The schema marks which arguments these are (schema_arg.path).
 *
 * A refusal is QMF_ERR_UNAUTHORIZED with one text whatever the path is
 * (missing, a directory, a file elsewhere, unresolvable): the agent runs
 * as root and must not tell a caller what exists outside allowed_paths.
 *
 * Everything that resolves paths touches the file system and may block
 * (realpath(3), lstat(2)): call it from worker threads.  The XML reading
 * (hostpath_xml_each) is pure.
 */
#ifndef AGENT_HOSTPATH_H
#define AGENT_HOSTPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/value.h"
#include "schema/schema.h"

/*
 * The allowed directories, resolved once when made, with the bound on XML
 * documents; immutable, so that commands running on workers keep the one
 * they started with while a reload makes another.  Reference counted.
 */
struct hostpath_set;

/*
 * Resolves each entry of dirs (a list of absolute paths, as the
 * configuration holds them) with hostpath_resolve; an entry that does not
 * resolve allows nothing.  max_xml bounds XML arguments (bytes).  Blocking.
 */
struct hostpath_set *hostpath_set_new(const qmf_value *dirs, size_t max_xml);
struct hostpath_set *hostpath_set_ref(struct hostpath_set *set);
void hostpath_set_unref(struct hostpath_set *set);
/* The resolved form of the i-th configured entry, NULL if it did not
 * resolve or i is past the end; valid while the set is. */
const char *hostpath_set_dir(const struct hostpath_set *set, size_t i);

/*
 * The canonical absolute form of path (malloc'd), or NULL if it has none
 * that can be trusted:
 *   - path must be absolute, at most PATH_MAX bytes, and contain no NUL
 *     (len is its length as received);
 *   - an existing path is realpath(3)'d: `.`, `..` and every symbolic
 *     link, the last component's included, are resolved;
 *   - a path that does not exist (a file to be written) is its longest
 *     existing prefix, realpath'd, followed by the missing components,
 *     none of which may be `.` or `..` nor exist as a dangling symbolic
 *     link (writing through it would land wherever it points);
 *   - any other failure (EACCES, ELOOP, ENOTDIR...) gives NULL.
 * Blocking.
 */
char *hostpath_resolve(const char *path, size_t len);

/* Whether path (len bytes as received) resolves to one of set's
 * directories or below.  Blocking. */
bool hostpath_allowed(const struct hostpath_set *set, const char *path, size_t len);

/*
 * Calls fn for every host path an XML document of the given kind carries
 * (kind is one of the *_XML values): value is the attribute's value or the
 * element's text as libvirt will read it, where names it
 * ("disk/source/@file", "os/kernel").  fn returns 0 to go on; anything
 * else stops the walk, and is returned.  Empty or blank values are not
 * paths and are skipped.  Which elements and attributes are paths, per
 * kind, is listed in hostpath.c and docs/SECURITY.md.
 *
 * The document is parsed without network access, without loading or
 * using a DTD (a DOCTYPE is refused, so no entity can hide a value) and
 * only if at most max_len bytes.  Errors, as -1 with err set:
 *   QMF_ERR_TOO_LARGE     over max_len;
 *   QMF_ERR_INVALID_ARGS  a NUL byte, not well-formed, or a DOCTYPE;
 *   QMF_ERR_UNAUTHORIZED  (domain, device and network XML) an element in
 *                         another namespace outside <metadata>, such as
 *                         <qemu:commandline> or <dnsmasq:options>: it
 *                         hands the hypervisor (or dnsmasq, as root)
 *                         arguments no one can check.
 */
typedef int hostpath_fn(const char *value, const char *where, void *opaque);
int hostpath_xml_each(enum schema_path kind, const char *xml, size_t len, size_t max_len,
                      hostpath_fn *fn, void *opaque, qmf_error *err);

/*
 * Checks every argument of m the schema marks as a host path (args as
 * schema_check_args left them): 0 if all are allowed, else -1 with err
 * set (QMF_ERR_UNAUTHORIZED by hostpath_refuse, or an XML error naming
 * the argument).  Blocking.
 */
int hostpath_check_args(const struct hostpath_set *set, const struct schema_method *m,
                        const qmf_value *args, qmf_error *err);

/*
 * The one refusal: "Domain.save: argument 'filename': the path is not
 * under allowed_paths", or, where non-NULL, naming the place in an XML
 * argument ("... argument 'xmlDesc': disk/source/@file is not under
 * allowed_paths").  Never the path, nor anything found about it.
 */
void hostpath_refuse(qmf_error *err, const struct schema_method *m, const char *arg,
                     const char *where);

/* Whether users other than root may create or replace entries in the
 * resolved directory (it is not root's, or group or others may write it):
 * they could put a symbolic link where a checked path was, between the
 * check and libvirt's open.  Blocking. */
bool hostpath_dir_shared(const char *resolved_dir);

#endif
