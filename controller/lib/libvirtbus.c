/*
 * libvirtbus: this file only anchors the shared library; its code is the
 * client library (controller/lib) and the modules it stands on (bus,
 * schema), compiled in whole.
 */
#include "controller/lib/virtbus.h"

const char *
virtbus_version(void)
{
    return VIRTBUS_VERSION;
}
