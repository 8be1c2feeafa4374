/*
 * Private to the libvirt backend: runs a function on the event loop that
 * drv_event_loop_install() hooked libvirt into.
 */
#ifndef DRV_LIBVIRT_EVENTLOOP_H
#define DRV_LIBVIRT_EVENTLOOP_H

#include <event2/event.h>

/*
 * Schedules fn(-1, EV_TIMEOUT, arg) once on the installed loop, as soon as
 * it can; callable from any thread.  Returns -1 (and fn never runs) if no
 * loop is installed or libevent could not schedule it.
 */
int drv_event_loop_once(event_callback_fn fn, void *arg);

#endif
