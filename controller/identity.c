/*
 * The caller this console signs as: a private key and, beside it, the
 * credential an issuer signed for it (docs/SECURITY.md §2).  The key is
 * key_file in the configuration, else ~/.config/virtbus/caller.key; the
 * credential is the same path with ".cred" for ".key".
 */
#include "controller/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
ctl_identity_default(const char *base)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");

    if (xdg != NULL && xdg[0] == '/')
        return qmf_xasprintf("%s/virtbus/%s", xdg, base);
    if (home != NULL && home[0] != '\0')
        return qmf_xasprintf("%s/.config/virtbus/%s", home, base);
    return NULL;
}

/* "x.key" -> "x.cred"; anything else gets ".cred" appended. */
static char *
credential_path_for(const char *key_path)
{
    size_t n = strlen(key_path);

    if (n > 4 && strcmp(key_path + n - 4, ".key") == 0)
        return qmf_xasprintf("%.*s.cred", (int)(n - 4), key_path);
    return qmf_xasprintf("%s.cred", key_path);
}

int
ctl_identity_find(struct ctl_ctx *ctx, struct ctl_identity *id, bool required)
{
    qmf_error err;

    memset(id, 0, sizeof(*id));
    id->key_path = ctx->config.key_file != NULL ? qmf_xstrdup(ctx->config.key_file)
                                                : ctl_identity_default("caller.key");
    if (id->key_path == NULL || (ctx->config.key_file == NULL && access(id->key_path, F_OK) != 0)) {
        if (required)
            ctl_warnx("no key to sign with: run `virtbus key new`, or set key_file");
        ctl_identity_clear(id);
        return required ? -1 : 0;
    }
    if ((id->key = trust_key_load(id->key_path, &err)) == NULL) {
        ctl_warnx("%s", err.text);
        ctl_identity_clear(id);
        return -1;
    }
    if (!trust_key_is_private(id->key)) {
        ctl_warnx("%s: a public key cannot sign; key_file names the private key", id->key_path);
        ctl_identity_clear(id);
        return -1;
    }
    id->credential_path = credential_path_for(id->key_path);
    if (access(id->credential_path, F_OK) != 0)
        return 0;       /* a key that agents trust directly */
    if ((id->credential_text = trust_credential_read(id->credential_path, &err)) == NULL ||
        (id->credential = trust_credential_parse(id->credential_text,
                                                 strlen(id->credential_text), &err)) == NULL) {
        ctl_warnx("%s: %s", id->credential_path, err.text);
        ctl_identity_clear(id);
        return -1;
    }
    if (memcmp(id->credential->key, trust_key_raw(id->key), TRUST_KEY_LEN) != 0) {
        ctl_warnx("%s is for key %s, not for %s (%s)", id->credential_path,
                  id->credential->key_id, trust_key_id(id->key), id->key_path);
        ctl_identity_clear(id);
        return -1;
    }
    return 0;
}

int
ctl_identity_load(struct ctl_ctx *ctx, struct ctl_identity *id)
{
    qmf_error err;

    if (ctx->config.paths_read == NULL && ctl_config_load_default(&ctx->config, &err) != 0) {
        ctl_warnx("%s", err.text);
        return -1;
    }
    return ctl_identity_find(ctx, id, true);
}

void
ctl_identity_clear(struct ctl_identity *id)
{
    trust_key_free(id->key);
    trust_credential_free(id->credential);
    free(id->credential_text);
    free(id->key_path);
    free(id->credential_path);
    memset(id, 0, sizeof(*id));
}
