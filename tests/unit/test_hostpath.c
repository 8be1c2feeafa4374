/*
 * Tests of host path checks (agent/hostpath.c): path resolution on a real
 * temporary tree (allowed/, outside/, symbolic links between them), the
 * paths read out of domain, device, pool and volume XML, and the one
 * refusal text.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "agent/hostpath.h"
#include "schema/schema.h"

/* A string value made of s, which is freed. */
static qmf_value *
string_of(char *s)
{
    qmf_value *v = qmf_string(s);

    free(s);
    return v;
}

/* ---- a tree ---- */

struct tree {
    char root[64];
    char *real_root;          /* /tmp may itself be a link */
};

static char *
at(const struct tree *t, const char *rel)
{
    return qmf_xasprintf("%s/%s", t->root, rel);
}

static char *
real_at(const struct tree *t, const char *rel)
{
    return qmf_xasprintf("%s/%s", t->real_root, rel);
}

static void
make_dir(const struct tree *t, const char *rel)
{
    char *p = at(t, rel);

    cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %s", p, strerror(errno));
    free(p);
}

static void
make_file(const struct tree *t, const char *rel)
{
    char *p = at(t, rel);
    FILE *f = fopen(p, "w");

    cr_assert_not_null(f, "%s", p);
    fputs("secret\n", f);
    fclose(f);
    free(p);
}

static void
make_link(const struct tree *t, const char *rel, const char *target)
{
    char *p = at(t, rel);

    cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
    free(p);
}

/*
 *   allowed/            allowed/sub/          allowed2/
 *   allowed/link     -> ../outside            (a directory elsewhere)
 *   allowed/filelink -> ../outside/secret     (a file elsewhere)
 *   allowed/dangling -> ../outside/new        (would be created elsewhere)
 *   allowed/plain       a file
 *   outside/secret
 */
static void
tree_make(struct tree *t)
{
    snprintf(t->root, sizeof(t->root), "/tmp/virtbus-hostpath-XXXXXX");
    cr_assert_not_null(mkdtemp(t->root));
    t->real_root = realpath(t->root, NULL);
    cr_assert_not_null(t->real_root);
    make_dir(t, "allowed");
    make_dir(t, "allowed/sub");
    make_dir(t, "allowed2");
    make_dir(t, "outside");
    make_file(t, "outside/secret");
    make_file(t, "allowed/plain");
    make_link(t, "allowed/link", "../outside");
    make_link(t, "allowed/filelink", "../outside/secret");
    make_link(t, "allowed/dangling", "../outside/new");
}

static void
tree_remove(struct tree *t)
{
    static const char *const entries[] = {
        "allowed/link", "allowed/filelink", "allowed/dangling", "allowed/plain",
        "outside/secret", "outside/new", "allowed/sub", "allowed", "allowed2", "outside",
    };
    size_t i;

    for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        char *p = at(t, entries[i]);

        if (unlink(p) != 0)
            rmdir(p);
        free(p);
    }
    rmdir(t->root);
    free(t->real_root);
}

static struct hostpath_set *
set_of(const struct tree *t, const char *rel)
{
    qmf_value *dirs = qmf_list();
    struct hostpath_set *set;

    qmf_list_append(dirs, string_of(at(t, rel)));
    set = hostpath_set_new(dirs, 65536);
    qmf_free(dirs);
    return set;
}

/* hostpath_resolve of root/rel, compared with real_root/want (NULL: none). */
static void
expect_resolves(const struct tree *t, const char *rel, const char *want)
{
    char *p = at(t, rel), *got = hostpath_resolve(p, strlen(p)), *w = NULL;

    if (want == NULL) {
        cr_expect_null(got, "%s resolved to %s", rel, got);
    } else {
        w = real_at(t, want);
        cr_expect(got != NULL && strcmp(got, w) == 0, "%s: got %s, wanted %s", rel,
                  got ? got : "(none)", w);
    }
    free(got);
    free(w);
    free(p);
}

Test(hostpath, resolution_follows_links_and_dotdot)
{
    struct tree t;
    char *got, big[PATH_MAX + 16];

    tree_make(&t);
    expect_resolves(&t, "allowed/plain", "allowed/plain");
    expect_resolves(&t, "allowed/sub/", "allowed/sub");
    expect_resolves(&t, "allowed/./sub//", "allowed/sub");
    /* Not there yet: resolved through its directory. */
    expect_resolves(&t, "allowed/new.save", "allowed/new.save");
    expect_resolves(&t, "allowed/a/b/c.save", "allowed/a/b/c.save");
    expect_resolves(&t, "allowed/../outside/x", "outside/x");
    expect_resolves(&t, "allowed/sub/../../outside/secret", "outside/secret");
    /* Links anywhere, the last component's included. */
    expect_resolves(&t, "allowed/link/x", "outside/x");
    expect_resolves(&t, "allowed/link/secret", "outside/secret");
    expect_resolves(&t, "allowed/filelink", "outside/secret");
    /* Unresolvable: a dangling link (writing would follow it), `..` past
     * a missing directory, a file used as a directory. */
    expect_resolves(&t, "allowed/dangling", NULL);
    expect_resolves(&t, "allowed/dangling/", NULL);
    expect_resolves(&t, "allowed/missing/../x", NULL);
    expect_resolves(&t, "allowed/missing/..", NULL);
    expect_resolves(&t, "allowed/plain/x", NULL);

    got = hostpath_resolve("/", 1);
    cr_expect_str_eq(got, "/");
    free(got);
    cr_expect_null(hostpath_resolve("allowed/x", 9), "a relative path resolved");
    cr_expect_null(hostpath_resolve("", 0));
    cr_expect_null(hostpath_resolve("/tmp\0/x", 7), "a path with a NUL resolved");
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    cr_expect_null(hostpath_resolve(big, strlen(big)));
    tree_remove(&t);
}

static bool
allowed(const struct hostpath_set *set, const struct tree *t, const char *rel)
{
    char *p = at(t, rel);
    bool ok = hostpath_allowed(set, p, strlen(p));

    free(p);
    return ok;
}

Test(hostpath, allowed_only_under_the_resolved_directories)
{
    struct tree t;
    struct hostpath_set *set, *all, *none;
    qmf_value *dirs;
    char *p;

    tree_make(&t);
    set = set_of(&t, "allowed");
    cr_expect(allowed(set, &t, "allowed"));
    cr_expect(allowed(set, &t, "allowed/plain"));
    cr_expect(allowed(set, &t, "allowed/new.save"));
    cr_expect(allowed(set, &t, "allowed/sub/../x.save"));
    cr_expect(allowed(set, &t, "allowed/sub/deeper/x.save"));
    cr_expect_not(allowed(set, &t, "allowed2/x"), "a sibling sharing the prefix is allowed");
    cr_expect_not(allowed(set, &t, "allowed/../outside/x"));
    cr_expect_not(allowed(set, &t, "allowed/link/x"));
    cr_expect_not(allowed(set, &t, "allowed/link/secret"));
    cr_expect_not(allowed(set, &t, "allowed/filelink"));
    cr_expect_not(allowed(set, &t, "allowed/dangling"));
    cr_expect_not(allowed(set, &t, "outside/secret"));
    cr_expect_not(hostpath_allowed(set, "allowed/plain", 13), "a relative path is allowed");
    cr_expect_not(hostpath_allowed(set, "/etc/passwd", 11));
    cr_expect_not(hostpath_allowed(NULL, "/etc/passwd", 11));
    /* The directory is named through a link: it is what it resolves to. */
    hostpath_set_unref(set);
    set = set_of(&t, "allowed/link");
    p = real_at(&t, "outside");
    cr_expect_str_eq(hostpath_set_dir(set, 0), p);
    free(p);
    cr_expect(allowed(set, &t, "outside/secret"));
    cr_expect_not(allowed(set, &t, "allowed/plain"));
    hostpath_set_unref(set);

    /* "/" allows everything; nothing configured allows nothing; an entry
     * that does not resolve allows nothing either. */
    dirs = qmf_list();
    qmf_list_append(dirs, qmf_string("/"));
    all = hostpath_set_new(dirs, 1024);
    cr_expect(hostpath_allowed(all, "/etc/passwd", 11));
    qmf_free(dirs);
    dirs = qmf_list();
    none = hostpath_set_new(dirs, 1024);
    cr_expect_not(allowed(none, &t, "allowed/plain"));
    cr_expect_null(hostpath_set_dir(none, 0));
    qmf_free(dirs);
    hostpath_set_unref(none);
    set = set_of(&t, "allowed/dangling/x");
    cr_expect_null(hostpath_set_dir(set, 0));
    cr_expect_not(allowed(set, &t, "outside/new/x"));
    /* A reference outlives the maker's. */
    none = hostpath_set_ref(all);
    hostpath_set_unref(all);
    cr_expect(hostpath_allowed(none, "/x", 2));
    hostpath_set_unref(none);
    hostpath_set_unref(set);
    tree_remove(&t);
}

Test(hostpath, shared_directories_are_told_apart)
{
    struct tree t;
    char *p;

    tree_make(&t);
    p = at(&t, "allowed");
    /* Ours, mode 0700: shared unless the tests run as root. */
    cr_expect_eq(hostpath_dir_shared(p), geteuid() != 0);
    cr_expect(chmod(p, 0777) == 0);
    cr_expect(hostpath_dir_shared(p));
    free(p);
    cr_expect(hostpath_dir_shared("/tmp"));
    cr_expect_not(hostpath_dir_shared("/nonexistent/virtbus"));
    tree_remove(&t);
}

/* ---- XML ---- */

/* Collects "where=value" lines. */
static int
collect(const char *value, const char *where, void *opaque)
{
    char **out = opaque, *more = qmf_xasprintf("%s%s=%s\n", *out, where, value);

    free(*out);
    *out = more;
    return 0;
}

static char *
paths_of(enum schema_path kind, const char *xml)
{
    char *out = qmf_xstrdup("");
    qmf_error err = { 0, "" };

    cr_assert_eq(hostpath_xml_each(kind, xml, strlen(xml), 1 << 20, collect, &out, &err), 0,
                 "%s", err.text);
    return out;
}

static void
expect_paths(enum schema_path kind, const char *xml, const char *want)
{
    char *got = paths_of(kind, xml);

    cr_expect_str_eq(got, want, "got:\n%s\nwanted:\n%s", got, want);
    free(got);
}

Test(hostpath, domain_xml_paths)
{
    static const char xml[] =
        "<domain type='kvm' xmlns:app='http://example.com/app'>"
        "<name>vm</name>"
        "<metadata><app:disk file='/not/a/host/path'/>"
        "<disk><source file='/metadata/is/not/read'/></disk></metadata>"
        "<os><type>hvm</type><loader readonly='yes'>/usr/share/OVMF/CODE.fd</loader>"
        "<nvram template='/usr/share/OVMF/VARS.fd'>/var/lib/nvram/vm.fd</nvram>"
        "<kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd</initrd><dtb>/boot/x.dtb</dtb>"
        "<acpi><table type='slic'>/etc/slic.bin</table></acpi>"
        "<cmdline>console=ttyS0 root=/dev/vda</cmdline></os>"
        "<sysinfo type='fwcfg'><entry name='opt/x' file='/etc/fw.bin'/></sysinfo>"
        "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
        "<disk type='file' device='disk'><source file='/images/a.qcow2'/>"
        "<backingStore type='block'><format type='raw'/><source dev='/dev/sdz'/>"
        "<backingStore/></backingStore>"
        "<mirror type='file' file='/images/mirror.img'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<disk type='block'><source dev='/dev/vg/lv'/><target dev='vdb'/></disk>"
        "<disk type='dir'><source dir='/srv/floppy'/><target dev='fda'/></disk>"
        "<disk type='file' device='cdrom'><source file=''/><target dev='hdc'/></disk>"
        "<disk type='network'><source protocol='nbd' name='/export/x'>"
        "<host transport='unix' socket='/run/nbd.sock'/></source><target dev='vdc'/></disk>"
        "<filesystem type='mount'><source dir='/srv/share'/><target dir='share_tag'/></filesystem>"
        "<filesystem type='file'><source file='/srv/fs.img'/><target dir='/'/></filesystem>"
        "<interface type='direct'><source dev='eth0' mode='bridge'/></interface>"
        "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/></interface>"
        "<interface type='vhostuser'><source type='unix' path='/run/vhost.sock' mode='server'/></interface>"
        "<interface type='ethernet'><script path='/etc/qemu-ifup'/>"
        "<backend tap='/dev/net/tun' vhost='/dev/vhost-net'/><target dev='tap0'/></interface>"
        "<serial type='pty'><source path='/dev/pts/3'/><log file='/var/log/vm.log'/></serial>"
        "<serial type='file'><source path='/var/log/serial.txt'/></serial>"
        "<console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/></console>"
        "<channel type='unix'><source mode='bind' path='/run/agent.sock'/>"
        "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
        "<graphics type='vnc' socket='/run/vnc.sock'><listen type='socket' socket='/run/vnc2.sock'/></graphics>"
        "<graphics type='spice'><gl enable='yes' rendernode='/dev/dri/renderD128'/></graphics>"
        "<input type='passthrough'><source evdev='/dev/input/event1'/></input>"
        "<hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source></hostdev>"
        "<smartcard mode='host-certificates'><database>/etc/pki/nssdb</database></smartcard>"
        "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
        "<rng model='virtio'><backend model='egd' type='unix'>\n  "
        "<source mode='connect' path='/run/egd.sock'/>\n</backend></rng>"
        "<tpm><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>"
        "<memory model='nvdimm'><source><path>/srv/nvdimm</path></source></memory>"
        "<shmem name='s'><server path='/run/shmem.sock'/></shmem>"
        "<audio id='1' type='file' path='/tmp/audio.wav'/>"
        "</devices></domain>";

    expect_paths(SCHEMA_PATH_DOMAIN_XML, xml,
                 "os/loader=/usr/share/OVMF/CODE.fd\n"
                 "os/nvram/@template=/usr/share/OVMF/VARS.fd\n"
                 "os/nvram=/var/lib/nvram/vm.fd\n"
                 "os/kernel=/boot/vmlinuz\n"
                 "os/initrd=/boot/initrd\n"
                 "os/dtb=/boot/x.dtb\n"
                 "acpi/table=/etc/slic.bin\n"
                 "sysinfo/entry/@file=/etc/fw.bin\n"
                 "disk/source/@file=/images/a.qcow2\n"
                 "backingStore/source/@dev=/dev/sdz\n"
                 "disk/mirror/@file=/images/mirror.img\n"
                 "disk/source/@dev=/dev/vg/lv\n"
                 "disk/source/@dir=/srv/floppy\n"
                 "source/host/@socket=/run/nbd.sock\n"
                 "filesystem/source/@dir=/srv/share\n"
                 "filesystem/source/@file=/srv/fs.img\n"
                 "interface/source/@dev=/dev/vhost-vdpa-0\n"
                 "interface/source/@path=/run/vhost.sock\n"
                 "interface/script/@path=/etc/qemu-ifup\n"
                 "interface/backend/@tap=/dev/net/tun\n"
                 "interface/backend/@vhost=/dev/vhost-net\n"
                 "serial/log/@file=/var/log/vm.log\n"
                 "serial/source/@path=/var/log/serial.txt\n"
                 "channel/source/@path=/run/agent.sock\n"
                 "devices/graphics/@socket=/run/vnc.sock\n"
                 "graphics/listen/@socket=/run/vnc2.sock\n"
                 "graphics/gl/@rendernode=/dev/dri/renderD128\n"
                 "input/source/@evdev=/dev/input/event1\n"
                 "source/block=/dev/sdf1\n"
                 "smartcard/database=/etc/pki/nssdb\n"
                 "rng/backend=/dev/urandom\n"
                 "backend/source/@path=/run/egd.sock\n"
                 "backend/device/@path=/dev/tpm0\n"
                 "source/path=/srv/nvdimm\n"
                 "shmem/server/@path=/run/shmem.sock\n"
                 "devices/audio/@path=/tmp/audio.wav\n");
}

Test(hostpath, device_pool_and_volume_xml_paths)
{
    /* A device alone, as attachDevice gets it. */
    expect_paths(SCHEMA_PATH_DEVICE_XML,
                 "<disk type='file'><source file='/etc/shadow'/><target dev='vdb'/></disk>",
                 "disk/source/@file=/etc/shadow\n");
    expect_paths(SCHEMA_PATH_DEVICE_XML,
                 "<interface type='network'><source network='default'/></interface>", "");

    expect_paths(SCHEMA_PATH_POOL_XML,
                 "<pool type='dir'><name>p</name><target><path>/srv/pool</path></target></pool>",
                 "target/path=/srv/pool\n");
    expect_paths(SCHEMA_PATH_POOL_XML,
                 "<pool type='fs'><name>p</name><source><device path='/dev/sdb1'/>"
                 "<dir path='/srv/src'/></source><target><path>/mnt/p</path></target></pool>",
                 "source/device/@path=/dev/sdb1\nsource/dir/@path=/srv/src\n"
                 "target/path=/mnt/p\n");
    /* Remote sources: the export and the IQN are not this host's paths. */
    expect_paths(SCHEMA_PATH_POOL_XML,
                 "<pool type='netfs'><name>p</name><source><host name='nfs1'/>"
                 "<dir path='/export/images'/></source>"
                 "<target><path>/mnt/nfs</path></target></pool>",
                 "target/path=/mnt/nfs\n");
    expect_paths(SCHEMA_PATH_POOL_XML,
                 "<pool type='iscsi'><name>p</name><source><host name='san'/>"
                 "<device path='iqn.2013-06.com.example:pool'/></source>"
                 "<target><path>/dev/disk/by-path</path></target></pool>",
                 "target/path=/dev/disk/by-path\n");
    /* findStoragePoolSources' srcSpec: a <source> alone. */
    expect_paths(SCHEMA_PATH_POOL_XML, "<source><device path='/dev/sdc'/></source>",
                 "source/device/@path=/dev/sdc\n");

    expect_paths(SCHEMA_PATH_VOLUME_XML,
                 "<volume><name>v</name><capacity>1</capacity>"
                 "<target><path>/etc/x</path></target>"
                 "<backingStore><path>/srv/base.qcow2</path></backingStore></volume>",
                 "target/path=/etc/x\nbackingStore/path=/srv/base.qcow2\n");
    expect_paths(SCHEMA_PATH_VOLUME_XML,
                 "<volume><name>v</name><capacity>1</capacity></volume>", "");

    /* What dnsmasq serves by TFTP; the boot file is a name under it. */
    expect_paths(SCHEMA_PATH_NETWORK_XML,
                 "<network><name>pxe</name><metadata><tftp root='/not/read'/></metadata>"
                 "<ip address='192.168.122.1' netmask='255.255.255.0'>"
                 "<tftp root='/srv/tftp'/><dhcp><range start='192.168.122.2' "
                 "end='192.168.122.254'/><bootp file='pxelinux.0'/></dhcp></ip></network>",
                 "ip/tftp/@root=/srv/tftp\n");
    expect_paths(SCHEMA_PATH_NETWORK_XML,
                 "<network><name>n</name><forward mode='nat'/><bridge name='virbr9'/>"
                 "</network>", "");
}

static int
stop_at_second(const char *value, const char *where, void *opaque)
{
    int *seen = opaque;

    (void)value;
    (void)where;
    return ++*seen == 2 ? 7 : 0;
}

static void
expect_xml_error(enum schema_path kind, const char *xml, size_t len, uint32_t code,
                 const char *text_part)
{
    char *out = qmf_xstrdup("");
    qmf_error err = { 0, "" };

    cr_expect_eq(hostpath_xml_each(kind, xml, len, 4096, collect, &out, &err), -1,
                 "accepted: %s", xml);
    cr_expect_eq(err.code, code, "%s: code %u, %s", xml, err.code, err.text);
    cr_expect(strstr(err.text, text_part) != NULL, "'%s' not in '%s'", text_part, err.text);
    cr_expect_str_eq(out, "", "values were handed out: %s", out);
    free(out);
}

Test(hostpath, xml_refusals)
{
    static const char entity[] =
        "<!DOCTYPE domain [<!ENTITY f \"/etc/shadow\">]>"
        "<domain><devices><disk><source file='&f;'/></disk></devices></domain>";
    static const char external[] =
        "<!DOCTYPE domain SYSTEM \"http://127.0.0.1:1/x.dtd\"><domain/>";
    static const char qemu[] =
        "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
        "<name>vm</name><qemu:commandline><qemu:arg value='-drive'/>"
        "<qemu:arg value='file=/etc/shadow'/></qemu:commandline></domain>";
    static const char nul[] = "<domain><name>a</name></domain>\0<x/>";
    static const char foreign[] = "<x:disk xmlns:x='urn:x'><source file='/a'/></x:disk>";
    static const char dnsmasq[] =
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
        "<name>n</name><dnsmasq:options><dnsmasq:option value='dhcp-script=/tmp/x'/>"
        "</dnsmasq:options></network>";
    static const char network_entity[] =
        "<!DOCTYPE network [<!ENTITY n \"big\">]><network><name>&n;</name></network>";
    static const char three[] =
        "<volume><target><path>/a</path></target><backingStore><path>/b</path>"
        "</backingStore><target><path>/c</path></target></volume>";
    char big[5000];
    int seen = 0;
    qmf_error err;

    expect_xml_error(SCHEMA_PATH_DOMAIN_XML, entity, strlen(entity), QMF_ERR_INVALID_ARGS,
                     "DOCTYPE");
    expect_xml_error(SCHEMA_PATH_POOL_XML, external, strlen(external), QMF_ERR_INVALID_ARGS,
                     "DOCTYPE");
    expect_xml_error(SCHEMA_PATH_DOMAIN_XML, "<domain><name>a</domain>", 24,
                     QMF_ERR_INVALID_ARGS, "not well-formed XML (line 1: ");
    expect_xml_error(SCHEMA_PATH_VOLUME_XML, "", 0, QMF_ERR_INVALID_ARGS, "not well-formed");
    expect_xml_error(SCHEMA_PATH_DOMAIN_XML, nul, sizeof(nul) - 1, QMF_ERR_INVALID_ARGS,
                     "NUL");
    expect_xml_error(SCHEMA_PATH_DOMAIN_XML, qemu, strlen(qemu), QMF_ERR_UNAUTHORIZED,
                     "<qemu:commandline> (namespace http://libvirt.org/schemas/domain/qemu/1.0)");
    expect_xml_error(SCHEMA_PATH_DEVICE_XML, foreign, strlen(foreign), QMF_ERR_UNAUTHORIZED,
                     "<x:disk>");
    /* Network XML, which libvirt once took as it came. */
    expect_xml_error(SCHEMA_PATH_NETWORK_XML, network_entity, strlen(network_entity),
                     QMF_ERR_INVALID_ARGS, "DOCTYPE");
    expect_xml_error(SCHEMA_PATH_NETWORK_XML, dnsmasq, strlen(dnsmasq), QMF_ERR_UNAUTHORIZED,
                     "<dnsmasq:options> (namespace http://libvirt.org/schemas/network/dnsmasq/1.0)");
    expect_xml_error(SCHEMA_PATH_NETWORK_XML, "<network><name>n</network>", 26,
                     QMF_ERR_INVALID_ARGS, "not well-formed");
    memset(big, ' ', sizeof(big));
    memcpy(big, "<domain>", 8);
    memcpy(big + sizeof(big) - 10, "</domain>", 10);
    expect_xml_error(SCHEMA_PATH_DOMAIN_XML, big, sizeof(big) - 1, QMF_ERR_TOO_LARGE,
                     "over the limit of 4096");
    cr_expect_eq(hostpath_xml_each(SCHEMA_PATH_FILE, "<a/>", 4, 100, collect, NULL, &err), -1);
    /* The XML that only names a device to detach: read with the same care,
     * its paths not handed out (libvirt only compares them). */
    expect_xml_error(SCHEMA_PATH_DEVICE_MATCH, entity, strlen(entity), QMF_ERR_INVALID_ARGS,
                     "DOCTYPE");
    expect_xml_error(SCHEMA_PATH_DEVICE_MATCH, foreign, strlen(foreign), QMF_ERR_UNAUTHORIZED,
                     "<x:disk>");
    expect_xml_error(SCHEMA_PATH_DEVICE_MATCH, "<disk><source file='/a'/>", 25,
                     QMF_ERR_INVALID_ARGS, "not well-formed");
    expect_paths(SCHEMA_PATH_DEVICE_MATCH,
                 "<disk type='file'><source file='/etc/shadow'/><target dev='vdb'/></disk>", "");

    /* Pool XML keeps its namespaced mount options; the callback can stop. */
    expect_paths(SCHEMA_PATH_POOL_XML,
                 "<pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'>"
                 "<name>p</name><target><path>/mnt/p</path></target>"
                 "<fs:mount_opts><fs:option name='sync'/></fs:mount_opts></pool>",
                 "target/path=/mnt/p\n");
    cr_expect_eq(hostpath_xml_each(SCHEMA_PATH_VOLUME_XML, three, strlen(three), 4096,
                                   stop_at_second, &seen, &err), 7);
    cr_expect_eq(seen, 2);
}

/* ---- arguments ---- */

static const struct schema_method *
method(const struct schema *s, const char *cls, const char *name)
{
    const struct schema_method *m = schema_find_method(schema_find_class(s, cls), name);

    cr_assert_not_null(m);
    return m;
}

/* The refusal of Domain.save to root/rel: its code and text. */
static void
save_refusal(const struct hostpath_set *set, const struct schema_method *save,
             const struct tree *t, const char *rel, qmf_error *err)
{
    qmf_value *args = qmf_map();

    qmf_map_set(args, "filename", string_of(at(t, rel)));
    cr_assert_eq(hostpath_check_args(set, save, args, err), -1, "%s was allowed", rel);
    qmf_free(args);
}

Test(hostpath, check_args_refuses_alike_whatever_the_path_is)
{
    static const char *const refused[] = {
        "outside/secret", "outside", "outside/missing", "missing/x", "allowed/link/secret",
        "allowed/filelink", "allowed/dangling", "allowed/../outside/secret",
    };
    qmf_error err = { 0, "" }, first;
    struct schema *s = schema_load_builtin(&err);
    const struct schema_method *save = method(s, "Domain", "save");
    struct hostpath_set *set;
    struct tree t;
    qmf_value *args;
    char *xml;
    size_t i;

    tree_make(&t);
    set = set_of(&t, "allowed");

    args = qmf_map();
    qmf_map_set(args, "filename", string_of(at(&t, "allowed/vm.save")));
    cr_expect_eq(hostpath_check_args(set, save, args, &err), 0, "%s", err.text);
    qmf_free(args);

    save_refusal(set, save, &t, refused[0], &first);
    cr_expect_eq(first.code, QMF_ERR_UNAUTHORIZED);
    cr_expect_str_eq(first.text,
                     "Domain.save: argument 'filename': the path is not under allowed_paths");
    for (i = 1; i < sizeof(refused) / sizeof(refused[0]); i++) {
        save_refusal(set, save, &t, refused[i], &err);
        cr_expect_eq(err.code, first.code);
        cr_expect_str_eq(err.text, first.text, "%s is told apart", refused[i]);
    }
    args = qmf_map();
    qmf_map_set(args, "filename", qmf_string("relative.save"));
    cr_expect_eq(hostpath_check_args(set, save, args, &err), -1);
    cr_expect_str_eq(err.text, first.text);
    qmf_free(args);

    /* XML: the place is named, never the path. */
    args = qmf_map();
    xml = qmf_xasprintf("<domain><devices><disk><source file='%s/allowed/a.img'/></disk>"
                        "<disk><source file='%s/outside/secret'/></disk></devices></domain>",
                        t.root, t.root);
    qmf_map_set(args, "xmlDesc", string_of(xml));
    cr_expect_eq(hostpath_check_args(set, method(s, "Node", "domainDefineXML"), args, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNAUTHORIZED);
    cr_expect_str_eq(err.text, "Node.domainDefineXML: argument 'xmlDesc': "
                     "disk/source/@file is not under allowed_paths");
    qmf_free(args);
    args = qmf_map();
    qmf_map_set(args, "xmlDesc", qmf_string("<pool><target><path>x</path></target>"));
    cr_expect_eq(hostpath_check_args(set, method(s, "Node", "storagePoolCreateXML"), args,
                                     &err), -1);
    cr_expect_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_expect(strncmp(err.text, "Node.storagePoolCreateXML: argument 'xmlDesc': not well-formed",
                      62) == 0, "%s", err.text);
    qmf_free(args);

    /* Absent optional arguments and unmarked ones are not looked at. */
    args = qmf_map();
    qmf_map_set(args, "type", qmf_string("/etc/shadow"));
    cr_expect_eq(hostpath_check_args(set, method(s, "Node", "findStoragePoolSources"), args,
                                     &err), 0, "%s", err.text);
    qmf_map_set(args, "srcSpec", qmf_string("<source><device path='/etc/shadow'/></source>"));
    cr_expect_eq(hostpath_check_args(set, method(s, "Node", "findStoragePoolSources"), args,
                                     &err), -1);
    qmf_free(args);
    hostpath_set_unref(set);
    schema_free(s);
    tree_remove(&t);
}
