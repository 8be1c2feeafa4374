# Trust material for shell tests and the demo, sourced (docs/SECURITY.md):
# an issuer, a caller the CLI signs as, and a key and credential per agent,
# all made with the virtbus binary itself (`virtbus key new|issue`), as an
# operator would.  Every test fleet signs: the tests run the way a fleet
# is deployed.
#
#   trust_init DIR [ROLES]     the issuer and the caller "tests" (ROLES,
#                              default admin): DIR/issuer.*, DIR/caller.*
#   trust_caller NAME ROLES    another caller: prints its key file's path
#   trust_cli_conf             the CLI configuration lines: key_file and
#                              the issuer its answers are checked against
#   trust_agent_conf NODE      makes NODE's key and credential; prints its
#                              configuration lines
#
# Needs $virtbus (the CLI binary).

trust_init() {
    trust_dir=$1
    local roles=${2:-admin}
    mkdir -p "$trust_dir/agents"
    "$virtbus" -q key new --out "$trust_dir/issuer" >/dev/null
    trust_key=$(trust_caller tests "$roles")
}

trust_caller() {
    local name=$1 roles=$2
    "$virtbus" -q key new --out "$trust_dir/$name" >/dev/null
    "$virtbus" -q key issue --issuer "$trust_dir/issuer.key" --name "$name" \
        --key "$trust_dir/$name.pub" --roles "$roles" --days 2 -o "$trust_dir/$name.cred"
    echo "$trust_dir/$name.key"
}

trust_cli_conf() {
    printf 'key_file = "%s"\nagent_issuer_keys = [ "%s" ]\n' \
        "$trust_key" "$trust_dir/issuer.pub"
}

trust_agent_conf() {
    local node=$1 base=$trust_dir/agents/$1
    if [ ! -f "$base.key" ]; then
        "$virtbus" -q key new --out "$base" >/dev/null
        "$virtbus" -q key issue --issuer "$trust_dir/issuer.key" --name "$node" \
            --key "$base.pub" --roles agent --days 2 -o "$base.cred"
    fi
    printf 'issuer_keys = [ "%s" ]\nkey = "%s"\ncredential = "%s"\n' \
        "$trust_dir/issuer.pub" "$base.key" "$base.cred"
}
