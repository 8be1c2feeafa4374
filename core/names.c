/* The protocol's names: builders and parsers (docs/PROTOCOL.md §1.1, §2). */
#include "core/names.h"

#include <stdlib.h>
#include <string.h>

#include "core/value.h"

#define WILDCARD "*"
#define INDICATION_PACKAGE "org_libvirt"

char *
qmf_name_key_escape(const char *name)
{
    char *s, *p;

    if (name == NULL)
        return NULL;
    s = qmf_xstrdup(name);
    for (p = s; *p != '\0'; p++) {
        if (*p == '.' || *p == '#' || *p == '*')
            *p = '_';
    }
    return s;
}

bool
qmf_name_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

bool
qmf_name_node_ok(const char *s)
{
    size_t n;

    if (s == NULL || *s == '\0')
        return false;
    for (n = 0; s[n] != '\0'; n++) {
        if (n >= QMF_NAME_MAX || !qmf_name_char_ok(s[n]))
            return false;
    }
    return true;
}

char *
qmf_name_agent(const char *node)
{
    return qmf_xasprintf(QMF_NAME_AGENT_PREFIX "%s", node);
}

char *
qmf_name_agent_key(const char *node)
{
    char *escaped = node ? qmf_name_key_escape(node) : qmf_xstrdup(WILDCARD);
    char *key = qmf_xasprintf(QMF_NAME_AGENT_KEY_PREFIX "%s", escaped);

    free(escaped);
    return key;
}

char *
qmf_name_command_queue(const char *node)
{
    return qmf_xasprintf("virtbus.agent.%s", node);
}

char *
qmf_name_lock_queue(const char *node)
{
    return qmf_xasprintf("virtbus.lock.%s", node);
}

char *
qmf_name_job_queue(const char *job_id)
{
    return qmf_xasprintf(QMF_NAME_JOB_PREFIX "%s", job_id);
}

char *
qmf_name_broadcast_key(const char *kind)
{
    return qmf_xasprintf(QMF_NAME_BROADCAST_PREFIX "%s", kind);
}

char *
qmf_name_qpid_locate_key(const char *agent_name)
{
    return qmf_xasprintf(QMF_NAME_QPID_LOCATE_KEY ".%s", agent_name);
}

char *
qmf_name_heartbeat_key(const char *node)
{
    char *agent_key = qmf_name_agent_key(node);
    char *key = qmf_xasprintf("agent.ind.heartbeat.%s", agent_key);

    free(agent_key);
    return key;
}

char *
qmf_name_data_key(const char *class_name, const char *node)
{
    char *agent_key = qmf_name_agent_key(node);
    char *key = qmf_xasprintf("agent.ind.data." INDICATION_PACKAGE ".%s.%s",
                              class_name ? class_name : WILDCARD, agent_key);

    free(agent_key);
    return key;
}

char *
qmf_name_event_key(const char *event, const char *severity, const char *node)
{
    char *agent_key = qmf_name_agent_key(node);
    char *key = qmf_xasprintf("agent.ind.event." INDICATION_PACKAGE ".%s.%s.%s",
                              event ? event : WILDCARD, severity ? severity : WILDCARD,
                              agent_key);

    free(agent_key);
    return key;
}

int
qmf_name_agent_node(const char *name, const char **node)
{
    size_t prefix = strlen(QMF_NAME_AGENT_PREFIX);

    *node = NULL;
    if (name == NULL || strnlen(name, QMF_NAME_MAX + 1) > QMF_NAME_MAX ||
        strncmp(name, QMF_NAME_AGENT_PREFIX, prefix) != 0 || !qmf_name_node_ok(name + prefix))
        return -1;
    *node = name + prefix;
    return 0;
}

const char *
qmf_name_agent_label(const char *name)
{
    const char *node, *colon;

    if (name == NULL)
        return NULL;
    if (qmf_name_agent_node(name, &node) == 0)
        return node;
    colon = strrchr(name, ':');
    return colon ? colon + 1 : name;
}

bool
qmf_name_key_is_agents(const char *key, const char *agent_name)
{
    const char *node;
    char *suffix;
    size_t klen, slen;
    bool ok;

    if (key == NULL || qmf_name_agent_node(agent_name, &node) != 0)
        return false;
    suffix = qmf_name_agent_key(node);
    klen = strlen(key);
    slen = strlen(suffix);
    ok = klen > slen && key[klen - slen - 1] == '.' && strcmp(key + klen - slen, suffix) == 0;
    free(suffix);
    return ok;
}

char *
qmf_name_exchange_address(const char *exchange, const char *key)
{
    return qmf_xasprintf(QMF_NAME_EXCHANGE_ADDRESS_PREFIX "%s/%s", exchange, key ? key : "");
}

char *
qmf_name_queue_address(const char *queue)
{
    return qmf_xasprintf(QMF_NAME_QUEUE_ADDRESS_PREFIX "%s", queue);
}

int
qmf_name_address_parse(const char *address, char **exchange, char **key)
{
    static const char exchange_prefix[] = QMF_NAME_EXCHANGE_ADDRESS_PREFIX;
    static const char queue_prefix[] = QMF_NAME_QUEUE_ADDRESS_PREFIX;
    const char *sep;
    size_t len;

    *exchange = NULL;
    *key = NULL;
    if (address == NULL || address[0] == '\0')
        return -1;
    if (strncmp(address, exchange_prefix, sizeof(exchange_prefix) - 1) == 0) {
        const char *x = address + sizeof(exchange_prefix) - 1;
        const char *slash = strchr(x, '/');
        size_t xlen = slash ? (size_t)(slash - x) : strlen(x);

        /* The default exchange has no /exchange/ form: it is /queue/Q. */
        if (xlen == 0)
            return -1;
        *exchange = qmf_xstrndup(x, xlen);
        *key = qmf_xstrdup(slash ? slash + 1 : "");
        return 0;
    }
    if (strncmp(address, queue_prefix, sizeof(queue_prefix) - 1) == 0) {
        const char *q = address + sizeof(queue_prefix) - 1;

        if (q[0] == '\0')
            return -1;
        *exchange = qmf_xstrdup("");
        *key = qmf_xstrdup(q);
        return 0;
    }
    /* Any other absolute form (/topic/..., /amq/...) is not ours. */
    if (address[0] == '/')
        return -1;
    /* Qpid's "name/subject; {options}": the options say how a Qpid
     * client would create the node, nothing a publisher needs. */
    len = strcspn(address, ";");
    while (len > 0 && (address[len - 1] == ' ' || address[len - 1] == '\t'))
        len--;
    if (len == 0)
        return -1;
    sep = memchr(address, '/', len);
    if (sep == NULL) {
        *exchange = qmf_xstrdup(QMF_NAME_EXCHANGE_DIRECT);
        *key = qmf_xstrndup(address, len);
        return 0;
    }
    if (sep == address)
        return -1;
    *exchange = qmf_xstrndup(address, (size_t)(sep - address));
    *key = qmf_xstrndup(sep + 1, len - (size_t)(sep - address) - 1);
    return 0;
}
