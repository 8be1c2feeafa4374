#!/usr/bin/python3
# A minimal QMFv2 agent that answers the way Qpid's C++ AgentSession does,
# with three in-memory domains like tests/fixtures/node1.xml: the console's
# self-test (selftest.sh) runs the console against it to show that every
# check can pass, so that a failure against virtbusd is virtbusd's.  It
# splits query answers every two objects, so that 'partial' is exercised.
import argparse
import time

import pika

from qmf2_wire import LINKS, LIST_TYPE, MAP_TYPE, QMF_APP_ID

PACKAGE = "org.libvirt"
SEV_INFO = 6
FLUSH_EVERY = 2


def schema_id(name, kind="_data"):
    return {"_package_name": PACKAGE, "_class_name": name, "_type": kind}


DOMAIN_ID = schema_id("Domain")
EVENT_ID = schema_id("domainLifecycle", "_event")
DOMAIN_SCHEMA = {
    "_schema_id": DOMAIN_ID,
    "_properties": [{"_name": "name", "_type": "TYPE_STRING", "_access": "RO"},
                    {"_name": "state", "_type": "TYPE_STRING", "_access": "RO"}],
    "_methods": [{"_name": "getXMLDesc",
                  "_arguments": [{"_name": "description", "_type": "TYPE_STRING", "_dir": "O"}]},
                 {"_name": "suspend", "_arguments": []},
                 {"_name": "resume", "_arguments": []}],
}
EVENT_SCHEMA = {"_schema_id": EVENT_ID, "_default_severity": SEV_INFO,
                "_properties": [{"_name": "domain", "_type": "TYPE_STRING"}], "_methods": []}


def matches(pred, values):
    """The subset of Qpid's predicate language the console uses."""
    if not pred:
        return True
    op, args = pred[0], pred[1:]
    if op == "and":
        return all(matches(p, values) for p in args)
    if op == "or":
        return any(matches(p, values) for p in args)
    if op == "not":
        return not any(matches(p, values) for p in args)
    operands = [a[1] if isinstance(a, list) else values.get(a) for a in args]
    if op == "eq":
        return None not in operands and str(operands[0]) == str(operands[1])
    if op == "exists":
        return operands[0] is not None
    return False


class Agent:
    def __init__(self, link, node, domain):
        self.link = link
        self.topic = "qmf.%s.topic" % domain
        self.name = "reference:agent:" + node
        self.epoch = 1
        self.domains = {n: "running" for n in ("web1", "web2")}
        self.domains["db-test"] = "shutoff"
        self.requests = [link.listen("qmf.%s.direct" % domain, self.name, "direct"),
                         link.listen(self.topic, "console.#", "topic")]

    def values(self):
        return {"_vendor": "reference", "_product": "agent", "_instance": self.name.split(":")[-1],
                "_name": self.name, "_epoch": self.epoch, "_heartbeat_interval": 1,
                "_timestamp": time.time_ns()}

    def send(self, address, opcode, body, content_type, cid=None, **extra):
        exchange, subject = address.split("/", 1)
        props = {"method": "response" if cid else "indication", "qmf.opcode": opcode,
                 "qmf.agent": self.name, "x-amqp-0-10.app-id": QMF_APP_ID}
        props.update(extra)
        self.link.send(exchange, subject, props, body, content_type, None, cid)

    def data(self, name):
        return {"_values": {"name": name, "state": self.domains[name]}, "_schema_id": DOMAIN_ID,
                "_object_id": {"_agent_name": self.name, "_object_name": "domain:" + name}}

    def answer_list(self, msg, items, content):
        chunks = [items[i:i + FLUSH_EVERY] for i in range(0, len(items), FLUSH_EVERY)] or [[]]
        for i, chunk in enumerate(chunks):
            extra = {"qmf.content": content}
            if i < len(chunks) - 1:
                extra["partial"] = None
            self.send(msg.reply_to, "_query_response", chunk, LIST_TYPE, msg.correlation_id,
                      **extra)

    def exception(self, msg, text):
        self.send(msg.reply_to, "_exception", {"_values": {"error_text": text}}, MAP_TYPE,
                  msg.correlation_id, **{"qmf.content": "_data"})

    def on_request(self, msg):
        op = msg.opcode()
        if op == "_agent_locate_request":
            if matches(msg.body or [], self.values()):
                self.send(msg.reply_to, "_agent_locate_response", {"_values": self.values()},
                          MAP_TYPE, msg.correlation_id)
        elif op == "_query_request":
            self.on_query(msg, msg.body)
        elif op == "_method_request":
            self.on_method(msg, msg.body)

    def on_query(self, msg, query):
        what = query.get("_what")
        if what == "SCHEMA_ID":
            self.answer_list(msg, [DOMAIN_ID, EVENT_ID], "_schema_id")
        elif what == "SCHEMA":
            name = query.get("_schema_id", {}).get("_class_name")
            found = [s for s in (DOMAIN_SCHEMA, EVENT_SCHEMA)
                     if s["_schema_id"]["_class_name"] == name]
            self.answer_list(msg, found, "_schema")
        elif what == "OBJECT" and query.get("_schema_id", {}).get("_class_name") == "Domain":
            items = [self.data(n) for n in sorted(self.domains)]
            items = [d for d in items if matches(query.get("_where"), d["_values"])]
            self.answer_list(msg, items, "_data")
        else:
            self.exception(msg, "Query is Invalid")

    def on_method(self, msg, call):
        oid = call.get("_object_id")
        name = (oid.get("_object_name") if isinstance(oid, dict) else str(oid))[len("domain:"):]
        method = call.get("_method_name")
        if name not in self.domains:
            return self.exception(msg, "No data object found with the specified address")
        if method == "getXMLDesc":
            out = {"description": "<domain><name>%s</name></domain>" % name}
        elif method in ("suspend", "resume"):
            self.domains[name] = "paused" if method == "suspend" else "running"
            out = {}
            event = {"_values": {"domain": name}, "_schema_id": EVENT_ID,
                     "_severity": SEV_INFO, "_timestamp": time.time_ns()}
            self.send("%s/agent.ind.event.%s.domainLifecycle" % (self.topic, PACKAGE),
                      "_data_indication", [event], LIST_TYPE, **{"qmf.content": "_event"})
        else:
            return self.exception(msg, "no method " + str(method))
        self.send(msg.reply_to, "_method_response", {"_arguments": out}, MAP_TYPE,
                  msg.correlation_id)

    def serve(self, seconds):
        end = time.monotonic() + seconds
        next_beat = 0
        while time.monotonic() < end:
            if time.monotonic() >= next_beat:
                self.send(self.topic + "/agent.ind.heartbeat.reference.agent",
                          "_agent_heartbeat_indication", {"_values": self.values()}, MAP_TYPE)
                next_beat = time.monotonic() + 1
            for inbox in self.requests:
                msg = inbox.take(lambda m: True, 0.1)
                if msg is not None and msg.reply_to:
                    self.on_request(msg)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--transport", choices=sorted(LINKS), required=True)
    ap.add_argument("--domain", default="selftest", help="the QMF domain (qmf.<domain>.topic)")
    ap.add_argument("--seconds", type=float, default=600, help="serve this long, then exit")
    args = ap.parse_args()
    # The agent side declares the domain's exchanges (the console never
    # does); over 0-9-1, since RabbitMQ's 1.0 plugin cannot.
    conn = pika.BlockingConnection(pika.URLParameters(args.url))
    conn.channel().exchange_declare("qmf.%s.topic" % args.domain, "topic", auto_delete=True)
    conn.channel().exchange_declare("qmf.%s.direct" % args.domain, "direct", auto_delete=True)
    agent = Agent(LINKS[args.transport](args.url), args.node, args.domain)
    conn.close()
    print("serving %s over %s" % (agent.name, args.transport), flush=True)
    agent.serve(args.seconds)


if __name__ == "__main__":
    main()
