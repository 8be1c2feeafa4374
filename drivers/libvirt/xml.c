/*
 * XML for the libvirt backend, always through libxml2: facts that exist
 * only in libvirt's XML descriptions (a pool's type and path, a network's
 * forward mode, a volume's format) read with XPath, and the volume XML
 * that createVolume and clone hand to libvirt, built as a tree so that
 * names are escaped whatever they contain.
 */
#include "drivers/libvirt/libvirt_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

static xmlDocPtr
drv_lv_xml_parse(const char *xml)
{
    return xmlReadMemory(xml, (int)strlen(xml), "libvirt.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The document as text (malloc'd), then frees it. */
static int
drv_lv_xml_finish(xmlDocPtr doc, char **out, qmf_error *err)
{
    xmlChar *buf = NULL;
    int len = 0;

    xmlDocDumpMemory(doc, &buf, &len);
    xmlFreeDoc(doc);
    if (buf == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "cannot write the volume XML");
        return -1;
    }
    *out = qmf_xstrdup((const char *)buf);
    xmlFree(buf);
    return 0;
}

int
drv_lv_xpath_strings(const char *xml, const char *const *exprs, char **out,
                     size_t n, qmf_error *err)
{
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr obj;
    size_t i;

    doc = drv_lv_xml_parse(xml);
    if (doc == NULL || (ctx = xmlXPathNewContext(doc)) == NULL) {
        xmlFreeDoc(doc);
        qmf_error_set(err, QMF_ERR_INTERNAL, "cannot parse the XML libvirt returned");
        return -1;
    }
    for (i = 0; i < n; i++) {
        obj = xmlXPathEvalExpression((const xmlChar *)exprs[i], ctx);
        out[i] = qmf_xstrdup(obj != NULL && obj->type == XPATH_STRING &&
                             obj->stringval != NULL ?
                             (const char *)obj->stringval : "");
        xmlXPathFreeObject(obj);
    }
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return 0;
}

void
drv_lv_free_strings(char **s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(s[i]);
}

/*
 * <volume>
 *   <name>NAME</name>
 *   <capacity unit='bytes'>CAPACITY</capacity>
 *   <target><format type='FORMAT'/></target>
 * </volume>
 */
int
drv_lv_volume_xml(const char *name, uint64_t capacity, const char *format,
                  char **xml, qmf_error *err)
{
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root, node;
    char size[32];

    *xml = NULL;
    root = xmlNewNode(NULL, (const xmlChar *)"volume");
    xmlDocSetRootElement(doc, root);
    /* Text children are escaped on output: xmlNewChild would take markup. */
    xmlNewTextChild(root, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    snprintf(size, sizeof(size), "%" PRIu64, capacity);
    node = xmlNewTextChild(root, NULL, (const xmlChar *)"capacity", (const xmlChar *)size);
    xmlNewProp(node, (const xmlChar *)"unit", (const xmlChar *)"bytes");
    node = xmlNewChild(root, NULL, (const xmlChar *)"target", NULL);
    node = xmlNewChild(node, NULL, (const xmlChar *)"format", NULL);
    xmlNewProp(node, (const xmlChar *)"type",
               (const xmlChar *)(format != NULL && *format != '\0' ? format : "raw"));
    return drv_lv_xml_finish(doc, xml, err);
}

/* Removes every child element of parent called name. */
static void
drv_lv_xml_drop_children(xmlNodePtr parent, const char *name)
{
    xmlNodePtr node = parent->children, next;

    for (; node != NULL; node = next) {
        next = node->next;
        if (node->type == XML_ELEMENT_NODE &&
            xmlStrcmp(node->name, (const xmlChar *)name) == 0) {
            xmlUnlinkNode(node);
            xmlFreeNode(node);
        }
    }
}

int
drv_lv_volume_xml_renamed(const char *xml, const char *name, char **out,
                          qmf_error *err)
{
    xmlDocPtr doc = drv_lv_xml_parse(xml);
    xmlNodePtr root, node;

    *out = NULL;
    if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
        xmlFreeDoc(doc);
        qmf_error_set(err, QMF_ERR_INTERNAL, "cannot parse the volume XML libvirt returned");
        return -1;
    }
    /*
     * The source's key and target path go too: libvirt derives the copy's
     * from its name and pool (and the test driver of libvirt 9.0 leaks a
     * path given in the XML).
     */
    drv_lv_xml_drop_children(root, "name");
    drv_lv_xml_drop_children(root, "key");
    for (node = root->children; node != NULL; node = node->next)
        if (node->type == XML_ELEMENT_NODE &&
            xmlStrcmp(node->name, (const xmlChar *)"target") == 0)
            drv_lv_xml_drop_children(node, "path");
    xmlNewTextChild(root, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    return drv_lv_xml_finish(doc, out, err);
}
