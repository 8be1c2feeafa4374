#!/usr/bin/python3
# A monitoring consumer in ten lines: every domain lifecycle event of the
# fleet, over AMQP 1.0.  Usage: watch.py amqp://guest:guest@host:5672 [COUNT]
import json, sys
from proton.handlers import MessagingHandler
from proton.reactor import Container

class Watch(MessagingHandler):
    def __init__(self, url, count):
        super().__init__()
        self.url, self.count = url, count
    def on_start(self, event):
        event.container.create_receiver(event.container.connect(self.url),
            "/exchange/qmf.default.topic/agent.ind.event.org_libvirt.domainLifecycle.#")
    def on_link_opened(self, event):
        print("ready", flush=True)
    def on_message(self, event):
        node = event.message.subject.split(".virtbus.agent.", 1)[1]   # the routing key
        for ev in json.loads(bytes(event.message.body)):
            v = ev["_values"]
            print(node, v["domain"], v["event"], v["detail"], flush=True)
        self.count -= 1
        if self.count == 0:
            event.connection.close()

Container(Watch(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else -1)).run()
