/*
 * Authorization: who may do what on which node.  A request's action is
 * "Class.method" for a method, "Class.query" for reading a class's
 * objects, "locate" and "schema" for the rest.  The decision, in order:
 *
 *  1. the caller's credential constraints (nodes, classes, methods), if
 *     any, must all admit the action: they can only narrow;
 *  2. the policy file's rules, the first that matches wins;
 *  3. the built-in role rules: a method needs the role the schema gives it
 *     (admin includes operator, operator includes reader); queries, locate
 *     and schema need reader;
 *  4. otherwise deny.
 *
 * Policy file, one rule per line ('#' starts a comment):
 *     allow|deny  WHO  ACTION  NODES
 * WHO is a caller name, "role:<role>" or "*"; ACTION a glob (fnmatch(3))
 * over actions, e.g. "Domain.*" or "*.query"; NODES a node selector.
 *
 * Node selector: "*", or comma-separated terms that must all hold, each
 * "key=glob" or "key!=glob", where key is a label of the node, or "node"
 * for its name.  A label the node lacks fails "=" and passes "!=".
 *     tier=web,env!=prod      node=hv1*
 *
 * Costs: O(rules × terms) per decision, no allocation; files and selectors
 * are parsed once (at start and on SIGHUP).
 */
#ifndef TRUST_POLICY_H
#define TRUST_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/value.h"

#define TRUST_SELECTOR_MAX 256

/* 0 if text is a well-formed node selector; else err says why. */
int trust_selector_check(const char *text, qmf_error *err);
/* Whether a node (its name, and labels: a map of strings) is selected.
 * A malformed selector selects nothing. */
bool trust_selector_match(const char *text, const char *node, const qmf_value *labels);

struct trust_policy;

/* Reads a policy file; errors name the file, line and what is wrong.
 * path NULL: no rules (the built-in role rules alone). */
int trust_policy_load(const char *path, struct trust_policy **out, qmf_error *err);
int trust_policy_parse(const char *text, size_t len, const char *name,
                       struct trust_policy **out, qmf_error *err);
void trust_policy_free(struct trust_policy *p);
size_t trust_policy_rules(const struct trust_policy *p);

/* Who asks, for what, where. */
struct trust_ask {
    const char *caller;             /* verified name */
    unsigned roles;                 /* enum trust_role bits, as the credential gives */
    const char *const *classes;     /* credential constraints, or NULL */
    const char *const *methods;
    const char *nodes;
    const char *action;             /* "Domain.undefine", "Domain.query", ... */
    const char *class_name;         /* of the action, or NULL (locate, schema) */
    unsigned needs;                 /* the role bit the action needs by default */
    const char *node;               /* this node */
    const qmf_value *labels;        /* its labels */
};

/*
 * true if allowed.  why (if non-NULL, why_len bytes) gets one line saying
 * what decided it, for the _exception text and the audit log, e.g.
 * "Domain.undefine needs role admin; alice has operator" or
 * "denied by /etc/virtbus/policy:4 (deny role:operator Domain.* tier=db)".
 */
bool trust_policy_decide(const struct trust_policy *p, const struct trust_ask *ask,
                         char *why, size_t why_len);

#endif
